"""Benchmark: the reference `rebalance_experts` against a plain per-layer Python loop.

At the DeepSeek-V3 shape (58 MoE layers x 256 experts -> 288 replicas, 8 groups, 4 nodes, 32 GPUs)
with realistic skewed loads (the `eplb-verify bench` shape and load model), it times every packing
method and replication path of the reference and, in the same run, a straightforward per-layer
Python implementation of the same greedy. It checks that the default reference output is identical
to the loop's and prints medians and ratios.

    python benchmarks/rebalance.py [--repeats 7] [--seed 0] [--device cpu|cuda] [--threads 1]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import torch

from reference import PACKING_METHODS, REPLICATION_METHODS, rebalance_experts
from verifier.shapes import DEEPSEEK_V3

SHAPE = DEEPSEEK_V3


def _greedy_pack(loads: list[float], num_packs: int) -> tuple[list[int], list[int]]:
    capacity = len(loads) // num_packs
    pack_load, pack_count = [0.0] * num_packs, [0] * num_packs
    pack_of, rank_of = [0] * len(loads), [0] * len(loads)
    for item in sorted(range(len(loads)), key=lambda i: (-loads[i], i)):
        open_packs = [p for p in range(num_packs) if pack_count[p] < capacity]
        chosen = min(open_packs, key=lambda p: (pack_load[p], p))
        pack_of[item], rank_of[item] = chosen, pack_count[chosen]
        pack_load[chosen] += loads[item]
        pack_count[chosen] += 1
    return pack_of, rank_of


def _replicate(loads: list[float], num_phy: int) -> tuple[list[int], list[int]]:
    counts = [1] * len(loads)
    phy2log = list(range(len(loads)))
    for _ in range(len(loads), num_phy):
        chosen = max(range(len(loads)), key=lambda e: (loads[e] / counts[e], -e))
        phy2log.append(chosen)
        counts[chosen] += 1
    return phy2log, counts


def loop_rebalance(
    weight: torch.Tensor, replicas: int, groups: int, nodes: int, gpus: int
) -> tuple[list[list[int]], list[list[int]]]:
    """The same hierarchical greedy, written as a plain Python loop over layers and nodes."""
    experts = weight.shape[1]
    group_size, per_node = experts // groups, experts // nodes
    slots_per_node, gpus_per_node = replicas // nodes, gpus // nodes
    slots_per_gpu = replicas // gpus
    all_phy2log, all_logcnt = [], []
    for row in weight.double().tolist():
        group_loads = [sum(row[g * group_size : (g + 1) * group_size]) for g in range(groups)]
        node_of_group, rank_of_group = _greedy_pack(group_loads, nodes)
        node_experts: list[list[int]] = [[0] * per_node for _ in range(nodes)]
        for group in range(groups):
            start = rank_of_group[group] * group_size
            for offset in range(group_size):
                node_experts[node_of_group[group]][start + offset] = group * group_size + offset
        phy2log, logcnt = [0] * replicas, [0] * experts
        for node, members in enumerate(node_experts):
            loads = [row[e] for e in members]
            local_phy, counts = _replicate(loads, slots_per_node)
            gpu_of, rank_of = _greedy_pack([loads[e] / counts[e] for e in local_phy], gpus_per_node)
            for replica, local in enumerate(local_phy):
                slot = gpu_of[replica] * slots_per_gpu + rank_of[replica]
                phy2log[node * slots_per_node + slot] = members[local]
            for local, expert in enumerate(members):
                logcnt[expert] = counts[local]
        all_phy2log.append(phy2log)
        all_logcnt.append(logcnt)
    return all_phy2log, all_logcnt


def median_seconds(run: Callable[[], object], repeats: int, device: str) -> tuple[float, float]:
    """Median and half the inter-quartile spread of wall time, after one warm-up run."""
    run()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return statistics.median(times), (quartiles[2] - quartiles[0]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on shared boxes)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    weight = torch.tensor(SHAPE.loads(args.seed), dtype=torch.float64, device=args.device)
    sizes = (SHAPE.num_replicas, SHAPE.num_groups, SHAPE.num_nodes, SHAPE.num_gpus)
    print(
        f"{SHAPE.description}; device {args.device}, torch {torch.__version__}, "
        f"threads {args.threads}, repeats {args.repeats}"
    )

    expected_phy2log, expected_logcnt = loop_rebalance(weight.cpu(), *sizes)
    phy2log, _, logcnt = rebalance_experts(weight, *sizes)
    identical = phy2log.tolist() == expected_phy2log and logcnt.tolist() == expected_logcnt
    print(f"default reference output identical to the per-layer loop: {identical}")

    baseline, baseline_spread = median_seconds(
        lambda: loop_rebalance(weight.cpu(), *sizes), args.repeats, "cpu"
    )
    print(f"\n{'implementation':<34}{'median ms':>11}{'± ms':>8}{'speed-up vs loop':>18}")
    loop_name = "python loop (greedy)"
    print(f"{loop_name:<34}{baseline * 1e3:>11.2f}{baseline_spread * 1e3:>8.2f}{1:>17.1f}x")
    for packing in PACKING_METHODS:
        for replication in REPLICATION_METHODS:
            median, spread = median_seconds(
                functools.partial(
                    rebalance_experts, weight, *sizes, packing=packing, replication=replication
                ),
                args.repeats,
                args.device,
            )
            name = f"reference {packing}/{replication}"
            print(f"{name:<34}{median * 1e3:>11.2f}{spread * 1e3:>8.2f}{baseline / median:>17.1f}x")
    if not identical:
        raise SystemExit("the default reference output differs from the per-layer loop")


if __name__ == "__main__":
    main()

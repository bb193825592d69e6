"""Benchmark: every reference variant side by side, time and balancedness, against greedy.

For each shape (DeepSeek-V3, Qwen-MoE-like, Mixtral-like), policy (hierarchical as the shape
declares it, and global: one group, one node) and load model, it times every packing variant of
the reference round-robin (so a drifting machine hits all alike) and prints the median wall time,
the median CPU time of this thread (steadier on a shared machine), both as ratios against the
reference greedy measured in the same run, and the balancedness: the sum over layers of the mean
GPU load over the sum over layers of the maximum GPU load (each expert's load split evenly over
its replicas). It also counts the layers where a variant's maximum GPU load is above / below
greedy's. Load models:

- `lognormal`: lognormal(0, 1) x 1000, 4 hot experts per layer x 8, rounded;
- `zipf`: per layer a random ranking of the experts, load 100000 / rank^1.1, rounded;
- `moe`: the corpus generator's synthetic MoE token counts (what `eplb-verify bench` uses).

`fast` on CPU runs its compiled kernels when numba is installed (the header says which path ran;
`EPLB_FAST_KERNELS=0` times the torch path, which gives the same plans). First it checks that
the default reference output is identical to a plain per-layer Python loop
of the same greedy (DeepSeek-V3 shape, hierarchical).

    python benchmarks/rebalance.py [--repeats 7] [--seed 0] [--threads 1] [--device cpu|cuda]
        [--shapes deepseek-v3 qwen-moe mixtral] [--loads lognormal zipf]
        [--variants greedy swap pool_split fast]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from reference import PACKING_METHODS, rebalance_experts
from verifier.model.shapes import PRODUCTION_SHAPES, SHAPES, ModelShape

BASELINE = "greedy"
HOT_EXPERTS, HOT_FACTOR = 4, 8.0
ZIPF_EXPONENT, ZIPF_SCALE = 1.1, 100_000.0


def lognormal_loads(layers: int, experts: int, generator: torch.Generator) -> torch.Tensor:
    """lognormal(0, 1) x 1000 with `HOT_EXPERTS` random experts per layer x `HOT_FACTOR`."""
    loads = torch.randn(layers, experts, generator=generator, dtype=torch.float64).exp() * 1000
    hot = torch.rand(layers, experts, generator=generator).argsort(dim=1)[:, :HOT_EXPERTS]
    loads.scatter_(1, hot, loads.gather(1, hot) * HOT_FACTOR)
    return loads.round()


def zipf_loads(layers: int, experts: int, generator: torch.Generator) -> torch.Tensor:
    """Per layer a random ranking of the experts; expert of rank r gets scale / r^exponent."""
    ranks = torch.rand(layers, experts, generator=generator).argsort(dim=1) + 1
    return (ZIPF_SCALE / ranks.to(torch.float64) ** ZIPF_EXPONENT).round()


def moe_loads(shape: ModelShape, seed: int) -> torch.Tensor:
    return torch.tensor(shape.loads(seed), dtype=torch.float64)


def make_loads(model: str, shape: ModelShape, seed: int) -> torch.Tensor:
    if model == "moe":
        return moe_loads(shape, seed)
    generator = torch.Generator().manual_seed(seed)
    build = lognormal_loads if model == "lognormal" else zipf_loads
    return build(shape.layers, shape.experts, generator)


def max_gpu_loads(weight: torch.Tensor, phy2log: torch.Tensor, num_gpus: int) -> torch.Tensor:
    """Per layer, the largest GPU load (float64; each expert's load split over its replicas)."""
    weight = weight.to(torch.float64).cpu()
    phy2log = phy2log.cpu()
    counts = torch.zeros_like(weight).scatter_add_(
        1, phy2log, torch.ones_like(weight[:, :1]).expand_as(phy2log)
    )
    replica = (weight / counts).gather(1, phy2log)
    return replica.view(weight.shape[0], num_gpus, -1).sum(-1).max(dim=1).values


@dataclass
class Cell:
    """One variant on one (shape, policy, load model)."""

    wall: list[float]
    cpu: list[float]
    peaks: torch.Tensor  # per-layer max GPU load
    ideal: float  # sum over layers of the mean GPU load

    @property
    def balancedness(self) -> float:
        return self.ideal / float(self.peaks.sum())


def run_cell(
    weight: torch.Tensor,
    sizes: tuple[int, int, int, int],
    variants: list[str],
    repeats: int,
    device: str,
) -> dict[str, Cell]:
    """Warm up every variant once, then time them round-robin `repeats` times."""
    calls: dict[str, Callable[[], tuple[torch.Tensor, ...]]] = {
        name: functools.partial(rebalance_experts, weight, *sizes, packing=name)
        for name in variants
    }
    num_gpus = sizes[3]
    ideal = float(weight.to(torch.float64).sum()) / num_gpus
    cells = {
        name: Cell([], [], max_gpu_loads(weight, call()[0], num_gpus), ideal)
        for name, call in calls.items()
    }
    for _ in range(repeats):
        for name, call in calls.items():
            if device == "cuda":
                torch.cuda.synchronize()
            wall, cpu = time.perf_counter(), time.thread_time()
            call()
            if device == "cuda":
                torch.cuda.synchronize()
            cells[name].wall.append(time.perf_counter() - wall)
            cells[name].cpu.append(time.thread_time() - cpu)
    return cells


def print_cell(title: str, cells: dict[str, Cell]) -> None:
    base = cells.get(BASELINE)
    print(f"\n{title}")
    header = (
        f"  {'variant':<12}{'wall ms':>10}{'x greedy':>10}{'cpu ms':>10}{'x greedy':>10}"
        f"{'balancedness':>14}{'layers worse/better':>22}"
    )
    print(header)
    for name, cell in cells.items():
        wall, cpu = statistics.median(cell.wall), statistics.median(cell.cpu)
        ratio_wall = wall / statistics.median(base.wall) if base else float("nan")
        ratio_cpu = cpu / statistics.median(base.cpu) if base else float("nan")
        worse = int((cell.peaks > base.peaks).sum()) if base else 0
        better = int((cell.peaks < base.peaks).sum()) if base else 0
        print(
            f"  {name:<12}{wall * 1e3:>10.2f}{ratio_wall:>10.2f}"
            f"{cpu * 1e3:>10.2f}{ratio_cpu:>10.2f}{cell.balancedness:>14.5f}"
            f"{f'{worse}/{better}':>22}"
        )


# --- the identity check against a plain per-layer loop ---------------------------------------


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


def check_identical_to_loop(seed: int) -> bool:
    shape = SHAPES["deepseek-v3"]
    weight = moe_loads(shape, seed)
    sizes = (shape.num_replicas, shape.num_groups, shape.num_nodes, shape.num_gpus)
    expected_phy2log, expected_logcnt = loop_rebalance(weight, *sizes)
    phy2log, _, logcnt = rebalance_experts(weight, *sizes)
    return phy2log.tolist() == expected_phy2log and logcnt.tolist() == expected_logcnt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on shared boxes)"
    )
    parser.add_argument(
        "--shapes", nargs="+", default=list(PRODUCTION_SHAPES), choices=list(SHAPES)
    )
    parser.add_argument(
        "--loads", nargs="+", default=["lognormal", "zipf"], choices=["lognormal", "zipf", "moe"]
    )
    parser.add_argument(
        "--variants", nargs="+", default=list(PACKING_METHODS), choices=list(PACKING_METHODS)
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variants = list(dict.fromkeys([BASELINE, *args.variants]))
    print(
        f"device {args.device}, torch {torch.__version__}, threads {args.threads}, "
        f"repeats {args.repeats} (after one warm-up), seed {args.seed}; medians"
    )
    from reference import fast_kernels

    fast_path = (
        "compiled kernels (numba)"
        if fast_kernels.use_kernels(torch.zeros(1, device=args.device))
        else "torch path (numba missing, EPLB_FAST_KERNELS=0 or not a CPU tensor)"
    )
    print(f"fast plans with its {fast_path}")
    identical = check_identical_to_loop(args.seed)
    print(f"default reference output identical to the per-layer Python loop: {identical}")
    for name in args.shapes:
        shape = SHAPES[name]
        policies = {
            "hierarchical": (shape.num_groups, shape.num_nodes),
            "global": (1, 1),
        }
        for model in args.loads:
            weight = make_loads(model, shape, args.seed).to(args.device)
            for policy, (groups, nodes) in policies.items():
                sizes = (shape.num_replicas, groups, nodes, shape.num_gpus)
                cells = run_cell(weight, sizes, variants, args.repeats, args.device)
                title = (
                    f"{shape.name} ({shape.layers} x {shape.experts} -> {shape.num_replicas}, "
                    f"{groups} groups, {nodes} nodes, {shape.num_gpus} GPUs), {policy}, "
                    f"{model} loads"
                )
                print_cell(title, cells)
    if not identical:
        raise SystemExit("the default reference output differs from the per-layer loop")


if __name__ == "__main__":
    main()

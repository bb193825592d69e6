"""Benchmark the migration-aware oracle on small instances: seconds per K of exact OPT(K).

    python benchmarks/migration.py [--limit 10] [--windows 23] [--json PATH]

Instances: the bundled corpus's small drift trace (8 experts -> 12 replicas on 4 GPUs, one node),
window t -> t + 1: the old placement is the reference greedy plan of window t's loads and the
loads are window t + 1's (what the report's migration section solves). For each window it times

- `standalone`: one `solve_budgeted` per K = 0 .. the front's end, each on its own (the
  unconstrained optimum, computed once per window, is its incumbent and floor, as in `solve`);
- `front`: `solve_front` (the unconstrained solve included), divided by its number of points.

It prints the median, 90th percentile and maximum seconds per K, wall-clock and CPU time of this
thread (steadier on a shared machine; one CP-SAT worker, deterministic limits), and whether every
point was proven. The issue's target: well under a second per K.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from reference import rebalance_experts
from verifier.corpus import default_corpus_dir, load_corpus
from verifier.model.atomic import write_json_atomically
from verifier.model.instances import RebalanceInstance
from verifier.oracle import instance_shape
from verifier.oracle.migration import solve_budgeted, solve_front, unconstrained_plan
from verifier.oracle.scaling import Load


def small_drift_trace() -> RebalanceInstance:
    """The bundled corpus's drift trace of at most 8 experts."""
    entries, _ = load_corpus(default_corpus_dir())
    for entry in entries:
        instance = entry.instance
        drift = "drift" in entry.family and isinstance(instance, RebalanceInstance)
        if drift and len(instance.weights[0]) <= 8:
            assert isinstance(instance, RebalanceInstance)
            return instance
    raise SystemExit("no small drift trace in the corpus")


def greedy_plan(instance: RebalanceInstance, loads: Sequence[Load]) -> list[int]:
    """The reference greedy plan of one window's loads."""
    phy2log, _, _ = rebalance_experts(
        torch.tensor([loads], dtype=torch.float64),
        instance.num_replicas, instance.num_groups, instance.num_nodes, instance.num_gpus,
    )  # fmt: skip
    return [int(e) for e in phy2log[0].tolist()]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=10.0, help="deterministic s per K")
    parser.add_argument("--windows", type=int, default=23, help="window pairs to solve")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = parser.parse_args()
    instance = small_drift_trace()
    shape = instance_shape(instance)
    standalone: list[float] = []
    per_point: list[float] = []
    standalone_cpu: list[float] = []
    per_point_cpu: list[float] = []
    unproven = 0
    for t in range(min(args.windows, len(instance.weights) - 1)):
        old = greedy_plan(instance, instance.weights[t])
        loads = instance.weights[t + 1]
        start, cpu = time.perf_counter(), time.thread_time()
        front = solve_front(loads, shape, old, time_limit=args.limit, seed=0)
        per_point.append((time.perf_counter() - start) / len(front.points))
        per_point_cpu.append((time.thread_time() - cpu) / len(front.points))
        unproven += sum(point.status != "optimal" for point in front.points)
        free, nearest = unconstrained_plan(loads, shape, old, time_limit=args.limit, seed=0)
        for point in front.points:
            start, cpu = time.perf_counter(), time.thread_time()
            alone = solve_budgeted(loads, shape, old, point.budget, time_limit=args.limit, seed=0,
                                   incumbents=[nearest], floor=free.bound)  # fmt: skip
            standalone.append(time.perf_counter() - start)
            standalone_cpu.append(time.thread_time() - cpu)
            unproven += alone.status != "optimal"
            assert alone.objective == point.objective, (t, point.budget)
    samples = {
        "standalone": standalone,
        "standalone_cpu": standalone_cpu,
        "front_per_point": per_point,
        "front_per_point_cpu": per_point_cpu,
    }
    numbers: dict[str, object] = {"fronts": len(per_point), "points": len(standalone),
                                  "unproven": unproven}  # fmt: skip
    for name, values in samples.items():
        row = {"median": statistics.median(values), "p90": percentile(values, 0.9),
               "max": max(values), "total": sum(values)}  # fmt: skip
        numbers[name] = row
        print(f"{name:20} median {row['median']:.3f} s  p90 {row['p90']:.3f} s  "
              f"max {row['max']:.3f} s")  # fmt: skip
    print(f"{numbers['fronts']} fronts, {numbers['points']} points, {unproven} not proven")
    if args.json is not None:
        write_json_atomically(args.json, numbers)


if __name__ == "__main__":
    main()

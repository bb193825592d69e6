"""Benchmark the packing oracle against a plain CP-SAT model, side by side in the same run.

    python benchmarks/oracle.py            # the full, fixed, seeded set (tens of minutes)
    python benchmarks/oracle.py --quick    # a small subset with short limits (about 1-2 minutes)

Families (the issue's targets):
- uniform: 10-bit integer weights, n in {16, 24, 32, 48, 64}, m in {2, 4, 8}; goal: all proven
  within 30 s, median under 2 s;
- phase: about n bits per weight (n = 16, 20, 24; m = 4, 8; n = 20 with m = 8 does not divide);
  goal: all proven within 60 s;
- production: one node's packing at DeepSeek-V3 scale, 72 replicas of skewed (log-normal) expert
  loads onto 8 GPUs, loads w/c from the optimal replica counts; goal: certified within 0.1% in 10 s.

The plain model is what one writes first: a boolean per item and pack, an equality per pack size,
a max over pack loads. Both run single-worker with a fixed seed under the same deterministic limit
(CP-SAT's max_deterministic_time), so the table is reproducible; seconds are wall-clock. A plain
run that does not prove optimality counts at its full wall time, so its ratio is a lower bound.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from ortools.sat.python import cp_model

from verifier.model.atomic import write_json_atomically
from verifier.model.objectives import gap_float
from verifier.oracle import solve_packing_layer
from verifier.oracle.replication import optimal_counts
from verifier.oracle.scaling import scale_loads

LIMITS = {"uniform": 30.0, "phase": 60.0, "production": 10.0}
QUICK_LIMITS = {"uniform": 10.0, "phase": 10.0, "production": 10.0}
QUICK_PLAIN_LIMIT = 3.0
TOLERANCE = Fraction(1, 1000)  # production goal: certified within 0.1%


@dataclass(frozen=True)
class Case:
    family: str
    cell: str
    seed: int
    weights: list[int | Fraction]
    num_packs: int


@dataclass(frozen=True)
class Outcome:
    proven: bool
    seconds: float
    gap: float  # (objective - bound) / bound


def uniform_cases(per_cell: int, sizes: Sequence[int], packs: Sequence[int]) -> list[Case]:
    cases = []
    for n in sizes:
        for m in packs:
            for seed in range(per_cell):
                rng = random.Random(f"uniform-{n}-{m}-{seed}")
                weights: list[int | Fraction] = [rng.randrange(1, 2**10) for _ in range(n)]
                cases.append(Case("uniform", f"n={n} m={m}", seed, weights, m))
    return cases


def phase_cases(per_cell: int, cells: Sequence[tuple[int, int]]) -> list[Case]:
    cases = []
    for n, m in cells:
        for seed in range(per_cell):
            rng = random.Random(f"phase-{n}-{m}-{seed}")
            weights: list[int | Fraction] = [rng.randrange(1, 2**n) for _ in range(n)]
            cases.append(Case("phase", f"n={n} m={m} ({n} bits)", seed, weights, m))
    return cases


def production_cases(count: int) -> list[Case]:
    """72 replicas of 64 skewed expert loads (one node of 256 experts / 288 slots / 4 nodes)."""
    cases = []
    for seed in range(count):
        rng = random.Random(f"production-{seed}")
        sigma = 1.0 + 0.25 * (seed % 3)
        experts = [Fraction(int(rng.lognormvariate(0, sigma) * 4096)) for _ in range(64)]
        counts = optimal_counts(experts, 72)
        loads: list[int | Fraction] = [
            w / c for w, c in zip(experts, counts, strict=True) for _ in range(c)
        ]
        cases.append(Case("production", "72 replicas, 8 GPUs", seed, loads, 8))
    return cases


def plain_model(weights: Sequence[int], num_packs: int, limit: float, seed: int) -> Outcome:
    """The straightforward model, for comparison."""
    n, size = len(weights), len(weights) // num_packs
    model = cp_model.CpModel()
    x = [[model.new_bool_var(f"x{i}_{p}") for p in range(num_packs)] for i in range(n)]
    cap = model.new_int_var(0, sum(weights), "cap")
    for i in range(n):
        model.add_exactly_one(x[i])
    for p in range(num_packs):
        model.add(sum(x[i][p] for i in range(n)) == size)
        model.add(sum(weights[i] * x[i][p] for i in range(n)) <= cap)
    model.minimize(cap)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = limit
    start = time.perf_counter()
    status = solver.solve(model)
    seconds = time.perf_counter() - start
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Outcome(False, seconds, float("inf"))
    objective, bound = solver.objective_value, max(solver.best_objective_bound, 1e-9)
    return Outcome(status == cp_model.OPTIMAL, seconds, (objective - bound) / bound)


def run_ours(case: Case, limit: float) -> Outcome:
    """Production cases only need certifying within 0.1%, so they stop there."""
    tolerance = float(TOLERANCE) if case.family == "production" else 0.0
    start = time.perf_counter()
    solution = solve_packing_layer(
        case.weights, case.num_packs, time_limit=limit, seed=0, relative_gap=tolerance
    )
    seconds = time.perf_counter() - start
    return Outcome(solution.status == "optimal", seconds, gap_float(solution.gap()))


def run_plain(case: Case, limit: float) -> Outcome:
    integers = scale_loads(case.weights).low  # same integer instance the oracle solves
    return plain_model(integers, case.num_packs, limit, seed=0)


def _cells(results: list[dict]) -> dict[tuple[str, str], list[dict]]:
    cells: dict[tuple[str, str], list[dict]] = {}
    for row in results:
        cells.setdefault((row["family"], row["cell"]), []).append(row)
    return cells


def print_table(results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="packing oracle vs plain CP-SAT model (1 worker each, same limits)")
    for column in (
        "family",
        "cell",
        "N",
        "ours proven",
        "ours median s",
        "ours max s",
        "ours max gap",
        "plain proven",
        "plain median s",
        "plain max gap",
        "median ratio",
    ):
        table.add_column(column, justify="left" if column in ("family", "cell") else "right")
    for (family, cell), rows in _cells(results).items():
        ours = [r["ours"] for r in rows]
        plain = [r["plain"] for r in rows]
        ours_median = statistics.median(o["seconds"] for o in ours)
        plain_median = statistics.median(p["seconds"] for p in plain)
        censored = not all(p["proven"] for p in plain)
        ratio = plain_median / max(ours_median, 1e-3)
        table.add_row(
            family,
            cell,
            str(len(rows)),
            f"{sum(o['proven'] for o in ours)}/{len(rows)}",
            f"{ours_median:.2f}",
            f"{max(o['seconds'] for o in ours):.2f}",
            f"{max(o['gap'] for o in ours):.2e}",
            *(
                ("-", "-", "-", "-")
                if math.isnan(plain_median)
                else (
                    f"{sum(p['proven'] for p in plain)}/{len(rows)}",
                    f"{plain_median:.2f}",
                    f"{max(p['gap'] for p in plain):.2e}",
                    (">" if censored else "") + f"{ratio:.0f}x",
                )
            ),
        )
    Console(width=160).print(table)


def goals(results: list[dict], limits: dict[str, float]) -> list[str]:
    """The issue's goals, each with met / not met."""
    lines = []
    uniform = [r["ours"] for r in results if r["family"] == "uniform"]
    if uniform:
        proven = all(o["proven"] and o["seconds"] <= 30 for o in uniform)
        median = statistics.median(o["seconds"] for o in uniform)
        lines.append(f"uniform: all proven within 30 s: {'met' if proven else 'NOT met'}")
        lines.append(f"uniform: median {median:.2f} s < 2 s: {'met' if median < 2 else 'NOT met'}")
    phase = [r["ours"] for r in results if r["family"] == "phase"]
    if phase:
        proven = all(o["proven"] and o["seconds"] <= 60 for o in phase)
        lines.append(f"phase: all proven within 60 s: {'met' if proven else 'NOT met'}")
    production = [r["ours"] for r in results if r["family"] == "production"]
    if production:
        ok = all(o["gap"] <= TOLERANCE and o["seconds"] <= 10 for o in production)
        worst = max(o["gap"] for o in production)
        lines.append(
            f"production: within 0.1% in 10 s (worst gap {worst:.2e}): {'met' if ok else 'NOT met'}"
        )
    if limits != LIMITS:
        lines.append(
            "(quick run: shortened limits and a subset; run without --quick for the goals)"
        )
    return lines


def build_cases(quick: bool) -> list[Case]:
    if quick:
        return [
            *uniform_cases(2, (16, 32, 64), (2, 4, 8)),
            *phase_cases(1, ((16, 4), (20, 4), (24, 4), (24, 8))),
            *production_cases(2),
        ]
    return [
        *uniform_cases(5, (16, 24, 32, 48, 64), (2, 4, 8)),
        *phase_cases(3, ((16, 4), (16, 8), (20, 4), (24, 4), (24, 8))),
        *production_cases(5),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small subset, short limits")
    parser.add_argument("--families", nargs="+", choices=sorted(LIMITS), default=sorted(LIMITS))
    parser.add_argument("--no-plain", action="store_true", help="skip the plain model")
    parser.add_argument("--output", help="also write every result as JSON to this file")
    args = parser.parse_args(argv)
    limits = QUICK_LIMITS if args.quick else LIMITS
    results = []
    for case in build_cases(args.quick):
        if case.family not in args.families:
            continue
        limit = limits[case.family]
        ours = run_ours(case, limit)
        plain_limit = QUICK_PLAIN_LIMIT if args.quick else limit
        plain = (
            Outcome(False, float("nan"), float("nan"))
            if args.no_plain
            else run_plain(case, plain_limit)
        )
        row = {
            "family": case.family,
            "cell": case.cell,
            "seed": case.seed,
            "ours": asdict(ours),
            "plain": asdict(plain),
        }
        results.append(row)
        print(
            f"{case.family:10} {case.cell:22} seed {case.seed}: ours {ours.seconds:7.2f} s "
            f"{'proven' if ours.proven else f'gap {ours.gap:.1e}'}; plain {plain.seconds:7.2f} s "
            f"{'proven' if plain.proven else f'gap {plain.gap:.1e}'}",
            flush=True,
        )
    print_table(results)
    for line in goals(results, limits):
        print(line)
    if args.output:
        write_json_atomically(Path(args.output), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

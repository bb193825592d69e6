"""Benchmark distributed re-proving: every layer of a copy of the bundled corpus solved again by the
oracle with 1 worker (in process) and with N local worker processes, side by side in the same run.

    python benchmarks/scale.py              # 1 vs 2 workers, limit capped at 1 s, 3 repeats
    python benchmarks/scale.py --workers 4 --time-limit 10 --repeats 1   # the recorded limits

What `eplb-verify corpus rebaseline --reprove` does, through its own code
(`verifier.corpus.reprove`: `layer_tasks`, `reprove_layer` mapped over a `Distributor`): each
layer of each record is solved with the record's seed and its deterministic time limit (capped by
--time-limit to keep the run short; bound-only records get the cheap bound), all layers of all
records as one list of independent tasks. The corpus is copied to a temporary folder first and
only the copy is read: the shipped corpus is never touched. The distributed results are checked
to be identical to the sequential ones (objective, bound, status), so the speed-up is never
bought with a different answer.

Reported: median wall time per configuration over the repeats (the pool start-up included), the
ratio against the 1-worker baseline measured in the same run, and a projection of the cost of
re-proving a corpus of 10 000 records on a cluster, from the measured per-record solve time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from verifier.corpus import CorpusEntry, OracleLayer, default_corpus_dir, load_corpus
from verifier.corpus.records import DEFAULT_TIME_LIMIT
from verifier.corpus.reprove import LayerTask, layer_tasks, reprove_layer
from verifier.oracle.distribute import Distributor, available_cores

PROJECTED_RECORDS = 10_000
CLUSTER_CPUS = (16, 64, 256)


def capped(entry: CorpusEntry, cap: float) -> CorpusEntry:
    """The record with its deterministic limit capped (to keep the benchmark short)."""
    limit = min(cap, entry.oracle.time_limit or DEFAULT_TIME_LIMIT)
    return replace(entry, oracle=replace(entry.oracle, time_limit=limit))


def tasks_of(entries: list[CorpusEntry], cap: float) -> list[LayerTask]:
    """Every layer of every record, as `corpus rebaseline --reprove` builds them."""
    return [task for entry in entries for task in layer_tasks(capped(entry, cap))]


def timed_run(tasks: list[LayerTask], workers: int) -> tuple[float, list[OracleLayer]]:
    """The re-proof's own map (`reprove_layer` over a `Distributor`), timed."""
    start = time.perf_counter()
    with Distributor(workers) as distributor:
        results = distributor.map(reprove_layer, tasks)
    return time.perf_counter() - start, results


def warm(_item: int) -> int:
    """Imports the oracle and OR-Tools in a worker: what each fresh worker pays before its first
    solve (the in-process baseline paid it once, before its first repeat)."""
    import verifier.oracle.packing
    import verifier.oracle.rebalance  # noqa: F401  (both import OR-Tools' CP-SAT)

    return 0


def startup_seconds(workers: int) -> float:
    """Wall time to start a pool of `workers` processes and import the oracle in each."""
    start = time.perf_counter()
    with Distributor(workers) as distributor:
        distributor.map(warm, range(workers))
    return time.perf_counter() - start


def answers(results: list[OracleLayer]) -> list[tuple[Fraction | None, Fraction, str]]:
    return [(r.objective, r.bound, r.status) for r in results]


def print_cluster_hours(cpu_seconds: float, efficiency: float, note: str = "") -> None:
    """Wall-clock hours of `cpu_seconds` of solving on each cluster size, at `efficiency`."""
    for cpus in CLUSTER_CPUS:
        hours = cpu_seconds / (cpus * max(efficiency, 1e-9)) / 3600
        print(f"  {cpus:>4} CPUs ({note}efficiency {efficiency:.0%}): {hours:6.2f} h")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="local processes to compare [2]")
    parser.add_argument(
        "--time-limit", type=float, default=1.0, help="cap on each record's deterministic limit [1]"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration [3]")
    parser.add_argument("--records", type=int, default=None, help="only the first N records")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="eplb-scale-bench-") as folder:
        copy = Path(folder) / "corpus"
        shutil.copytree(default_corpus_dir(), copy)
        entries, broken = load_corpus(copy)
    every_entry = entries
    entries = entries[: args.records] if args.records else entries
    tasks = tasks_of(entries, args.time_limit)
    solved_records = len({id(task.instance) for task in tasks})
    print(
        f"corpus copy: {len(entries)} records ({len(broken)} broken), {len(tasks)} layer solves "
        f"from {solved_records} records; limit min(recorded, {args.time_limit:g}) s; "
        f"{available_cores()} cores visible; {args.repeats} repeats"
    )
    times: dict[int, list[float]] = {1: [], args.workers: []}
    baseline: list[OracleLayer] | None = None
    for repeat in range(args.repeats):
        for workers in (1, args.workers):  # interleaved: load drifts hit both alike
            seconds, results = timed_run(tasks, workers)
            times[workers].append(seconds)
            if baseline is None:
                baseline = results
            elif answers(results) != answers(baseline):
                print(f"MISMATCH: {workers} workers gave other answers (repeat {repeat})")
                return 1
            print(f"  repeat {repeat}: {workers} worker(s) {seconds:8.2f} s", flush=True)
    assert baseline is not None
    one, many = statistics.median(times[1]), statistics.median(times[args.workers])
    print(f"\n{'workers':>8} {'median s':>9} {'ratio':>6}")
    print(f"{1:>8} {one:>9.2f} {1.0:>6.2f}")
    print(f"{args.workers:>8} {many:>9.2f} {one / many:>6.2f}   (speed-up vs 1 worker)")
    print("answers identical to the sequential run: yes")
    startup = statistics.median(startup_seconds(args.workers) for _ in range(args.repeats))
    print(
        f"pool start-up ({args.workers} spawned processes importing the oracle and OR-Tools): "
        f"{startup:.2f} s; "
        f"without it the {args.workers}-worker run takes {max(many - startup, 1e-9):.2f} s, "
        f"ratio {one / max(many - startup, 1e-9):.2f}"
    )

    solve_seconds = sum(result.seconds for result in baseline)  # time inside the solver
    per_record = solve_seconds / max(1, solved_records)
    efficiency = (one / many) / args.workers  # parallel efficiency measured here
    total = per_record * PROJECTED_RECORDS
    layers_per_record = sum(len(e.oracle.layers) for e in every_entry) / max(1, len(every_entry))
    worst = PROJECTED_RECORDS * layers_per_record * DEFAULT_TIME_LIMIT  # every budget spent
    print(
        f"\nprojection for {PROJECTED_RECORDS} records like these: {per_record:.3f} s of solving "
        f"per record at this limit, {total / 3600:.2f} CPU-hours in all"
    )
    print_cluster_hours(total, efficiency, "1 task per CPU, ")
    recorded = [layer.seconds for entry in every_entry for layer in entry.oracle.layers]
    recorded_per_record = sum(recorded) / max(1, len(every_entry))
    recorded_total = recorded_per_record * PROJECTED_RECORDS
    print(
        f"at the recorded limits (the solve times stored in all {len(every_entry)} records): "
        f"{recorded_per_record:.1f} s per record, {recorded_total / 3600:.1f} CPU-hours in all"
    )
    print_cluster_hours(recorded_total, efficiency)
    print(
        f"  upper bound, every layer spending the full {DEFAULT_TIME_LIMIT:g} s default budget: "
        f"{worst / 3600:.0f} CPU-hours"
    )
    print(
        "assumptions: the same mix of problems and sizes as the bundled corpus; one CPU per solve "
        "(CP-SAT runs single-worker); the efficiency measured here on this machine (shared "
        "cores lower it; a Ray cluster adds about a millisecond of scheduling per task, small "
        "against these solves); deterministic limits, so answers do not depend on the machine"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

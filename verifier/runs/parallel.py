"""`--workers N` of `check` and `fuzz`: N engine processes on one candidate, one merged result.

A layer above the engine, not inside its loop: each worker is a whole check (`prepare_check`) or
`FuzzCampaign` in its own spawned process (with its own sandbox worker for the candidate), on its
own seed stream (worker 0 keeps `--seed`, worker i > 0 runs on `derived_seed(seed, "worker", i)`).
Only worker 0 runs the fixed edge-case suite. All of them share one example database (the one
named by `--database`; for `check` without one, a temporary folder that lives as long as the run),
so a failure that one worker saved is replayed first by the others at their next chunk.

Results merge with the result types' own logic (`EngineResult.merge`, `FuzzStats.offer`):
occurrences and case counts add up, the smallest reproducer of each finding wins, the worst gaps
compete in one list per function. The summary has the same shape as a one-worker run. Every
worker gets the whole `--budget` (they run side by side); `--max-cases` applies per worker.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import replace
from typing import Any, TypeVar

from verifier.model.errors import CandidateError
from verifier.runs.check import EngineOptions, EngineResult, prepare_check
from verifier.runs.chunks import derived_seed
from verifier.runs.fuzz import FuzzCampaign, FuzzOptions, FuzzResult, FuzzStats

Result = TypeVar("Result")
Options = TypeVar("Options", EngineOptions, FuzzOptions)
Notify = Callable[[str], None]


def worker_seeds(seed: int, workers: int) -> list[int]:
    """One seed stream per worker; worker 0 keeps `seed`, so one worker is a plain run."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return [seed] + [derived_seed(seed, "worker", index) for index in range(1, workers)]


@contextlib.contextmanager
def _shared_database(given: str | None) -> Iterator[str]:
    """The database the workers share: the one given, else a temporary folder for this run."""
    if given is not None:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="eplb-verify-examples-") as folder:
        yield folder


# --- the workers' bodies (module level: they run in spawned processes) --------------------------


def _check_worker(spec: str, options: EngineOptions) -> EngineResult:
    run = prepare_check(spec, options)
    try:
        run.run()
    except KeyboardInterrupt:  # Ctrl-C reaches every process of the group: keep what was found
        run.result.notes.append("interrupted: the summary covers the cases checked so far")
    return run.result


def _fuzz_worker(spec: str, options: FuzzOptions) -> FuzzResult:
    campaign = FuzzCampaign(spec, options)
    try:
        return campaign.run()
    except KeyboardInterrupt:  # a second Ctrl-C: the campaign keeps what it found
        campaign.result.interrupted = True
        return campaign.result


def _run_in_processes(
    body: Callable[..., Result], jobs: Sequence[tuple[Any, ...]], notify: Notify | None
) -> list[Result]:
    """Run `body(*job)` for every job, each in its own spawned process; results in job order.

    Ctrl-C while waiting: the workers (same process group) stop on their own and return what they
    found, so keep waiting for them once; a second Ctrl-C gives up on them.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
        futures: list[Future[Result]] = [pool.submit(body, *job) for job in jobs]
        _wait_patiently(futures, notify)
        return _survivors(futures, notify)


def _fan_out(
    body: Callable[[str, Options], Result],
    spec: str,
    options: Options,
    workers: int,
    doing: str,
    notify: Notify | None,
) -> list[Result]:
    """`body(spec, options)` in `workers` processes, each on its own seed (only worker 0 runs the
    edge cases) and all on one shared example database; results in worker order."""
    given = None if options.database is None else str(options.database)
    with _shared_database(given) as database:
        jobs = [
            (
                spec,
                replace(
                    options,
                    seed=seed,
                    edge_cases=options.edge_cases and not index,
                    database=database,
                ),
            )
            for index, seed in enumerate(worker_seeds(options.seed, workers))
        ]
        if notify:
            notify(f"{workers} workers {doing} {spec}; shared example database: {database}")
        return _run_in_processes(body, jobs, notify)


def _survivors(futures: Sequence[Future[Result]], notify: Notify | None) -> list[Result]:
    """The results of the workers that returned one. A worker that died (killed, out of memory)
    is reported and the others' findings are kept; a candidate that cannot be loaded (the same
    error in every worker) and a run in which no worker returned raise as a one-worker run."""
    results: list[Result] = []
    failures: list[BaseException] = []
    for index, future in enumerate(futures):
        error = future.exception()
        if error is None:
            results.append(future.result())
            continue
        if isinstance(error, CandidateError):
            raise error
        failures.append(error)
        if notify:
            notify(f"worker {index} returned nothing ({type(error).__name__}: {error})")
    if not results:
        raise failures[0]
    return results


def _wait_patiently(futures: Sequence[Future[Any]], notify: Notify | None) -> None:
    pending = set(futures)
    interrupted = False
    while pending:
        try:
            _, pending = wait(pending, return_when="FIRST_COMPLETED")
        except KeyboardInterrupt:
            if interrupted:
                raise
            interrupted = True
            if notify:
                notify("interrupted: waiting for the workers to return what they found")
            continue
        if notify:
            finished = len(futures) - len(pending)
            notify(f"workers finished: {finished}/{len(futures)}")


# --- check --------------------------------------------------------------------------------------


def merge_engine_results(results: Sequence[EngineResult], options: EngineOptions) -> EngineResult:
    """One result from several workers' (the options reported are the run's, not a worker's)."""
    merged = EngineResult(results[0].candidate, results[0].functions, options)
    for result in results:
        merged.merge(result)
    return merged


def parallel_check(
    spec: str, options: EngineOptions, workers: int, *, notify: Notify | None = None
) -> EngineResult:
    """`check` with `workers` engine processes; raises `CandidateError` like `check_candidate`."""
    if workers == 1:
        return _check_worker(spec, options)
    results = _fan_out(_check_worker, spec, options, workers, "checking", notify)
    return merge_engine_results(results, options)


# --- fuzz ---------------------------------------------------------------------------------------


def merge_fuzz_results(results: Sequence[FuzzResult], options: FuzzOptions) -> FuzzResult:
    """One campaign result from several workers': findings merged, cases added, worst gaps
    offered to one list per function (duplicates dropped, worst first)."""
    findings = merge_engine_results(
        [result.findings for result in results], results[0].findings.options
    )
    merged = FuzzResult(results[0].candidate, options, findings)
    for result in results:
        for function, stats in result.stats.items():
            total = merged.stats.setdefault(function, FuzzStats())
            total.cases += stats.cases
            total.valid += stats.valid
            for case in stats.worst:
                total.offer(case)
        merged.elapsed = max(merged.elapsed, result.elapsed)
        merged.interrupted = merged.interrupted or result.interrupted
        merged.notes += [note for note in result.notes if note not in merged.notes]
    return merged


def parallel_fuzz(
    spec: str, options: FuzzOptions, workers: int, *, notify: Notify | None = None
) -> FuzzResult:
    """A campaign of `workers` engine processes; raises `CandidateError` like `FuzzCampaign.run`."""
    if workers == 1:
        return _fuzz_worker(spec, options)
    results = _fan_out(_fuzz_worker, spec, options, workers, "fuzzing", notify)
    return merge_fuzz_results(results, options)

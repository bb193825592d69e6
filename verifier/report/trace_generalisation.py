"""The report's generalisation section on a user's load trace (`eplb-verify report --trace`).

Each candidate plans every window of the trace (all layers at once, on the cluster
`verifier.runs.trace_replay.cluster_for` gives its expert count); the plan of window t is charged
with
window t + 1's loads ("stale") and set against the plan made on window t + 1 itself ("fresh") and
window t + 1's cheap certified lower bound, exactly as on the corpus's drift traces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from verifier.calling.pool import SandboxPool
from verifier.judging.invariants import Policy
from verifier.model.traces import Trace
from verifier.report.metrics import Generalisation, generalisation
from verifier.runs.corpus_runs import RunResult, WindowScore
from verifier.runs.trace_replay import REBALANCE, layer_windows, plan_windows, window_bounds


def trace_generalisation(
    specs: Sequence[str],
    trace: Trace,
    *,
    timeout: float,
    policy: Policy = "auto",
    api: str = "auto",
    fresh: bool = True,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Generalisation], list[str]]:
    """Generalisation of every candidate with `rebalance_experts` on `trace`, and the problems
    (a candidate that failed or broke the contract on some window) as sentences; `api` and
    `fresh` say how the user's candidates are called (`verifier.calling.profiles`).

    Raises `CandidateError` when a candidate cannot be loaded.
    """
    bounds = window_bounds(trace)
    found: list[Generalisation] = []
    problems: list[str] = []
    with SandboxPool(specs, timeout=timeout, api=api, fresh=fresh) as pool:
        pool.start(progress)
        for spec in pool.specs:
            if REBALANCE not in pool.functions(spec):
                continue
            if progress is not None:
                progress(f"{spec} on the trace")
            run = plan_windows(pool[spec], spec, trace, policy=policy, timeout=timeout)
            if run.problem:
                problems.append(f"{spec}: {run.problem}")
                continue
            scores = tuple(
                WindowScore(w.window, w.stale, w.fresh, w.ideal, w.bound)
                for w in layer_windows(trace, run.plans, bounds)
            )
            result = RunResult(
                spec, trace.source, "trace", "rebalance", trace.experts, "ok", 0.0, windows=scores
            )
            general = generalisation(spec, [result])
            if general is not None:
                found.append(general)
    return found, problems

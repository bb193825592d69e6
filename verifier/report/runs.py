"""Running candidates over a corpus: one sandboxed call per (candidate, record), scored exactly.

Each call goes through the shared sandbox and invariant checker; objectives are recomputed exactly
(`verifier.metamorphic.layer_objectives`) and set against the record's oracle results (its certified
bound and best known objective): nothing is re-solved. Drift traces (one layer observed over
consecutive windows, row t = window t) are also scored out of sample: the plan made on window t
is charged with the loads of window t + 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from verifier.contract import function_for
from verifier.corpus import CorpusEntry
from verifier.instances import (
    RebalanceInstance,
    num_items,
)
from verifier.judge import call_on, judge
from verifier.metamorphic import anti_affinity
from verifier.objectives import gap_interval, ideal_load, rebalance_objective, relative_gap
from verifier.pool import SandboxPool
from verifier.sandbox import CallOutcome

DRIFT_MARKER = "drift"  # families whose name contains this are time traces (row t = window t)
CALL_TIMEOUT = 120.0
MAX_TROUBLE = 3  # a candidate that hangs or crashes this often is not called again


@dataclass(frozen=True)
class LayerScore:
    """A candidate's exact objective on one layer, with the record's oracle results."""

    layer: int
    objective: Fraction
    bound: Fraction  # certified lower bound on the optimum
    best_known: Fraction | None  # the oracle's best objective (None when only bounded)
    proven: bool
    ideal: Fraction

    @property
    def gap_high(self) -> Fraction | None:
        """Certified upper end of the true relative gap (None: unbounded, zero bound)."""
        return relative_gap(self.objective, self.bound)

    @property
    def gap_low(self) -> Fraction:
        """Lower end: against the oracle's best known objective, clamped at zero."""
        return gap_interval(self.objective, self.bound, self.best_known)[0]

    @property
    def optimal(self) -> bool:
        """Provably optimal: the objective meets a certified lower bound."""
        return self.objective == self.bound


@dataclass(frozen=True)
class WindowScore:
    """The plan made on window t, charged with window t + 1's loads, against a fresh plan."""

    window: int
    stale: Fraction  # max GPU load of plan(t) under loads(t + 1)
    fresh: Fraction  # max GPU load of plan(t + 1) under loads(t + 1)
    ideal: Fraction  # mean GPU load of window t + 1
    bound: Fraction  # certified lower bound for window t + 1


@dataclass(frozen=True)
class RunResult:
    """One candidate on one corpus record."""

    candidate: str
    entry: str  # problem/hash
    family: str
    problem: str
    size: int  # items (packing) or experts (replication, rebalance) per layer
    status: str  # ok | invalid (contract violations) | failed (raised, hung, crashed) | skipped
    seconds: float
    violations: tuple[str, ...] = ()
    layers: tuple[LayerScore, ...] = ()
    colocated: int | None = None  # redundant co-located replicas (rebalance only)
    windows: tuple[WindowScore, ...] = ()

    @property
    def below_bound(self) -> list[int]:
        """Layers where the objective beats the certified bound: an oracle (or objective) bug."""
        return [score.layer for score in self.layers if score.objective < score.bound]


def is_drift(entry: CorpusEntry) -> bool:
    return DRIFT_MARKER in entry.family and isinstance(entry.instance, RebalanceInstance)


def window_scores(entry: CorpusEntry, phy2log: list[list[int]]) -> tuple[WindowScore, ...]:
    """Generalisation over time: each window's plan scored on the next window's loads."""
    instance = entry.instance
    assert isinstance(instance, RebalanceInstance)
    rows = instance.weights
    scores = []
    for t in range(len(rows) - 1):
        following = rows[t + 1]
        scores.append(
            WindowScore(
                t,
                rebalance_objective(following, phy2log[t], instance.num_gpus),
                rebalance_objective(following, phy2log[t + 1], instance.num_gpus),
                ideal_load(instance, following),
                entry.oracle.layers[t + 1].bound,
            )
        )
    return tuple(scores)


def score_outcome(candidate: str, entry: CorpusEntry, outcome: CallOutcome) -> RunResult:
    """Judge one call: violations through the shared checker, else exact per-layer scores."""
    instance = entry.instance
    function = function_for(instance)
    base = RunResult(
        candidate,
        entry.name,
        entry.family,
        entry.problem,
        num_items(instance),
        "ok",
        outcome.seconds,
    )
    verdict = judge(instance, outcome)
    violations = tuple(f"{f.check}: {f.message}" for f in verdict.violations)
    if verdict.status != "ok":
        return replace(base, status=verdict.status, violations=violations)
    outputs, objectives = verdict.outputs, verdict.objectives
    if outputs is None or objectives is None:  # outputs too large to come back with values
        return replace(base, status="failed", violations=("outputs too large to judge",))
    layers = tuple(
        LayerScore(
            index,
            objective,
            record.bound,
            record.objective,
            record.proven,
            ideal_load(instance, instance.weights[index]),
        )
        for index, (objective, record) in enumerate(
            zip(objectives, entry.oracle.layers, strict=True)
        )
    )
    colocated = None
    windows: tuple[WindowScore, ...] = ()
    if isinstance(instance, RebalanceInstance):
        found = anti_affinity(function, instance, outputs)
        colocated = int(found[0].details["colocated_replicas"]) if found else 0
        if is_drift(entry):
            windows = window_scores(entry, outputs["phy2log"])
    return replace(base, layers=layers, colocated=colocated, windows=windows)


CorpusRunProgress = Callable[[str, int], None]  # (what is running, calls done so far)


def run_corpus(
    specs: Sequence[str],
    entries: Sequence[CorpusEntry],
    *,
    device: str = "cpu",
    timeout: float = CALL_TIMEOUT,
    progress: CorpusRunProgress | None = None,
    api: str = "auto",  # the user's candidates' API profile
    fresh: bool = True,
) -> list[RunResult]:
    """Every candidate on every record (records whose function a candidate lacks are skipped).

    Raises `CandidateError` when a candidate cannot be loaded.
    """
    results: list[RunResult] = []
    done = 0
    troubles: Counter[str] = Counter()  # timeouts and crashes per candidate
    with SandboxPool(specs, timeout=timeout, api=api, fresh=fresh) as pool:
        pool.start(None if progress is None else lambda message: progress(message, done))
        for entry in entries:
            instance = entry.instance
            function = function_for(instance)
            for spec in pool.specs:
                if progress is not None:
                    progress(f"{spec} on {entry.family} {entry.name}", done)
                if function not in pool.functions(spec):
                    results.append(_skipped(spec, entry))
                elif troubles[spec] >= MAX_TROUBLE:
                    results.append(_given_up(spec, entry))
                else:
                    outcome = call_on(pool[spec], instance, device=device, spec=spec)
                    results.append(score_outcome(spec, entry, outcome))
                    troubles[spec] += outcome.status in ("timeout", "crash")
                done += 1
    return results


def _given_up(spec: str, entry: CorpusEntry) -> RunResult:
    """Not called: the candidate hung or crashed too often already."""
    return RunResult(
        spec,
        entry.name,
        entry.family,
        entry.problem,
        num_items(entry.instance),
        "failed",
        0.0,
        violations=(f"not run: {spec} hung or crashed {MAX_TROUBLE} times already",),
    )


def _skipped(spec: str, entry: CorpusEntry) -> RunResult:
    return RunResult(
        spec, entry.name, entry.family, entry.problem, num_items(entry.instance), "skipped", 0.0
    )

"""Running candidates over a corpus: one sandboxed call per (candidate, record), scored exactly.

Each call goes through the shared sandbox and invariant checker; objectives are recomputed exactly
(`verifier.judging.quality.layer_objectives`) and set against the record's oracle results
(its certified bound and best known objective): nothing is re-solved. Drift traces (one layer
observed over consecutive windows, row t = window t) are also scored out of sample: the plan made
on window t is charged with the loads of window t + 1.

`measure_api_profiles` runs the candidates over the corpus's rebalance records for the report's
API-profile and migration table: the profile each was called through (and why), what the harness
adapted, and its migration: the replicas whose GPU changes between its plan for seeded, perturbed
loads (a plausible earlier plan) and its plan for the record's loads, with that earlier plan
passed as the old placement when the candidate accepts one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from verifier.calling.caller import call_on
from verifier.calling.pool import SandboxPool, started_pool
from verifier.calling.sandbox import CallOutcome
from verifier.corpus import CorpusEntry
from verifier.corpus.records import has_move_budget
from verifier.judging.incremental import migration, perturbed_instance, rewritten_slots
from verifier.judging.invariants import checked_outputs
from verifier.judging.judge import judge
from verifier.judging.quality import anti_affinity
from verifier.model.contract import function_for
from verifier.model.instances import (
    RebalanceInstance,
    num_items,
)
from verifier.model.objectives import gap_interval, ideal_load, rebalance_objective, relative_gap
from verifier.runs.run_record import MigrationTally

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
    pool: SandboxPool | None = None,
) -> list[RunResult]:
    """Every candidate on every record. Skipped: records whose function a candidate lacks, and
    move-budget records (their optimum is OPT(max_moves), no bound on a plan made from scratch;
    the report's migration section judges plans against them). Calls go through `pool` when
    given (the command run's one pool), else through a pool of `specs` of their own.

    Raises `CandidateError` when a candidate cannot be loaded.
    """
    results: list[RunResult] = []
    done = 0
    troubles: Counter[str] = Counter()  # timeouts and crashes per candidate
    loading = None if progress is None else lambda message: progress(message, done)
    specs = list(dict.fromkeys(specs))
    with started_pool(specs, pool, timeout=timeout, api=api, fresh=fresh, progress=loading) as pool:
        for entry in entries:
            instance = entry.instance
            function = function_for(instance)
            for spec in specs:
                if progress is not None:
                    progress(f"{spec} on {entry.family} {entry.name}", done)
                if function not in pool.functions(spec) or has_move_budget(instance):
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


# --- API profiles and migration on the corpus (the report's API-profile table) -------------------


@dataclass
class CandidateProfile:
    """One candidate's profile, adaptations and migration over the corpus."""

    candidate: str
    profile: str
    notes: tuple[str, ...]
    adapted: set[str] = field(default_factory=set)
    migration: MigrationTally = field(default_factory=MigrationTally)

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "profile": self.profile,
            "notes": list(self.notes),
            "adapted": sorted(self.adapted),
            "migration": self.migration.to_dict(),
        }


def valid_plan(pool: SandboxPool, spec: str, instance: RebalanceInstance, old: Any = None) -> Any:
    """The candidate's valid phy2log for an instance (None when the call is not valid), and what
    the harness adapted."""
    outcome = call_on(pool[spec], instance, spec=spec, old=old)
    _, outputs = checked_outputs("rebalance_experts", instance, outcome)
    return (None if outputs is None else outputs["phy2log"]), outcome.adapted


def measure_api_profiles(
    specs: Sequence[str],
    entries: Sequence[CorpusEntry],
    *,
    timeout: float,
    api: str = "auto",
    fresh: bool = True,
    pool: SandboxPool | None = None,
) -> list[CandidateProfile]:
    """Profile, adaptations and migration of every candidate on the rebalance records (through
    `pool` when given, as `run_corpus`)."""
    rebalance = [e.instance for e in entries if isinstance(e.instance, RebalanceInstance)]
    found: list[CandidateProfile] = []
    specs = list(dict.fromkeys(specs))
    with started_pool(specs, pool, timeout=timeout, api=api, fresh=fresh) as pool:
        for spec in specs:
            info = pool[spec].info
            assert info is not None
            measured = CandidateProfile(spec, info.profile, info.profile_notes)
            found.append(measured)
            if "rebalance_experts" not in info.functions:
                continue
            accepts = "rebalance_experts" in info.accepts_old
            for instance in rebalance:
                old, adapted = valid_plan(pool, spec, perturbed_instance(instance))
                measured.adapted.update(adapted)
                if old is None:
                    continue
                new, adapted = valid_plan(pool, spec, instance, old if accepts else None)
                measured.adapted.update(adapted)
                if new is not None:
                    measured.migration.add(
                        {
                            "moved": migration(old, new, instance.num_gpus),
                            "rewritten": rewritten_slots(old, new),
                            "replicas": instance.num_replicas * len(new),
                            "with_old_placement": accepts,
                        }
                    )
    return found

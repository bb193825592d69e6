"""One score for a candidate EPLB implementation: correctness gate, balance, optimality gap, speed.

What an evolutionary search (or a person comparing heuristics) maximises. Phases, in order, each
through the project's shared machinery:

1. conformance: `verifier.runs.check.check_candidate` with a fixed number of generated cases per
   function (`cases`; `budget` only cuts off a candidate too slow to finish them), seeded: the
   verdict does not depend on machine load. Any violation makes the candidate invalid.
2. balancedness: the plan made on window t of a load trace is charged with window t + 1's loads;
   per layer and window, mean GPU load / max GPU load (each expert's load split evenly over its
   replicas, exact arithmetic), then the mean over layers and windows (1.0 is perfect).
3. optimality gap: the candidate's `rebalance_experts` on the corpus records with proven optima;
   the exact relative gap (objective - OPT) / OPT of every proven layer: mean and max.
4. speed: the median time of `rebalance_experts` at the DeepSeek-V3 shape on one CPU thread,
   measured inside the sandbox worker, with the reference greedy timed in the same run.

Every call runs in the sandbox with a per-call time limit (`timeout`) and goes through the shared
invariant checker, so a candidate that hangs, crashes or breaks the contract at any phase scores 0
with the reason. `combined_score` (see `combined_score`) is 0 for an invalid candidate.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from verifier.calling.caller import call_on
from verifier.calling.pool import SandboxPool
from verifier.calling.profiles import API_CHOICES
from verifier.calling.profiles.axes import valid_api
from verifier.calling.sandbox import Sandbox
from verifier.corpus import CorpusEntry, default_corpus_dir, load_corpus
from verifier.model.contract import Policy, hierarchical_rules_apply
from verifier.model.errors import EplbVerifyError
from verifier.model.instances import Instance, RebalanceInstance
from verifier.model.shapes import SHAPES, ModelShape
from verifier.model.traces import DEFAULT_WINDOW, Trace, load_trace
from verifier.runs.bench import BASELINE, Timing, bench_shape
from verifier.runs.check import EngineOptions, EngineResult, check_candidate
from verifier.runs.corpus_runs import score_outcome
from verifier.runs.trace_replay import REBALANCE, judged_call, plan_windows, stale_ratios

SPEED_SHAPE = "deepseek-v3"
TIME_EXPONENT = 0.01  # speed factor (1 + t / t_greedy) ** -0.01: about -2% per tenfold slowdown
MAX_VIOLATIONS_IN_REASON = 3

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


@dataclass(frozen=True)
class ScoreOptions:
    """Everything that shapes a score (the CLI flags and `evaluate`'s keyword arguments)."""

    seed: int = 0
    policy: Policy = "auto"
    cases: int = 100  # generated conformance cases per function (the same on any machine)
    budget: float = 60.0  # wall-clock cap of the conformance check (cuts off very slow code)
    timeout: float = 10.0  # seconds per candidate call (hangs and very slow code are cut off)
    trace: str | None = None  # a trace file; None: the bundled drift trace
    window: int = DEFAULT_WINDOW  # steps summed into one window of the trace
    repeats: int = 7  # timed runs at the DeepSeek-V3 shape (after one warm-up run)
    corpus: str | None = None  # corpus folder; None: the default corpus
    api: str = "auto"  # the candidate's API profile (`verifier.calling.profiles`)
    fresh_instance: bool = True  # a policy class with plain methods: a new instance per call
    allow_cross_layer: bool = False  # layer independence breaks are observations, not violations

    def __post_init__(self) -> None:
        for name in ("cases", "window", "repeats"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be an integer of at least 1, got {getattr(self, name)!r}"
                )
        for name in ("budget", "timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.policy not in ("auto", "global"):
            raise ValueError(f"policy must be 'auto' or 'global', got {self.policy!r}")
        if not valid_api(self.api):
            raise ValueError(
                f"api must be one of {', '.join(API_CHOICES)} (with axes, e.g. "
                f"'deepseek,arrays=numpy'), got {self.api!r}"
            )

    def check_options(self) -> EngineOptions:
        """The bounded, seeded conformance check of phase 1."""
        return EngineOptions(
            budget=self.budget,
            seed=self.seed,
            policy=self.policy,
            timeout=self.timeout,
            max_cases=self.cases,
            api=self.api,
            fresh_instance=self.fresh_instance,
            allow_cross_layer=self.allow_cross_layer,
        )


# --------------------------------------------------------------------------- the formula


def speed_factor(milliseconds: float, reference_milliseconds: float) -> float:
    """(1 + t / t_greedy) ** -TIME_EXPONENT: 1 for instant code, 0.993 at greedy's speed, about
    2% less per tenfold slowdown; measured against greedy in the same run, so machine-free."""
    if reference_milliseconds <= 0:
        return 1.0
    return float((1.0 + milliseconds / reference_milliseconds) ** -TIME_EXPONENT)


def combined_score(
    valid: bool,
    balancedness: float,
    gap_mean: float,
    milliseconds: float,
    reference_milliseconds: float,
) -> float:
    """balancedness x 1 / (1 + gap_mean) x speed_factor; 0 for an invalid candidate.

    A product of three efficiencies in (0, 1]: the share of GPU capacity a stale plan uses on the
    next window's traffic, how close the plans are to the proven optimum, and a mild (logarithmic)
    time penalty, since rebalancing runs every few minutes off the serving path. No factor can
    buy back another's zero, and a correctness failure is never traded for speed.
    """
    if not valid:
        return 0.0
    return balancedness / (1.0 + gap_mean) * speed_factor(milliseconds, reference_milliseconds)


# --------------------------------------------------------------------------- results


@dataclass
class ScoreResult:
    """Every component of a score; `metrics()` is the floats-and-bools view `evaluate` returns."""

    candidate: str
    options: ScoreOptions
    valid: bool = True
    reason: str = ""  # why the candidate is invalid ("" when valid)
    violations: list[dict[str, Any]] = field(default_factory=list)  # findings with reproducers
    balancedness: float = 0.0
    reference_balancedness: float = 0.0
    gap_mean: float = 0.0
    gap_max: float = 0.0
    milliseconds: float = 0.0
    reference_milliseconds: float = 0.0
    combined_score: float = 0.0
    trace: str = ""
    api: dict[str, Any] = field(default_factory=dict)  # the API profile used and why
    windows: int = 0  # (layer, window) pairs behind balancedness
    proven_layers: int = 0
    cases: int = 0  # conformance cases run
    samples_ms: list[float] = field(default_factory=list)
    reference_samples_ms: list[float] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase

    def invalidate(self, reason: str) -> None:
        if self.valid:
            self.valid, self.reason = False, reason

    def finish(self) -> ScoreResult:
        self.combined_score = combined_score(
            self.valid,
            self.balancedness,
            self.gap_mean,
            self.milliseconds,
            self.reference_milliseconds,
        )
        return self

    @property
    def speed_ratio(self) -> float:
        """Candidate time / reference greedy time (0 when not measured)."""
        if self.reference_milliseconds <= 0:
            return 0.0
        return self.milliseconds / self.reference_milliseconds

    def metrics(self) -> dict[str, float | bool]:
        """The numbers only (floats and bools): what a search framework's evaluator returns."""
        return {
            "combined_score": self.combined_score,
            "valid": self.valid,
            "violations": float(len(self.violations)),
            "balancedness": self.balancedness,
            "reference_balancedness": self.reference_balancedness,
            "gap_mean": self.gap_mean,
            "gap_max": self.gap_max,
            "milliseconds": self.milliseconds,
            "reference_milliseconds": self.reference_milliseconds,
            "speed_ratio": self.speed_ratio,
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (`--json`)."""
        return {
            "candidate": self.candidate,
            **self.metrics(),
            "reason": self.reason,
            "violations": self.violations,
            "formula": "balancedness / (1 + gap_mean) * (1 + milliseconds / "
            f"reference_milliseconds) ** -{TIME_EXPONENT} (0 when invalid)",
            "trace": self.trace,
            "api": self.api,
            "scored_windows": self.windows,
            "proven_layers": self.proven_layers,
            "cases": self.cases,
            "samples_ms": self.samples_ms,
            "reference_samples_ms": self.reference_samples_ms,
            "seconds": {phase: round(value, 3) for phase, value in self.seconds.items()},
            "options": {
                "seed": self.options.seed,
                "policy": self.options.policy,
                "cases": self.options.cases,
                "budget": self.options.budget,
                "timeout": self.options.timeout,
                "window": self.options.window,
                "repeats": self.options.repeats,
                "api": self.options.api,
                "fresh_instance": self.options.fresh_instance,
                "allow_cross_layer": self.options.allow_cross_layer,
            },
        }


# --------------------------------------------------------------------------- inputs


def trace_for(options: ScoreOptions) -> Trace:
    """The trace of phase 2 (raises `TraceError` for a malformed file)."""
    from verifier.corpus.bundled_traces import default_trace_path

    return load_trace(options.trace or default_trace_path(), options.window)


class ScoreInputError(EplbVerifyError, ValueError):
    """The caller's input cannot be scored against (e.g. a corpus without proven records)."""


def proven_entries(corpus: str | None, policy: Policy = "auto") -> list[CorpusEntry]:
    """The corpus's rebalance records with at least one proven layer (broken records skipped),
    under `--policy global` only those without the hierarchical contract (their optima assume
    it); raises `ScoreInputError` when there is none (the gap would mean nothing)."""
    folder = Path(corpus) if corpus else default_corpus_dir()
    entries, _broken = load_corpus(folder)
    proven = [
        entry
        for entry in entries
        if isinstance(entry.instance, RebalanceInstance)
        and any(layer.proven for layer in entry.oracle.layers)
        and (policy == "auto" or not hierarchical_rules_apply(entry.instance, "auto"))
    ]
    if not proven:
        raise ScoreInputError(
            f"corpus {folder}: no rebalance record with a proven optimum (pass --corpus DIR)"
        )
    return proven


# --------------------------------------------------------------------------- phases


def _finding_reason(findings: Sequence[dict[str, Any]]) -> str:
    shown = [f"{f['function'] or REBALANCE}: {f['check']}" for f in findings]
    more = len(shown) - MAX_VIOLATIONS_IN_REASON
    text = ", ".join(shown[:MAX_VIOLATIONS_IN_REASON]) + (f" and {more} more" if more > 0 else "")
    return f"{len(shown)} contract violation(s): {text}"


def conformance(result: ScoreResult, spec: str, progress: Progress) -> EngineResult:
    """Phase 1; raises `CandidateError` when the candidate cannot be loaded."""
    options = result.options
    progress(f"conformance check: {options.cases} cases per function")
    check = check_candidate(spec, options.check_options())
    result.cases = check.total_cases
    result.api = check.api.to_dict()
    result.violations = [record.to_dict() for record in check.violations]
    if result.violations:
        result.invalidate(_finding_reason(result.violations))
    short = [fn for fn, counts in check.cases.items() if counts.generated < options.cases]
    if result.valid and short and check.elapsed >= options.budget:
        result.invalidate(
            f"too slow: the conformance check ran out of its {options.budget:g} s budget before "
            f"{options.cases} cases of {', '.join(short)}"
        )
    if result.valid and REBALANCE not in check.functions:
        defined = ", ".join(check.functions) or "none of DeepSeek's functions"
        result.invalidate(f"scoring needs {REBALANCE}; the candidate defines {defined}")
    return check


def stale_balancedness(
    box: Sandbox, spec: str, trace: Trace, options: ScoreOptions
) -> tuple[float, int, str]:
    """Phase 2 for one candidate: (mean balancedness, (layer, window) pairs, problem or "")."""
    run = plan_windows(box, spec, trace, policy=options.policy, timeout=options.timeout)
    if run.problem:
        return 0.0, 0, run.problem
    ratios = stale_ratios(trace, run.plans)
    return statistics.fmean(ratios), len(ratios), ""


def optimality_gap(
    box: Sandbox, spec: str, entries: Sequence[CorpusEntry], options: ScoreOptions
) -> tuple[float, float, int, str]:
    """Phase 3: (mean gap, max gap, proven layers, problem or "") on the proven records."""
    gaps: list[float] = []
    for entry in entries:
        instance = entry.instance
        assert isinstance(instance, RebalanceInstance)
        outcome = call_on(box, instance, spec=spec, timeout=options.timeout)
        run = score_outcome(spec, entry, outcome)
        if run.status != "ok":
            problem = run.violations[0] if run.violations else run.status
            return 0.0, 0.0, 0, f"on corpus record {entry.name}: {problem}"
        gaps += [float(layer.gap_high or 0) for layer in run.layers if layer.proven]
    if not gaps:
        return 0.0, 0.0, 0, ""
    return statistics.fmean(gaps), max(gaps), len(gaps), ""


@dataclass(frozen=True)
class RebalanceShape(ModelShape):
    """A bench shape that times `rebalance_experts` only."""

    def instances(self, seed: int) -> dict[str, Instance]:
        return {REBALANCE: super().instances(seed)[REBALANCE]}


def speed_shape() -> RebalanceShape:
    base = SHAPES[SPEED_SHAPE]
    return RebalanceShape(**{name: getattr(base, name) for name in base.__dataclass_fields__})


def timings(
    pool: SandboxPool, spec: str, options: ScoreOptions, progress: Progress
) -> tuple[Timing | None, Timing | None, str]:
    """Phase 4: (candidate, reference greedy, problem or "") at the DeepSeek-V3 shape.

    A first call with the score's time limit cuts off very slow code before the timed runs.
    """
    shape = speed_shape()
    instance = shape.instances(options.seed)[REBALANCE]
    assert isinstance(instance, RebalanceInstance)
    _, problems = judged_call(pool[spec], spec, instance, options.policy, options.timeout)
    if problems:
        return None, None, f"at the {SPEED_SHAPE} shape: {problems[0]}"
    found = bench_shape(
        pool,
        list(dict.fromkeys([BASELINE, spec])),
        shape,
        seed=options.seed,
        device="cpu",
        repeats=options.repeats,
        warmup=1,
        progress=progress,
        policy=options.policy,
    )
    by_spec = {timing.candidate: timing for timing in found}
    mine, reference = by_spec.get(spec), by_spec.get(BASELINE)
    if mine is None or mine.status != "ok" or mine.median is None:
        why = "; ".join(mine.problems) if mine is not None else "not timed"
        return None, None, f"timing at the {SPEED_SHAPE} shape failed: {why}"
    return mine, reference, ""


# --------------------------------------------------------------------------- the pipeline


def _timed(result: ScoreResult, phase: str, started: float) -> None:
    result.seconds[phase] = time.monotonic() - started


def score_candidate(
    spec: str, options: ScoreOptions | None = None, *, progress: Progress = _quiet
) -> ScoreResult:
    """Score a candidate. Raises `TraceError` for a malformed trace, `ScoreInputError` for a
    corpus without proven records, `CandidateError` when the candidate cannot be loaded;
    everything the candidate does is reported in the result."""
    options = options or ScoreOptions()
    result = ScoreResult(spec, options)
    trace = trace_for(options)
    result.trace = trace.describe()
    entries = proven_entries(options.corpus, options.policy)
    started = time.monotonic()
    conformance(result, spec, progress)
    _timed(result, "conformance", started)
    if not result.valid:
        return result.finish()
    with SandboxPool(
        [spec, BASELINE], timeout=options.timeout, api=options.api, fresh=options.fresh_instance
    ) as pool:
        pool.start(progress)
        _measure(result, pool, spec, trace, entries, progress)
    return result.finish()


def _measure(
    result: ScoreResult,
    pool: SandboxPool,
    spec: str,
    trace: Trace,
    entries: Sequence[CorpusEntry],
    progress: Progress,
) -> None:
    options = result.options
    started = time.monotonic()
    progress(f"balancedness on {len(trace.windows)} windows")
    balance, pairs, problem = stale_balancedness(pool[spec], spec, trace, options)
    if problem:
        result.invalidate(problem)
        return
    result.balancedness, result.windows = balance, pairs
    reference, _, _ = stale_balancedness(pool[BASELINE], BASELINE, trace, options)
    result.reference_balancedness = reference
    _timed(result, "balancedness", started)
    started = time.monotonic()
    progress(f"optimality gap on {len(entries)} proven records")
    gap_mean, gap_max, layers, problem = optimality_gap(pool[spec], spec, entries, options)
    if problem:
        result.invalidate(problem)
        return
    result.gap_mean, result.gap_max, result.proven_layers = gap_mean, gap_max, layers
    _timed(result, "gap", started)
    started = time.monotonic()
    mine, reference_timing, problem = timings(pool, spec, options, progress)
    if problem or mine is None or mine.median is None:
        result.invalidate(problem or "not timed")
        return
    result.milliseconds = mine.median * 1e3
    result.samples_ms = [sample * 1e3 for sample in mine.samples]
    if reference_timing is not None and reference_timing.median is not None:
        result.reference_milliseconds = reference_timing.median * 1e3
        result.reference_samples_ms = [sample * 1e3 for sample in reference_timing.samples]
    _timed(result, "speed", started)


def evaluate(program_path: str, **options: Any) -> dict[str, float | bool]:
    """Score a candidate program for a search loop; never raises for a bad candidate.

    `options` are `ScoreOptions` fields (seed, policy, cases, budget, timeout, trace, window,
    repeats, corpus, api, fresh_instance, allow_cross_layer). Returns floats and bools only
    (`ScoreResult.metrics()`): `combined_score` (0 for an invalid candidate), `valid`,
    `violations` (how many), `balancedness`, `gap_mean`, `gap_max`, `milliseconds`,
    `reference_milliseconds`, `speed_ratio`. Use `score_candidate` for the reason and the
    reproducers. The caller's own mistakes raise: an unknown option `TypeError`, a bad value,
    trace or corpus `ValueError`.
    """
    from verifier.calling.candidates import CandidateError

    chosen = ScoreOptions(**options)
    try:
        return score_candidate(str(program_path), chosen).metrics()
    except CandidateError:
        return replace(ScoreResult(str(program_path), chosen), valid=False).finish().metrics()

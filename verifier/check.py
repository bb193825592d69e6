"""The conformance-check engine: a fixed edge-case suite, then Hypothesis cases until the budget.

`Evaluator.evaluate(function, instance)` is the per-case evaluation (the candidate call in the
sandbox, the invariant checker, determinism, the metamorphic relations, differentials and quality
observations); `check` and `fuzz` share it. `CheckRun` drives it: edge cases first, then
Hypothesis-generated cases for every function the candidate defines, round robin in time-boxed
chunks with derived seeds (deterministic for a given `--seed`, no example database). When a case
breaks a rule, Hypothesis shrinks it to a minimal reproducer; the smallest instance seen for each
finding is the one reported. `fuzz` runs the same `CheckRun` through its extension points.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from verifier.calls import Caller, call_args, natural_dtype
from verifier.findings import FUNCTIONS, Finding
from verifier.instances import (
    Instance,
    Number,
    PackingInstance,
    RebalanceInstance,
    ReplicationInstance,
    canonical_json,
    num_items,
    num_layers,
)
from verifier.invariants import CHECKS, Policy, check_call, check_determinism, integer_outputs
from verifier.metamorphic import (
    RELATIONS,
    anti_affinity,
    device_differential,
    dtype_relation,
    layer_objectives,
    partner_differential,
    permutation_relation,
    replication_optimality,
    scaling_relation,
)
from verifier.reach_checks import REACH_CHECKS, reach_checks  # issue 10 hook
from verifier.run_record import ApiRecord  # issue 10 hook
from verifier.worker import CallOutcome, LoadInfo, Sandbox

Device = Literal["cpu", "cuda", "all"]
ProgressHook = Callable[["Progress"], None]

DEEPSEEK_WEIGHTS: list[list[Number]] = [
    [90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86],
    [20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27],
]
ALL_CHECKS: dict[str, str] = {
    **CHECKS,
    **RELATIONS,
    **REACH_CHECKS,
}  # every check id this engine can report
CACHE_SIZE = 4096
CHUNK_EXAMPLES = 1000  # a cap; chunks end on their time slice or case count long before
MAX_TIMEOUTS = 2  # a function that hangs this often is not called again
MAX_CRASHES = 3


@dataclass(frozen=True)
class CheckOptions:
    """Everything that shapes a check run (the CLI flags, plus knobs for tests and `fuzz`)."""

    budget: float = 30.0  # seconds of checking once the candidate is loaded (edge suite included)
    seed: int = 0
    policy: Policy = "auto"
    device: Device = "cpu"
    strict: bool = False  # observations fail the run too
    timeout: float = 10.0  # per candidate call
    relations: bool = True  # metamorphic relations, differentials, quality observations
    edge_cases: bool = True
    functions: tuple[str, ...] = FUNCTIONS  # restrict to these (when the candidate has them)
    max_cases: int | None = None  # stop each function after this many generated cases
    # (chunks then end by example count, not by time: the same cases whatever the machine load)
    # issue 10 hook: API profile, stateful policy classes, cross-layer policies
    api: str = "auto"  # auto | deepseek | vllm | sglang (verifier.profiles)
    fresh_instance: bool = True  # a policy class with plain methods: a new instance per call
    allow_cross_layer: bool = False  # layer independence breaks are observations, not violations


@dataclass(frozen=True)
class CaseResult:
    """One evaluated case: every finding, and the exact per-layer objectives when valid."""

    function: str
    instance: Instance
    findings: tuple[Finding, ...]
    objectives: tuple[Fraction, ...] | None
    outcome: CallOutcome
    metrics: dict[str, Any] = field(default_factory=dict)  # issue 10 hook: e.g. migration

    @property
    def violations(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.is_violation]

    def failing(self, strict: bool) -> list[Finding]:
        """What fails the run: violations, and observations too under --strict."""
        return list(self.findings) if strict else self.violations


def instance_size(instance: Instance) -> tuple[Any, ...]:
    """Orders reproducers: fewer layers and items first, then smaller sizes and loads."""
    magnitude = sum(abs(float(value)) for row in instance.weights for value in row)
    floats = sum(isinstance(value, float) for row in instance.weights for value in row)
    layers, items = num_layers(instance), num_items(instance)
    sizes = tuple(instance.sizes().values())
    return (layers * items, layers, items, sizes, floats, magnitude, canonical_json(instance))


class Evaluator:
    """Evaluates cases of one candidate in its sandbox (results cached per instance)."""

    def __init__(self, sandbox: Sandbox, info: LoadInfo, options: CheckOptions) -> None:
        self.sandbox = sandbox
        self.info = info
        self.options = options
        self.cuda = options.device != "cpu" and _cuda_available()
        self.primary_device = "cuda" if options.device == "cuda" else "cpu"
        self._cache: OrderedDict[tuple[str, str], CaseResult] = OrderedDict()

    def cached(self, function: str, instance: Instance) -> CaseResult | None:
        return self._cache.get((function, canonical_json(instance)))

    def _caller(self, function: str) -> Caller:
        def call(
            instance: Instance, *, dtype: str, device: str, spec: str | None = None
        ) -> CallOutcome:
            return self.sandbox.call(
                function,
                instance.weights,
                call_args(instance),
                dtype=dtype,
                device=device,
                spec=spec,
            )

        return call

    def evaluate(self, function: str, instance: Instance) -> CaseResult:
        """Every check of one case (cached: the same instance is never run twice)."""
        key = (function, canonical_json(instance))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        result = self._evaluate(function, instance)
        self._cache[key] = result
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    def _evaluate(self, function: str, instance: Instance) -> CaseResult:
        options, caller = self.options, self._caller(function)
        dtype, device = natural_dtype(instance), self.primary_device
        first = caller(instance, dtype=dtype, device=device)
        context = {"dtype": dtype, "device": device}
        found = check_call(function, instance, first, policy=options.policy, context=context)
        if first.status in ("timeout", "crash"):
            return CaseResult(function, instance, tuple(found), None, first)
        second = caller(instance, dtype=dtype, device=device)
        found += check_determinism(function, instance, first, second, context)
        if any(finding.is_violation for finding in found):
            return CaseResult(function, instance, tuple(found), None, first)
        outputs = integer_outputs(first, function)
        objectives = layer_objectives(function, instance, outputs)
        found += replication_optimality(function, instance, outputs, options.policy, dtype=dtype)
        found += anti_affinity(function, instance, outputs)
        if options.relations:
            found += self._relations(function, instance, first, objectives, dtype)
        extra, metrics = reach_checks(self, function, instance, outputs, dtype)  # issue 10 hook
        found += extra
        return CaseResult(function, instance, tuple(found), tuple(objectives), first, metrics)

    def _relations(
        self,
        function: str,
        instance: Instance,
        primary: CallOutcome,
        objectives: Sequence[Fraction],
        dtype: str,
    ) -> list[Finding]:
        caller, policy, device = self._caller(function), self.options.policy, self.primary_device
        found = dtype_relation(caller, function, instance, primary, dtype, device, policy)
        found += scaling_relation(caller, function, instance, primary, dtype, device, policy)
        found += permutation_relation(caller, function, instance, objectives, dtype, device, policy)
        partner = self.info.partners.get(function)
        if partner:
            found += partner_differential(
                caller, function, instance, primary, partner, dtype, device
            )
        if self.options.device == "all" and self.cuda:
            found += device_differential(
                caller, function, instance, primary, objectives, dtype, policy
            )
        return found


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


# --- the fixed edge-case suite ------------------------------------------------------------------


def _zipf_layers(layers: int, n: int, seed: int) -> list[list[Number]]:
    """Deterministic skewed loads (a few hot experts), as in real MoE traffic."""
    import random

    rng = random.Random(seed)
    rows: list[list[Number]] = []
    for _ in range(layers):
        ranks = rng.sample(range(n), n)
        rows.append([int(10_000 / (rank + 1) ** 1.2) + rng.randrange(8) for rank in ranks])
    return rows


def edge_cases(function: str) -> list[tuple[str, Instance]]:
    """The fixed suite, by name: DeepSeek's published example and the shapes that break code."""
    ds = DEEPSEEK_WEIGHTS
    zero_row: list[Number] = [0] * 12
    if function == "balanced_packing":
        return [
            ("deepseek example", PackingInstance(ds, 4)),
            ("all-zero layer", PackingInstance([zero_row, ds[0]], 4)),
            ("all-equal layer", PackingInstance([[5] * 12], 3)),
            ("one item per pack", PackingInstance(ds, 12)),
            ("a single pack", PackingInstance(ds, 1)),
            ("float loads", PackingInstance([[w / 8 for w in row] for row in ds], 4)),
            ("many layers", PackingInstance(_zipf_layers(64, 32, seed=1), 8)),
        ]
    if function == "replicate_experts":
        return [
            ("deepseek example", ReplicationInstance(ds, 16)),
            ("all-zero layer", ReplicationInstance([zero_row, ds[0]], 16)),
            ("all-equal layer", ReplicationInstance([[7] * 12], 20)),
            ("no redundant slots", ReplicationInstance(ds, 12)),
            ("a single expert", ReplicationInstance([[5], [0]], 4)),
            ("float loads", ReplicationInstance([[w / 8 for w in row] for row in ds], 16)),
            ("many layers", ReplicationInstance(_zipf_layers(64, 32, seed=2), 48)),
        ]
    return [
        ("deepseek example", RebalanceInstance(ds, 16, 4, 2, 8)),
        ("all-zero layer", RebalanceInstance([zero_row, ds[0]], 16, 4, 2, 8)),
        ("all-equal layer", RebalanceInstance([[10] * 12], 16, 4, 2, 8)),
        ("no redundant slots", RebalanceInstance(ds, 12, 4, 2, 4)),
        ("one replica per GPU", RebalanceInstance(ds, 12, 4, 2, 12)),
        ("global fallback", RebalanceInstance(ds, 16, 3, 2, 8)),
        ("float loads", RebalanceInstance([[w / 8 for w in row] for row in ds], 16, 4, 2, 8)),
        ("many layers", RebalanceInstance(_zipf_layers(64, 32, seed=3), 48, 8, 4, 16)),
    ]


# --- results ------------------------------------------------------------------------------------


@dataclass
class FindingRecord:
    """One distinct finding (function, check): its smallest reproducer and how often it occurred."""

    finding: Finding
    occurrences: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {**self.finding.to_dict(), "occurrences": self.occurrences}


@dataclass
class CaseCounts:
    edge: int = 0
    generated: int = 0

    @property
    def total(self) -> int:
        return self.edge + self.generated


@dataclass(frozen=True)
class Progress:
    """A snapshot for live displays."""

    phase: str  # "edge cases" | "generated cases"
    function: str
    cases: int
    violations: int  # distinct (function, check) violations so far
    observations: int
    elapsed: float


@dataclass
class CheckResult:
    """Everything a check run found; `exit_code` is the CLI's verdict."""

    candidate: str
    functions: tuple[str, ...]
    options: CheckOptions
    records: dict[tuple[str, str, str], FindingRecord] = field(default_factory=dict)
    cases: dict[str, CaseCounts] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    worker_restarts: int = 0
    api: ApiRecord = field(default_factory=ApiRecord)  # issue 10 hook: profile, adapted, migration

    @property
    def violations(self) -> list[FindingRecord]:
        return [r for r in self.records.values() if r.finding.is_violation]

    @property
    def observations(self) -> list[FindingRecord]:
        return [r for r in self.records.values() if not r.finding.is_violation]

    @property
    def total_cases(self) -> int:
        return sum(counts.total for counts in self.cases.values())

    @property
    def exit_code(self) -> int:
        failing = self.records if self.options.strict else self.violations
        return 1 if failing else 0

    def rate(self, function: str, check: str) -> float:
        """The share of a function's cases in which an observation occurred."""
        record = self.records.get(("observation", function, check))
        cases = self.cases.get(function, CaseCounts()).total
        return record.occurrences / cases if record and cases else 0.0

    def record(self, case: CaseResult, generated: bool) -> None:
        counts = self.cases.setdefault(case.function, CaseCounts())
        if generated:
            counts.generated += 1
        else:
            counts.edge += 1
        self.api.record(case.function, case.outcome.adapted, case.metrics)  # issue 10 hook
        seen: set[tuple[str, str, str]] = set()
        for finding in case.findings:
            key = (finding.severity, finding.function or case.function, finding.check)
            if key in seen:
                continue
            seen.add(key)
            existing = self.records.get(key)
            if existing is None:
                self.records[key] = FindingRecord(finding)
                continue
            existing.occurrences += 1
            if _smaller(finding, existing.finding):
                existing.finding = finding

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable form (`--json`)."""
        ordered = sorted(
            self.records.values(),
            key=lambda r: (not r.finding.is_violation, r.finding.function, r.finding.check),
        )
        return {
            "candidate": self.candidate,
            "functions": list(self.functions),
            "options": {
                "budget": self.options.budget,
                "seed": self.options.seed,
                "policy": self.options.policy,
                "device": self.options.device,
                "strict": self.options.strict,
                "timeout": self.options.timeout,
                "max_cases": self.options.max_cases,
                "api": self.options.api,  # issue 10 hook (three lines)
                "fresh_instance": self.options.fresh_instance,
                "allow_cross_layer": self.options.allow_cross_layer,
            },
            "api": self.api.to_dict(),  # issue 10 hook (two lines)
            "migration": self.api.migration.to_dict(),
            "exit_code": self.exit_code,
            "elapsed_seconds": round(self.elapsed, 3),
            "cases": {
                fn: {"edge": c.edge, "generated": c.generated} for fn, c in self.cases.items()
            },
            "violations": len(self.violations),
            "observations": len(self.observations),
            "worker_restarts": self.worker_restarts,
            "notes": self.notes,
            "findings": [record.to_dict() for record in ordered],
        }


def _smaller(candidate: Finding, current: Finding) -> bool:
    if candidate.instance is None or current.instance is None:
        return False
    return instance_size(candidate.instance) < instance_size(current.instance)


# --- the run ------------------------------------------------------------------------------------


class StopChunk(BaseException):
    """Ends a Hypothesis chunk when its time slice is spent (a BaseException: not a failure)."""


class FailingCase(Exception):
    """Raised inside Hypothesis for a failing case; one subclass per check id."""


_FAILING_CLASSES: dict[str, type[FailingCase]] = {}


def _failing_class(check: str) -> type[FailingCase]:
    """A distinct exception class per check, so Hypothesis shrinks each separately."""
    if check not in _FAILING_CLASSES:
        name = "Failing_" + check.replace(".", "_")
        _FAILING_CLASSES[check] = type(name, (FailingCase,), {"check": check})
    return _FAILING_CLASSES[check]


@dataclass
class Trouble:
    """Timeouts and crashes per function: one that keeps hanging or crashing is not called again."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def count(self, case: CaseResult) -> None:
        if case.outcome.status in ("timeout", "crash"):
            self.counts.setdefault(case.function, Counter())[case.outcome.status] += 1

    def abandoned(self, function: str) -> bool:
        counts = self.counts.get(function, Counter())
        return counts["timeout"] >= MAX_TIMEOUTS or counts["crash"] >= MAX_CRASHES


def abandon_note(function: str) -> str:
    return f"{function}: stopped calling it after repeated timeouts or crashes"


def chunk_settings(**overrides: Any) -> Any:
    """Hypothesis settings of one time-boxed chunk: quiet, no deadline, no health checks, no
    example database (`overrides` change any of them, e.g. `fuzz`'s database and phases)."""
    from hypothesis import HealthCheck, Phase, Verbosity, settings

    chosen: dict[str, Any] = {
        "database": None,
        "deadline": None,
        "derandomize": False,
        "max_examples": CHUNK_EXAMPLES,
        "phases": (Phase.generate, Phase.target, Phase.shrink),
        "report_multiple_bugs": False,
        "suppress_health_check": list(HealthCheck),
        "verbosity": Verbosity.quiet,
        "print_blob": False,
    }
    return settings(**{**chosen, **overrides})


@dataclass
class Chunk:
    """State of one time-boxed Hypothesis run for one function (used by `check` and `fuzz`)."""

    function: str
    deadline: float
    shrink_allowance: float
    target: str | None = None  # the check this chunk is shrinking
    shrink_deadline: float = 0.0

    def pursue(self, failing: Sequence[str], shrunk: set[str], now: float) -> None:
        """Adopt the first failing check not shrunk before as the target; while a case fails
        that target, raise its `FailingCase` so Hypothesis shrinks towards it."""
        if self.target is None:
            fresh = [check for check in failing if check not in shrunk]
            if fresh:
                self.target = fresh[0]
                self.shrink_deadline = now + self.shrink_allowance
        if self.target is not None and self.target in failing:
            raise _failing_class(self.target)()


def derived_seed(seed: int, *parts: object) -> int:
    """A stable seed for one chunk (independent of PYTHONHASHSEED)."""
    text = ":".join(str(part) for part in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


class CheckRun:
    """One `check` run of a candidate; `run()` returns the result (raises `CandidateError`).

    The engine `fuzz` runs too: a subclass changes it through the named extension points below
    (class attributes, `_settings`, `_interrupted`, `_interrupt_guard`, `_phases`, `_finish`,
    `_note`, `_abandoned`, `_recorded` and `_after_case`), never through a copy of the loop.
    """

    seed_tag: tuple[str, ...] = ()  # mixed into every chunk's derived seed
    min_shrink_seconds = 1.0  # a chunk shrinks for at least this long (else a quarter budget)
    # True: cached cases are replayed whatever the time, and once the shrinking time is up unseen
    # cases count as passing (Hypothesis finishes on what it has). False: time up ends the chunk.
    replay_cached = False
    detect_stalls = True  # a function whose whole chunk brings no new case leaves the rotation
    elapsed_includes_loading = True  # `elapsed` counts loading the candidate

    def __init__(
        self,
        spec: str,
        options: CheckOptions | None = None,
        *,
        progress: ProgressHook | None = None,
    ) -> None:
        self.spec = spec
        self.options = options or CheckOptions()
        self.progress = progress
        self.result = CheckResult(spec, (), self.options)
        self._started = 0.0
        self._budget_start = 0.0
        self._done: dict[str, set[str]] = {}  # checks already shrunk, per function
        self._trouble = Trouble()
        self._phase = "edge cases"

    # -- public --

    def run(self) -> CheckResult:
        self._started = time.monotonic()
        devices = ("cuda",) if self.options.device != "cpu" else ()
        options = self.options
        sandbox = Sandbox(
            self.spec,
            timeout=options.timeout,
            devices=devices,
            api=options.api,  # issue 10 hook: the profile settings go to the worker
            policy=options.policy,
            fresh_instance=options.fresh_instance,
        )
        self.result.api.requested = options.api
        with sandbox, self._interrupt_guard():
            info = sandbox.start()
            self.result.api.loaded(info.profile, info.profile_notes)  # issue 10 hook
            self._budget_start = time.monotonic()  # loading the candidate is not checking it
            if not self.elapsed_includes_loading:
                self._started = self._budget_start
            functions = tuple(fn for fn in FUNCTIONS if fn in info.functions)
            wanted = tuple(fn for fn in functions if fn in self.options.functions)
            self.result.functions = wanted
            evaluator = Evaluator(sandbox, info, self.options)
            self._note_devices(evaluator)
            try:
                self._phases(evaluator, wanted)
            finally:
                self._finish(sandbox)
        return self.result

    # -- extension points (no-ops or `check`'s choices here) --

    def _settings(self, function: str) -> Any:
        """Hypothesis settings of one chunk of `function`."""
        return chunk_settings()

    def _interrupted(self) -> bool:
        """True once the run should stop early (checked between cases)."""
        return False

    def _interrupt_guard(self) -> contextlib.AbstractContextManager[None]:
        """Wraps loading and checking (e.g. a SIGINT handler)."""
        return contextlib.nullcontext()

    def _phases(self, evaluator: Evaluator, functions: Sequence[str]) -> None:
        if self.options.edge_cases:
            self._edge_suite(evaluator, functions)
        self._phase = "generated cases"
        self._generated(evaluator, functions)

    def _finish(self, sandbox: Sandbox) -> None:
        self.result.elapsed = time.monotonic() - self._started
        self.result.worker_restarts = sandbox.restarts

    def _note(self, note: str) -> None:
        self.result.notes.append(note)

    def _abandoned(self, function: str) -> bool:
        return self._trouble.abandoned(function)

    def _recorded(self, case: CaseResult) -> None:
        """After a new case is recorded: report progress."""
        if self.progress:
            self.progress(
                Progress(
                    self._phase,
                    case.function,
                    self.result.total_cases,
                    len(self.result.violations),
                    len(self.result.observations),
                    time.monotonic() - self._started,
                )
            )

    def _after_case(self, case: CaseResult, in_test: bool) -> None:
        """After each edge case, and inside the Hypothesis test after each case (cached ones
        too; `in_test`), before its failing checks are pursued."""

    # -- bookkeeping --

    def _note_devices(self, evaluator: Evaluator) -> None:
        if self.options.device == "all" and not evaluator.cuda:
            self._note("CUDA is not available: the CPU/CUDA differential was skipped")

    def _record(self, case: CaseResult, generated: bool) -> None:
        self.result.record(case, generated)
        self._trouble.count(case)
        self._recorded(case)

    def _abandon_note(self, function: str) -> None:
        note = abandon_note(function)
        if note not in self.result.notes:
            self._note(note)

    # -- edge cases --

    def _edge_suite(self, evaluator: Evaluator, functions: Sequence[str]) -> None:
        for function in functions:
            for _name, instance in edge_cases(function):
                if self._interrupted():
                    return
                if self._abandoned(function):
                    self._abandon_note(function)
                    break
                case = evaluator.evaluate(function, instance)
                self._record(case, generated=False)
                self._after_case(case, in_test=False)

    # -- generated cases --

    def _generated(self, evaluator: Evaluator, functions: Sequence[str]) -> None:
        """Round robin over the functions in chunks: time slices, or case counts (`max_cases`).

        A function leaves the rotation when it reaches `max_cases`, is abandoned (hangs,
        crashes), or a whole chunk brings no new case (its instance space is exhausted).
        """
        budget_end = self._budget_start + self.options.budget
        active = [fn for fn in functions if self._wants_cases(fn)]
        round_ = 0
        while active and time.monotonic() < budget_end and not self._interrupted():
            stalled = set()
            for function in active:
                remaining = budget_end - time.monotonic()
                if remaining <= 0 or self._interrupted():
                    break
                deadline = budget_end
                if self.options.max_cases is None:
                    slice_ = max(0.5, min(remaining, self.options.budget / (4 * len(active))))
                    deadline = time.monotonic() + slice_
                before = self._generated_cases(function)
                self._chunk(evaluator, function, round_, deadline)
                if self.detect_stalls and self._generated_cases(function) == before:
                    stalled.add(function)
            for function in active:
                if self._abandoned(function):
                    self._abandon_note(function)
            active = [fn for fn in active if self._wants_cases(fn) and fn not in stalled]
            round_ += 1

    def _generated_cases(self, function: str) -> int:
        counts = self.result.cases.get(function)
        return counts.generated if counts else 0

    def _wants_cases(self, function: str) -> bool:
        if self._abandoned(function):
            return False
        limit = self.options.max_cases
        return limit is None or self._generated_cases(function) < limit

    def _chunk(self, evaluator: Evaluator, function: str, round_: int, deadline: float) -> None:
        from hypothesis import given, seed

        from verifier.strategies import instances_for

        shrink_allowance = max(self.min_shrink_seconds, 0.25 * self.options.budget)
        chunk = Chunk(function, deadline, shrink_allowance)

        @self._settings(function)
        @seed(derived_seed(self.options.seed, *self.seed_tag, function, round_))
        @given(instances_for(function))
        def cases(instance: Instance) -> None:
            self._one_case(evaluator, chunk, instance)

        try:
            cases()
        except StopChunk:
            pass
        except FailingCase:
            pass  # the shrunk reproducer is already recorded
        except Exception as error:  # Hypothesis's own (flaky, unsatisfiable): keep going
            self._note(f"{function}: Hypothesis stopped a run early: {type(error).__name__}")
        if chunk.target is not None:
            self._done.setdefault(function, set()).add(chunk.target)

    def _one_case(self, evaluator: Evaluator, chunk: Chunk, instance: Instance) -> None:
        if self._interrupted():
            raise StopChunk
        function = chunk.function
        now = time.monotonic()
        case = evaluator.cached(function, instance)
        if case is None or not self.replay_cached:
            shrinking = chunk.target is not None
            deadline = chunk.shrink_deadline if shrinking else chunk.deadline
            done = self._abandoned(function) or (not shrinking and not self._wants_cases(function))
            if now > deadline or done:
                if shrinking and self.replay_cached:
                    return  # shrinking time is up: unseen cases count as passing
                # The smallest reproducer seen is already recorded, so stopping loses nothing.
                raise StopChunk
            if case is None:
                case = evaluator.evaluate(function, instance)
                self._record(case, generated=True)
        self._after_case(case, in_test=True)
        failing = [f.check for f in case.failing(self.options.strict)]
        chunk.pursue(failing, self._done.get(function, set()), now)


def run_check(
    spec: str, options: CheckOptions | None = None, *, progress: ProgressHook | None = None
) -> CheckResult:
    """Check a candidate; raises `CandidateError` when it cannot be loaded."""
    return CheckRun(spec, options, progress=progress).run()

"""Fuzz campaigns: hunt a candidate's contract violations and its worst optimality gaps.

A campaign first runs `check`'s fixed edge cases, then drives Hypothesis round robin over the
functions the candidate defines, in time-boxed chunks with seeds derived from `--seed`, until the
budget (which starts once the candidate is loaded) is spent. It is the engine `check` runs
(`verifier.runs.engine.Engine`) given `FuzzHooks`; every case goes through the same per-case
evaluation (`verifier.judging.evaluator.Evaluator`: the sandboxed call, the one invariant checker,
determinism, metamorphic relations, differentials), so fuzz and check can never disagree on what a
violation is. On top of that, every valid case is scored against the oracle and
`hypothesis.target` steers generation towards large gaps (and, with `--baseline`, towards the
worst ratio of the candidate's objective to the baseline's):

- each layer's certified gap against the cheap lower bound (`verifier.oracle.lower_bound`);
- for the worst layer of a case, when it is small enough, the exact gap against the proven optimum
  (`verifier.oracle.solve_layer` with a deterministic time limit).

Layers are independent problems, so the worst layer alone (a one-layer instance) is the worst-gap
reproducer. A violation is shrunk by Hypothesis to a minimal reproducer. The example database
(failing and best-targeted examples) lives in a folder the user keeps (`.eplb-verify/examples` by
default), one sub-folder per candidate and function, so the next campaign starts from them.
Ctrl-C ends the campaign early and keeps everything found so far.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from verifier.judging.evaluator import CaseResult
from verifier.model.elastic import has_dead_ranks
from verifier.model.instances import (
    Instance,
    PackingInstance,
    ReplicationInstance,
    instance_hash,
    instance_to_dict,
    num_items,
    one_layer,
)
from verifier.model.objectives import gap_float, relative_gap
from verifier.model.options import EngineOptions, RunOptions
from verifier.runs.chunks import chunk_settings
from verifier.runs.engine import Engine, RunHooks
from verifier.runs.results import EngineResult

DEFAULT_DATABASE = Path(".eplb-verify") / "examples"
FUZZ_CHUNK_MAX_EXAMPLES = 100_000  # a cap; chunks end on their time slice long before
WORST_KEPT = 5  # worst-gap instances kept per function
# Gaps at or below this are noise (a certified bound on huge loads is scaled, not exact): not kept.
MIN_GAP = 1e-9
GAP_CACHE = 4096  # gaps remembered (Hypothesis replays cases while shrinking)
ORACLE_TIME_LIMIT = 0.5  # deterministic seconds per exact solve of one layer
# Layers small enough for an exact solve inside a fuzz case.
EXACT_PACKING_ITEMS = 32
EXACT_REBALANCE_EXPERTS = 12
EXACT_REBALANCE_REPLICAS = 16


@dataclass(frozen=True)
class FuzzOptions(RunOptions):
    """The shared run options (a longer default budget) and the example database."""

    budget: float = 60.0  # seconds of generated cases
    database: Path | str | None = DEFAULT_DATABASE  # a folder or redis:// URL; None: none


@dataclass(frozen=True)
class GapCase:
    """A layer's optimality gap: exact against a proven optimum, else against a certified bound."""

    function: str
    instance: Instance  # the one-layer instance
    objective: Fraction
    reference: Fraction  # the proven optimum (exact) or the certified lower bound
    exact: bool

    @property
    def gap(self) -> float:
        """Relative gap (objective - reference) / reference; 0 for 0/0, inf over a zero bound."""
        return gap_float(relative_gap(self.objective, self.reference))

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "gap": "inf" if math.isinf(self.gap) else self.gap,
            "kind": "exact (proven optimum)" if self.exact else "certified (lower bound)",
            "objective": str(self.objective),
            "reference": str(self.reference),
            "instance": instance_to_dict(self.instance),
        }


def single_layer(instance: Instance, layer: int) -> Instance:
    """The instance restricted to one layer (layers are independent problems)."""
    return one_layer(instance, layer)


def exact_solvable(instance: Instance) -> bool:
    """Small enough for an exact solve within a fuzz case."""
    if isinstance(instance, PackingInstance):
        return num_items(instance) <= EXACT_PACKING_ITEMS
    if isinstance(instance, ReplicationInstance):
        return True
    return (
        num_items(instance) <= EXACT_REBALANCE_EXPERTS
        and instance.num_replicas <= EXACT_REBALANCE_REPLICAS
    )


def measure_gap(function: str, instance: Instance, objectives: Sequence[Fraction]) -> GapCase:
    """The case's worst layer by certified gap, then its exact gap when it is small enough."""
    from verifier.oracle import lower_bound, solve_layer

    def certified(layer: int) -> GapCase:
        bound = Fraction(lower_bound(instance, layer))
        return GapCase(
            function, single_layer(instance, layer), objectives[layer], bound, exact=False
        )

    worst = max((certified(layer) for layer in range(len(objectives))), key=lambda c: c.gap)
    if worst.gap == 0 or not exact_solvable(instance):
        return GapCase(function, worst.instance, worst.objective, worst.reference, worst.gap == 0)
    solution = solve_layer(worst.instance, 0, time_limit=ORACLE_TIME_LIMIT, seed=0)
    if solution.status == "optimal":
        return GapCase(
            function, worst.instance, worst.objective, Fraction(solution.objective), True
        )
    bound = max(worst.reference, Fraction(solution.bound))
    return GapCase(function, worst.instance, worst.objective, bound, exact=False)


@dataclass
class FuzzStats:
    """Per function: cases evaluated and the worst gap seen."""

    cases: int = 0
    valid: int = 0
    worst: list[GapCase] = field(default_factory=list)  # worst first, distinct instances

    def offer(self, case: GapCase) -> None:
        if case.gap <= MIN_GAP:
            return
        if any(_same_case(kept, case) for kept in self.worst):
            return
        self.worst.append(case)
        self.worst.sort(key=lambda kept: (-kept.gap, not kept.exact))
        del self.worst[WORST_KEPT:]


def _same_case(left: GapCase, right: GapCase) -> bool:
    """The same instance, or the same loads written once as ints and once as floats."""
    if instance_hash(left.instance) == instance_hash(right.instance):
        return True
    return (
        left.instance.sizes() == right.instance.sizes()
        and (left.objective, left.reference) == (right.objective, right.reference)
        and [[Fraction(v) for v in row] for row in left.instance.weights]
        == [[Fraction(v) for v in row] for row in right.instance.weights]
    )


@dataclass(frozen=True)
class FuzzProgress:
    """A snapshot for the live display."""

    cases: int
    rate: float  # cases per second
    violations: int
    worst_gap: float | None
    worst_function: str
    elapsed: float


@dataclass
class FuzzResult:
    candidate: str
    options: FuzzOptions
    findings: EngineResult
    stats: dict[str, FuzzStats] = field(default_factory=dict)
    elapsed: float = 0.0
    interrupted: bool = False
    corpus_added: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(stats.cases for stats in self.stats.values())

    @property
    def exit_code(self) -> int:
        return self.findings.exit_code

    def worst(self) -> list[GapCase]:
        """Every kept worst-gap case, worst first."""
        cases = [case for stats in self.stats.values() for case in stats.worst]
        return sorted(cases, key=lambda case: -case.gap)

    def to_dict(self) -> dict[str, Any]:
        checked = self.findings.to_dict()
        return {
            "candidate": self.candidate,
            "seed": self.options.seed,
            "budget": self.options.budget,
            "database": None if self.options.database is None else str(self.options.database),
            "elapsed_seconds": round(self.elapsed, 3),
            "interrupted": self.interrupted,
            "exit_code": self.exit_code,
            "cases": {
                function: {"evaluated": stats.cases, "valid": stats.valid}
                for function, stats in self.stats.items()
            },
            "violations": checked["violations"],
            "observations": checked["observations"],
            "findings": checked["findings"],
            "worst_gaps": [case.to_dict() for case in self.worst()],
            "baseline": checked["baseline"],  # worse / equal / better, the worst ratio
            "api": checked["api"],  # the API profile and migration
            "migration": checked["migration"],
            "devices": checked["devices"],  # real CUDA, the default-device probe, or CPU only
            "corpus_added": self.corpus_added,
            "notes": self.notes + checked["notes"],
        }


FuzzProgressHook = Callable[[FuzzProgress], None]


class FuzzCampaign:
    """One campaign against one candidate; `run()` returns what it found (even when interrupted).

    Raises `CandidateError` when the candidate cannot be loaded.
    """

    def __init__(
        self,
        spec: str,
        options: FuzzOptions | None = None,
        progress: FuzzProgressHook | None = None,
    ) -> None:
        self.spec = spec
        self.options = options or FuzzOptions()
        self.engine_options = EngineOptions(**self.options.shared())
        findings = EngineResult(spec, (), self.engine_options)
        self.result = FuzzResult(spec, self.options, findings)
        hooks = FuzzHooks(self.result, progress)
        self._engine = Engine(spec, self.engine_options, hooks, result=findings)

    def run(self) -> FuzzResult:
        self._engine.run()
        return self.result


class FuzzHooks(RunHooks):
    """`fuzz`'s behaviour around the engine: gap scoring and `hypothesis.target` on every case,
    the example database, Ctrl-C via a flag, no stall detection, lenient shrinking time. It fills
    in the campaign's `FuzzResult` (stats, notes, elapsed, interrupted)."""

    seed_tag = ("fuzz",)
    min_shrink_seconds = 3.0
    replay_cached = True
    detect_stalls = False
    elapsed_includes_loading = False  # the budget is for cases, not for loading
    note_abandoned_at_once = True  # the campaign has no end-of-round report

    def __init__(self, fuzz: FuzzResult, progress: FuzzProgressHook | None = None) -> None:
        self.fuzz = fuzz
        self.progress = progress
        self._gaps: OrderedDict[tuple[str, str], GapCase] = OrderedDict()
        self._stopping = False

    def stopping(self) -> bool:
        return self._stopping

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Ctrl-C sets a flag that ends the campaign after the current case (a second one
        interrupts at once). A KeyboardInterrupt raised inside library callbacks could be lost."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_interrupt(signum: int, frame: Any) -> None:
            if self._stopping:
                raise KeyboardInterrupt
            self._stopping = True

        previous = signal.signal(signal.SIGINT, on_interrupt)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def absorb_interrupt(self) -> bool:
        self._stopping = True
        return True

    def finish(self, result: EngineResult) -> None:
        self.fuzz.interrupted = self._stopping
        self.fuzz.elapsed = result.elapsed

    def note(self, result: EngineResult, note: str) -> None:
        if note not in self.fuzz.notes:
            self.fuzz.notes.append(note)

    def settings(self, function: str) -> Any:
        """`check`'s chunk settings, with the example database and its reuse phase."""
        from hypothesis import Phase

        from verifier.runs.database import open_store

        database = None
        if self.fuzz.options.database is not None:  # a folder or a redis:// URL
            store = open_store(str(self.fuzz.options.database))
            database = store.database(self.fuzz.candidate, function)
        return chunk_settings(
            database=database,
            max_examples=FUZZ_CHUNK_MAX_EXAMPLES,
            phases=(Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
        )

    def after_case(self, case: CaseResult, in_test: bool) -> None:
        """Score the case's gap; inside Hypothesis, steer generation towards large gaps."""
        from hypothesis import target

        gap = self._gap(case)
        if in_test and gap is not None and math.isfinite(gap.gap):
            target(gap.gap, label="optimality gap")
        ratio = case.metrics.get("baseline", {}).get("ratio")
        if in_test and self.fuzz.options.baseline is not None and ratio is not None:
            target(ratio, label="ratio to the baseline")  # towards the worst regression

    def _gap(self, case: CaseResult) -> GapCase | None:
        if case.objectives is None or not case.objectives:
            return None
        key = (case.function, instance_hash(case.instance))
        found = self._gaps.get(key)
        if found is None:
            try:
                found = measure_gap(case.function, case.instance, case.objectives)
            except Exception as error:  # an oracle bug must not end the campaign
                note = f"{case.function}: the oracle failed ({type(error).__name__}: {error})"
                if note not in self.fuzz.notes:
                    self.fuzz.notes.append(note[:300])
                return None
            self.fuzz.stats.setdefault(case.function, FuzzStats()).offer(found)
            self._gaps[key] = found
            if len(self._gaps) > GAP_CACHE:
                self._gaps.popitem(last=False)
        return found

    def recorded(self, case: CaseResult, result: EngineResult, phase: str, elapsed: float) -> None:
        stats = self.fuzz.stats.setdefault(case.function, FuzzStats())
        stats.cases += 1
        stats.valid += case.objectives is not None
        if self.progress is not None:
            worst = self.fuzz.worst()
            self.progress(
                FuzzProgress(
                    self.fuzz.cases,
                    self.fuzz.cases / elapsed if elapsed > 0 else 0.0,
                    len(result.violations),
                    worst[0].gap if worst else None,
                    worst[0].function if worst else "",
                    elapsed,
                )
            )


# --- keeping what was found ---------------------------------------------------------------------

CorpusReport = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


def campaign_name(result: FuzzResult, date: str) -> str:
    return f"eplb-verify fuzz {result.candidate} --seed {result.options.seed} ({date})"


def corpus_candidates(result: FuzzResult) -> list[tuple[str, Instance, str]]:
    """(family, instance, description) of everything worth keeping: every violation's shrunk
    reproducer and each function's worst-gap instance (when its gap is positive)."""
    chosen: list[tuple[str, Instance, str]] = []
    for record in result.findings.violations:
        finding = record.finding
        if finding.instance is not None:
            chosen.append(
                (
                    "fuzz-violation",
                    finding.instance,
                    f"{result.candidate} {finding.function}: {finding.check}: {finding.message}",
                )
            )
    for function, stats in result.stats.items():
        for case in stats.worst[:1]:
            if case.gap > 0:
                kind = "exact" if case.exact else "certified"
                chosen.append(
                    (
                        "fuzz-worst-gap",
                        case.instance,
                        f"{result.candidate} {function}: worst {kind} gap {case.gap:.4%}",
                    )
                )
    return chosen


def add_to_corpus(
    result: FuzzResult,
    corpus_dir: Path,
    *,
    date: str | None = None,
    time_limit: float | None = None,
    report: CorpusReport = _quiet,
) -> list[str]:
    """Add the campaign's reproducers and worst-gap instances to a corpus (duplicates skipped).

    Provenance: source "fuzz", the campaign (candidate, seed, date) and the seed. Returns the paths
    written; each is also appended to `result.corpus_added`.
    """
    import datetime

    from verifier.corpus import Provenance, add_instance
    from verifier.corpus.records import variant_pool, variant_specs

    today = date or datetime.date.today().isoformat()
    added = []
    with variant_pool(variant_specs()) as pool:  # one sandbox for every record's baselines
        for family, instance, description in corpus_candidates(result):
            if has_dead_ranks(instance):  # its baselines (the reference variants) take no mask
                report(f"not added: {family} {instance_hash(instance)} has dead ranks")
                continue
            provenance = Provenance(
                family=family,
                source="fuzz",
                date=today,
                description=description,
                seed=result.options.seed,
                campaign=campaign_name(result, today),
            )
            path = add_instance(
                corpus_dir, instance, provenance, time_limit=time_limit, report=report, pool=pool
            )
            if path is None:
                report(f"already in the corpus: {family} {instance_hash(instance)}")
                continue
            added.append(str(path))
            report(f"added {path}")
    result.corpus_added += added
    return added

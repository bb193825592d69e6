"""Replaying the corpus: every variant on every record, compared exactly with its baseline.

Per record and variant, replay runs the variant (sandboxed, one pool per run, through
`verifier.judging.judge` like every other command), checks the contract (the shared invariant
checker), recomputes each layer's objective exactly and compares it with the recorded baseline:
worse is a regression (a failure), better is an improvement (reported; recorded only by
`rebaseline`). Comparisons are exact Fractions; only instances with real-valued loads get a tiny
relative tolerance (float decisions inside a candidate may flip on near-ties across platforms).
Replay also checks each record against the oracle: no variant below the certified bound or a
proven optimum, the closed-form optimum where one is known, and today's cheap bound never above
a recorded optimum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from verifier.calling.pool import SandboxPool
from verifier.corpus.records import (
    Variants,
    baseline_records,
    budgeted_layer,
    call_failure,
    has_move_budget,
    run_variant,
    variant_pool,
    variant_specs,
    violation_messages,
)
from verifier.corpus.reprove import same_result
from verifier.corpus.schema import Baseline, CorpusEntry
from verifier.corpus.store import BrokenRecord
from verifier.model.instances import Instance
from verifier.model.objectives import relative_gap

FLOAT_TOLERANCE = Fraction(1, 10**9)  # relative, for real-valued loads only

Kind = Literal[
    "ok", "improvement", "unrecorded", "regression", "violation", "error", "below-bound", "oracle"
]
FAILURES: frozenset[str] = frozenset({"regression", "violation", "error", "below-bound", "oracle"})


@dataclass(frozen=True)
class LayerChange:
    """One layer whose objective differs from the baseline."""

    layer: int
    recorded: Fraction
    measured: Fraction

    def describe(self) -> str:
        delta = relative_gap(self.measured, self.recorded)
        change = "" if delta is None else f" ({float(delta):+.4%})"
        return f"layer {self.layer}: {self.recorded} -> {self.measured}{change}"


@dataclass(frozen=True)
class Outcome:
    """The verdict on one record (and one variant, unless it is about the record itself)."""

    entry: CorpusEntry
    variant: str
    kind: Kind
    message: str = ""
    changes: list[LayerChange] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.kind in FAILURES

    def describe(self) -> str:
        where = f"{self.entry.path or self.entry.name}"
        who = f" [{self.variant}]" if self.variant else ""
        return f"{self.kind}: {where}{who}: {self.message}"


@dataclass
class ReplayReport:
    """Everything a replay found; `failed` when any record is broken or any outcome failed."""

    outcomes: list[Outcome] = field(default_factory=list)
    broken: list[BrokenRecord] = field(default_factory=list)

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.failed]

    @property
    def failed(self) -> bool:
        return bool(self.broken or self.failures)

    def of_kind(self, kind: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.kind == kind]


def is_real_valued(instance: Instance) -> bool:
    return any(isinstance(value, float) for row in instance.weights for value in row)


def _slack(recorded: Fraction, real_valued: bool) -> Fraction:
    return FLOAT_TOLERANCE * abs(recorded) if real_valued else Fraction(0)


def worse(measured: Fraction, recorded: Fraction, real_valued: bool) -> bool:
    return measured > recorded + _slack(recorded, real_valued)


def better(measured: Fraction, recorded: Fraction, real_valued: bool) -> bool:
    return measured < recorded - _slack(recorded, real_valued)


def compare(entry: CorpusEntry, variant: str, objectives: list[Fraction]) -> Outcome:
    """Classify measured objectives against the oracle and the recorded baseline."""
    for layer, (value, record) in enumerate(zip(objectives, entry.oracle.layers, strict=True)):
        if value < record.bound:
            kind = "proven optimum" if record.proven else "certified bound"
            return Outcome(
                entry,
                variant,
                "below-bound",
                f"layer {layer}: objective {value} is below the recorded {kind} {record.bound}",
            )
    baseline = entry.baselines.get(variant)
    if baseline is None:
        return Outcome(entry, variant, "unrecorded", "no baseline recorded (run rebaseline)")
    real = is_real_valued(entry.instance)
    pairs = list(zip(baseline.objectives, objectives, strict=True))
    regressions = [
        LayerChange(layer, old, new)
        for layer, (old, new) in enumerate(pairs)
        if worse(new, old, real)
    ]
    if regressions:
        shown = "; ".join(change.describe() for change in regressions[:3])
        more = f" (+{len(regressions) - 3} more layers)" if len(regressions) > 3 else ""
        return Outcome(
            entry, variant, "regression", f"worse than recorded: {shown}{more}", regressions
        )
    gains = [
        LayerChange(layer, old, new)
        for layer, (old, new) in enumerate(pairs)
        if better(new, old, real)
    ]
    if gains:
        shown = "; ".join(change.describe() for change in gains[:3])
        return Outcome(entry, variant, "improvement", f"better than recorded: {shown}", gains)
    return Outcome(entry, variant, "ok")


def replay_variant(entry: CorpusEntry, variant: str, spec: str, pool: SandboxPool) -> Outcome:
    """Run one candidate (by spec, in `pool`) on one record and judge it: a failed call (raised,
    hung, crashed) is an "error", a broken contract a "violation"."""
    verdict = run_variant(pool, spec, entry.instance)
    failure = call_failure(verdict)
    if failure is not None:
        return Outcome(entry, variant, "error", failure)
    problems = violation_messages(verdict)
    if problems or verdict.objectives is None:
        return Outcome(entry, variant, "violation", "; ".join(problems[:3]) or "no objectives")
    return compare(entry, variant, list(verdict.objectives))


def _closed_form_problems(entry: CorpusEntry) -> list[str]:
    closed = entry.provenance.extra.get("closed_form")
    if not isinstance(closed, dict) or "optimum" not in closed:
        return []
    try:
        optimum = Fraction(closed["optimum"])
    except (TypeError, ValueError, ZeroDivisionError):
        return [f"provenance.extra.closed_form.optimum is not a rational: {closed['optimum']!r}"]
    problems = []
    for layer, record in enumerate(entry.oracle.layers):
        if record.proven and record.objective != optimum:
            problems.append(
                f"layer {layer}: recorded optimum {record.objective} != closed form {optimum}"
            )
        elif record.bound > optimum:
            problems.append(f"layer {layer}: recorded bound {record.bound} > closed form {optimum}")
    return problems


def _cheap_bound_problems(entry: CorpusEntry) -> list[str]:
    """Today's certified bound must never exceed a recorded optimum (or the best known value)."""
    from verifier.oracle import lower_bound

    problems = []
    for layer, record in enumerate(entry.oracle.layers):
        best = [record.objective] if record.objective is not None else []
        best += [baseline.objectives[layer] for baseline in entry.baselines.values()]
        if not best:
            continue
        bound = Fraction(lower_bound(entry.instance, layer))
        if bound > min(best):
            problems.append(
                f"layer {layer}: lower_bound {bound} exceeds recorded value {min(best)}"
            )
    return problems


def _move_budget_problems(entry: CorpusEntry) -> list[str]:
    """A record with a move budget: today's OPT(max_moves) must equal the recorded one (same
    deterministic limit and seed), so a regression of the migration-aware oracle fails."""
    if not has_move_budget(entry.instance) or entry.oracle.time_limit is None:
        return []
    problems = []
    for layer, record in enumerate(entry.oracle.layers):
        now = budgeted_layer(entry.instance, layer, entry.oracle.time_limit, entry.oracle.seed)
        if not same_result(record, now):
            problems.append(
                f"layer {layer}: OPT(max_moves) is now {now.objective} (bound {now.bound}, "
                f"{now.status}); recorded {record.objective} (bound {record.bound}, "
                f"{record.status})"
            )
    return problems


def check_record(entry: CorpusEntry) -> list[Outcome]:
    """Checks of the record itself (oracle consistency), independent of any variant."""
    problems = _closed_form_problems(entry) + _cheap_bound_problems(entry)
    problems += _move_budget_problems(entry)
    return [Outcome(entry, "", "oracle", problem) for problem in problems]


ReplayProgress = Callable[[CorpusEntry], None]


def replay(
    entries: list[CorpusEntry],
    broken: list[BrokenRecord] | None = None,
    variants: Variants | None = None,
    progress: ReplayProgress | None = None,
    pool: SandboxPool | None = None,
) -> ReplayReport:
    """Replay every record on every variant (name -> candidate spec; default: every reference
    variant), all calls in one sandbox pool (`pool` when given, holding those specs)."""
    candidates = variant_specs() if variants is None else dict(variants)
    report = ReplayReport(broken=list(broken or []))
    with variant_pool(candidates, pool) as boxes:
        for entry in entries:
            report.outcomes.extend(check_record(entry))
            scratch = not has_move_budget(entry.instance)  # variants plan without a budget
            for name, spec in candidates.items() if scratch else ():
                report.outcomes.append(replay_variant(entry, name, spec, boxes))
            if progress is not None:
                progress(entry)
    return report


# --------------------------------------------------------------------------- rebaseline


@dataclass(frozen=True)
class BaselineDiff:
    """How a record's baselines change: per variant, the layers that moved; added and dropped."""

    entry: CorpusEntry
    new_entry: CorpusEntry
    changed: dict[str, list[LayerChange]]
    added: list[str]
    dropped: list[str]

    @property
    def empty(self) -> bool:
        return not (self.changed or self.added or self.dropped)

    def lines(self) -> list[str]:
        out = []
        for name in self.added:
            out.append(f"  + {name}: new baseline")
        for name in self.dropped:
            out.append(f"  - {name}: baseline dropped")
        for name, changes in sorted(self.changed.items()):
            for change in changes:
                out.append(f"  ~ {name}: {change.describe()}")
        return out


def diff_baselines(entry: CorpusEntry, new: Mapping[str, Baseline], keep: set[str]) -> BaselineDiff:
    """Compare freshly measured baselines with the recorded ones.

    The result holds `new` plus the old baselines named in `keep` (variants not re-measured,
    or whose re-measurement failed); every other old baseline is dropped.
    """
    old = entry.baselines
    merged = {name: baseline for name, baseline in old.items() if name in keep}
    merged.update(new)
    changed: dict[str, list[LayerChange]] = {}
    for name in sorted(set(old) & set(new)):
        moved = [
            LayerChange(layer, before, after)
            for layer, (before, after) in enumerate(
                zip(old[name].objectives, new[name].objectives, strict=True)
            )
            if before != after
        ]
        if moved:
            changed[name] = moved
    added = sorted(set(new) - set(old))
    dropped = sorted(set(old) - set(merged))
    return BaselineDiff(entry, entry.with_baselines(merged), changed, added, dropped)


def rebaseline_entry(
    entry: CorpusEntry,
    variants: Variants | None = None,
    *,
    prune: bool = True,
    report: Callable[[str], None] | None = None,
    pool: SandboxPool | None = None,
) -> BaselineDiff:
    """Re-measure the baselines of one record (the caller decides whether to write them).

    A variant that now fails (raises, hangs, crashes, breaks the contract) keeps its old
    baseline and is reported. With `prune`, baselines of variants no longer in `variants` are
    dropped. `pool` (holding the variants' specs) is reused when given.
    """
    candidates = variant_specs() if variants is None else dict(variants)
    notes: list[str] = []
    new = baseline_records(entry.instance, entry.oracle, candidates, notes.append, pool)
    if report is not None:
        for note in notes:
            report(f"{entry.path or entry.name}: {note}")
    failed = set(candidates) - set(new)
    keep = failed if prune else (set(entry.baselines) - set(new)) | failed
    return diff_baselines(entry, new, keep)

"""The report's numbers: gap statistics, balancedness, generalisation, anti-affinity, run time.

Everything is computed from `RunResult`s (exact per-layer objectives and the corpus's oracle
records). Conventions:

- gap: relative to the optimum, (objective - OPT) / OPT. Where OPT is proven the gap is exact;
  elsewhere it is the certified interval [against the best known objective, against the certified
  lower bound]. Statistics are over layers (a layer is one independent problem).
- optimal: the objective meets a certified lower bound (so it is provably optimal).
- balancedness (rebalance): sum over layers of the mean GPU load / sum of the max GPU load, each
  expert's load split evenly over its replicas (1.0 is perfect).
- generalisation: on drift traces, the plan of window t scored on window t + 1 ("stale"), against
  a plan made on window t + 1 itself ("fresh").
- balance against moves: see `migration_metrics`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from verifier.calling.candidates import variant_of
from verifier.model.objectives import balance_ratio, gap_float, relative_gap
from verifier.runs.corpus_runs import LayerScore, RunResult
from verifier.runs.migration_runs import MigrationRun

ALL = "all families"


def percentile(values: Sequence[float], share: float) -> float:
    """Linear-interpolation percentile (share in [0, 1]) of a non-empty list."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = share * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    if ordered[high] == ordered[low]:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Stats:
    """Mean, median, 95th percentile and maximum of a sample (infinite values allowed)."""

    count: int
    mean: float
    median: float
    p95: float
    max: float

    @staticmethod
    def of(values: Sequence[float]) -> Stats | None:
        if not values:
            return None
        finite = all(math.isfinite(v) for v in values)
        mean = statistics.fmean(values) if finite else math.inf
        return Stats(
            len(values), mean, statistics.median(values), percentile(values, 0.95), max(values)
        )


@dataclass(frozen=True)
class CellMetrics:
    """One candidate on one family (or on all families)."""

    family: str
    candidate: str
    problems: tuple[str, ...]
    runs: int
    ok_runs: int
    invalid_runs: int
    failed_runs: int
    layers: int
    proven_layers: int
    exact_gap: Stats | None  # over the layers with a proven optimum
    gap_low: Stats | None  # certified interval, low end, over every layer
    gap_high: Stats | None  # certified interval, high end (an upper bound on the true gap)
    share_optimal: float | None  # layers provably solved optimally / layers
    balancedness: float | None  # rebalance layers only
    colocated_replicas: int | None  # rebalance only: redundant co-located replicas in all
    colocated_per_layer: float | None
    seconds_total: float
    seconds_median: float | None  # per record
    below_bound: int  # layers that beat a certified bound (an oracle or objective bug)
    violations: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _layers(results: Iterable[RunResult]) -> list[LayerScore]:
    return [score for result in results for score in result.layers]


def balancedness(results: Sequence[RunResult]) -> float | None:
    """Sum of mean GPU loads over sum of max GPU loads, over the rebalance layers."""
    scores = _layers(result for result in results if result.problem == "rebalance")
    if not scores:
        return None
    peak = sum((score.objective for score in scores), Fraction(0))
    ideal = sum((score.ideal for score in scores), Fraction(0))
    return balance_ratio(ideal, peak)


def cell_metrics(family: str, candidate: str, results: Sequence[RunResult]) -> CellMetrics:
    """Aggregate one candidate's results on one family."""
    scores = _layers(results)
    proven = [score for score in scores if score.proven]
    rebalance = [r for r in results if r.problem == "rebalance" and r.colocated is not None]
    rebalance_layers = sum(len(r.layers) for r in rebalance)
    colocated = sum(r.colocated or 0 for r in rebalance) if rebalance else None
    timed = [r.seconds for r in results if r.status in ("ok", "invalid")]
    return CellMetrics(
        family=family,
        candidate=candidate,
        problems=tuple(sorted({r.problem for r in results})),
        runs=len(results),
        ok_runs=sum(r.status == "ok" for r in results),
        invalid_runs=sum(r.status == "invalid" for r in results),
        failed_runs=sum(r.status == "failed" for r in results),
        layers=len(scores),
        proven_layers=len(proven),
        exact_gap=Stats.of([gap_float(score.gap_high) for score in proven]),
        gap_low=Stats.of([float(score.gap_low) for score in scores]),
        gap_high=Stats.of([gap_float(score.gap_high) for score in scores]),
        share_optimal=(sum(s.optimal for s in scores) / len(scores)) if scores else None,
        balancedness=balancedness(results),
        colocated_replicas=colocated,
        colocated_per_layer=(colocated / rebalance_layers)
        if colocated is not None and rebalance_layers
        else None,
        seconds_total=sum(timed),
        seconds_median=statistics.median(timed) if timed else None,
        below_bound=sum(len(r.below_bound) for r in results),
        violations=tuple(f"{r.entry}: {message}" for r in results for message in r.violations[:1]),
    )


@dataclass(frozen=True)
class Generalisation:
    """A candidate's plans on drift traces, scored on the following window."""

    candidate: str
    windows: int
    stale_balancedness: float  # plan(t) on loads(t + 1)
    fresh_balancedness: float  # plan(t + 1) on loads(t + 1)
    staleness_cost: float  # sum stale max load / sum fresh max load - 1
    stale_gap: Stats | None  # plan(t) on loads(t + 1) against window t + 1's certified bound

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def generalisation(candidate: str, results: Sequence[RunResult]) -> Generalisation | None:
    windows = [window for result in results for window in result.windows]
    if not windows:
        return None
    stale = sum((w.stale for w in windows), Fraction(0))
    fresh = sum((w.fresh for w in windows), Fraction(0))
    ideal = sum((w.ideal for w in windows), Fraction(0))
    gaps = [gap_float(relative_gap(w.stale, w.bound)) for w in windows]
    return Generalisation(
        candidate,
        len(windows),
        balance_ratio(ideal, stale),
        balance_ratio(ideal, fresh),
        0.0 if fresh == 0 else float(stale / fresh - 1),
        Stats.of(gaps),
    )


@dataclass(frozen=True)
class Comparison:
    """Candidate `a` against `b` on the layers where both returned a valid answer."""

    a: str
    b: str
    layers: int
    better: int  # a's objective strictly lower
    equal: int
    worse: int
    mean_change: float  # mean of a/b - 1 over layers with a positive b objective
    best_change: float  # the most negative a/b - 1 (largest improvement)
    worst_change: float
    seconds_a: float  # over the records both ran
    seconds_b: float

    @property
    def time_ratio(self) -> float:
        return self.seconds_a / self.seconds_b if self.seconds_b > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "time_ratio": self.time_ratio}


def compare(results: Sequence[RunResult], a: str, b: str) -> Comparison | None:
    """Layer by layer, exact objectives of `a` against `b` (same records, both valid)."""
    by_entry: dict[tuple[str, str], RunResult] = {
        (r.candidate, r.entry): r for r in results if r.status == "ok"
    }
    better = equal = worse = 0
    changes: list[float] = []
    seconds_a = seconds_b = 0.0
    for (candidate, entry), first in by_entry.items():
        second = by_entry.get((b, entry))
        if candidate != a or second is None:
            continue
        seconds_a += first.seconds
        seconds_b += second.seconds
        for mine, theirs in zip(first.layers, second.layers, strict=True):
            better += mine.objective < theirs.objective
            equal += mine.objective == theirs.objective
            worse += mine.objective > theirs.objective
            if theirs.objective > 0:
                changes.append(float(mine.objective / theirs.objective - 1))
    if better + equal + worse == 0:
        return None
    return Comparison(
        a,
        b,
        better + equal + worse,
        better,
        equal,
        worse,
        statistics.fmean(changes) if changes else 0.0,
        min(changes, default=0.0),
        max(changes, default=0.0),
        seconds_a,
        seconds_b,
    )


@dataclass
class ReportData:
    """Every number of a report."""

    candidates: list[str]
    families: list[str]
    cells: list[CellMetrics]  # per (family, candidate), then ALL per candidate
    generalisation: list[Generalisation]
    comparisons: list[Comparison]
    results: list[RunResult]
    broken_records: list[str]
    corpus: str
    api_profiles: list[Any] = field(default_factory=list)  # runs.corpus_runs.CandidateProfile each
    migration: MigrationRun | None = None  # the balance-vs-moves section's cases

    def cell(self, family: str, candidate: str) -> CellMetrics | None:
        for cell in self.cells:
            if cell.family == family and cell.candidate == candidate:
                return cell
        return None


def comparison_pairs(candidates: Sequence[str]) -> list[tuple[str, str]]:
    """Which pairs to compare: each reference refinement against greedy and pool_split against
    swap when those variants are present, and every other candidate against the first one."""
    pairs: list[tuple[str, str]] = []
    named = {name: spec for spec in candidates if (name := variant_of(spec))}
    refinements = (
        ("swap", "greedy"),
        ("pool_split", "greedy"),
        ("pool_split", "swap"),
        ("fast", "greedy"),
        ("fast", "swap"),
    )
    for a, b in (*refinements, ("heap", "greedy")):
        if a in named and b in named:
            pairs.append((named[a], named[b]))
    first = candidates[0] if candidates else None
    for spec in candidates[1:]:
        if first is not None and spec not in named.values() and (spec, first) not in pairs:
            pairs.append((spec, first))
    if not pairs and first is not None:
        pairs += [(spec, first) for spec in candidates[1:]]
    return pairs


def build_report_data(
    candidates: Sequence[str],
    results: Sequence[RunResult],
    *,
    broken_records: Sequence[str] = (),
    corpus: str = "",
) -> ReportData:
    families = sorted({r.family for r in results})
    cells: list[CellMetrics] = []
    for family in [*families, ALL]:
        for candidate in candidates:
            chosen = [
                r
                for r in results
                if r.candidate == candidate
                and (family == ALL or r.family == family)
                and r.status != "skipped"
            ]
            if chosen:
                cells.append(cell_metrics(family, candidate, chosen))
    general = [
        found
        for candidate in candidates
        if (found := generalisation(candidate, [r for r in results if r.candidate == candidate]))
    ]
    comparisons = [
        compared
        for a, b in comparison_pairs(candidates)
        if (compared := compare(results, a, b)) is not None
    ]
    return ReportData(
        list(candidates),
        families,
        cells,
        general,
        comparisons,
        list(results),
        list(broken_records),
        corpus,
    )

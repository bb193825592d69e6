"""The report's conclusions, derived from its numbers (each sentence quotes the figures behind it).

Which candidate wins on each family (lowest mean certified gap, then lowest mean low end), whether
each refinement earns its cost (layer-by-layer wins and losses against the variant it refines, the
mean objective change and the time ratio), how plans generalise over time, how far plans lie from
the balance-vs-moves front, and any violations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from verifier.calling.candidates import variant_of
from verifier.report.metrics import ALL, CellMetrics, Comparison, ReportData
from verifier.report.migration_metrics import MigrationRow, below_front, migration_rows

TIE = 1e-12  # relative differences below this are ties


def percent(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "unbounded"
    return f"{100 * value:.{digits}f}%"


def short(spec: str) -> str:
    """`reference:greedy` -> `greedy`; anything else as given."""
    return variant_of(spec) or spec


@dataclass(frozen=True)
class Verdict:
    """Whether `a` earns its cost over `b`, and the sentence saying why."""

    a: str
    b: str
    earns_cost: str  # "yes" | "no" | "mixed" | "same"
    sentence: str


def _gap_key(cell: CellMetrics) -> tuple[float, float]:
    high = cell.gap_high.mean if cell.gap_high else math.inf
    low = cell.gap_low.mean if cell.gap_low else math.inf
    return high, low


def _gap_phrase(cell: CellMetrics) -> str:
    """'mean gap 1.23% (exact)' or 'mean certified gap in [0.10%, 1.23%]'."""
    high, low = cell.gap_high, cell.gap_low
    if high is None or low is None:
        return "no valid answer"
    optimal = f"optimal on {percent(cell.share_optimal, 0)} of {cell.layers} layers"
    if cell.proven_layers == cell.layers or math.isclose(low.mean, high.mean, abs_tol=TIE):
        return f"mean gap {percent(high.mean)}, max {percent(high.max)}, {optimal}"
    if percent(low.mean) == percent(high.mean):
        return f"mean gap {percent(high.mean)} (certified), max {percent(high.max)}, {optimal}"
    return (
        f"mean certified gap in [{percent(low.mean)}, {percent(high.mean)}], "
        f"max {percent(high.max)}, {optimal}"
    )


def family_winners(data: ReportData) -> list[str]:
    """Per family: the best candidate by mean certified gap, or a tie, with the numbers."""
    sentences = []
    for family in [*data.families, ALL]:
        cells = [
            cell
            for candidate in data.candidates
            if (cell := data.cell(family, candidate)) is not None and cell.ok_runs
        ]
        if len(cells) < 2 or len({cell.layers for cell in cells}) > 1:
            continue  # one candidate, or candidates that ran on different records
        ranked = sorted(cells, key=_gap_key)
        best, runner = ranked[0], ranked[1]
        best_high, runner_high = _gap_key(best)[0], _gap_key(runner)[0]
        tied = [c for c in ranked if _close(_gap_key(c), _gap_key(best))]
        if len(tied) == len(ranked):
            every = "both" if len(tied) == 2 else f"all {len(tied)}"
            sentences.append(f"{family}: {every} candidates tie ({_gap_phrase(best)}).")
            continue
        names = ", ".join(short(c.candidate) for c in tied)
        lead = f"{names} tie for best" if len(tied) > 1 else f"{short(best.candidate)} is best"
        margin = runner_high - best_high if len(tied) == 1 else None
        runner_text = (
            f"; next {short(runner.candidate)} ({_gap_phrase(runner)}, +{percent(margin)} mean gap)"
            if margin is not None and math.isfinite(margin)
            else ""
        )
        worst = ranked[-1]
        last = [c for c in ranked if _close(_gap_key(c), _gap_key(worst))]
        worst_names = ", ".join(short(c.candidate) for c in last)
        sentences.append(
            f"{family}: {lead} ({_gap_phrase(best)}){runner_text}; worst "
            f"{worst_names} ({_gap_phrase(worst)})."
        )
    return sentences


def _close(left: tuple[float, float], right: tuple[float, float]) -> bool:
    return all(
        (math.isinf(a) and math.isinf(b)) or math.isclose(a, b, rel_tol=TIE, abs_tol=TIE)
        for a, b in zip(left, right, strict=True)
    )


def verdict(comparison: Comparison) -> Verdict:
    """Does `a` earn its cost over `b`? Wins vs losses, mean change and time ratio decide."""
    c = comparison
    a, b = short(c.a), short(c.b)
    counts = (
        f"better on {c.better} of {c.layers} layers ({percent(c.better / c.layers, 1)}), "
        f"equal on {c.equal}, worse on {c.worse}"
    )
    change = (
        f"mean objective change {percent(c.mean_change)} (best {percent(c.best_change)}, "
        f"worst {percent(c.worst_change)})"
    )
    cost = (
        f"{c.time_ratio:.2f}x the time of {b} "
        f"({c.seconds_a * 1e3:.1f} ms vs {c.seconds_b * 1e3:.1f} ms in all)"
    )
    if c.better == 0 and c.worse == 0:
        outcome = "same"
        judgement = f"{a} gives exactly the objective of {b} on every layer, at {cost}"
    elif c.better > c.worse and c.mean_change < 0:
        outcome = "yes" if c.worse == 0 else "mixed"
        never = "never worse, " if c.worse == 0 else ""
        judgement = f"{a} improves on {b}: {never}{counts}; {change}; it costs {cost}"
    else:
        outcome = "no"
        judgement = f"{a} does not improve on {b}: {counts}; {change}; it costs {cost}"
    return Verdict(c.a, c.b, outcome, judgement + ".")


def balance_sentence(data: ReportData) -> str | None:
    cells = [
        cell
        for candidate in data.candidates
        if (cell := data.cell(ALL, candidate)) is not None and cell.balancedness is not None
    ]
    if not cells:
        return None
    ranked = sorted(cells, key=lambda cell: -(cell.balancedness or 0.0))
    listed = ", ".join(f"{short(c.candidate)} {c.balancedness:.4f}" for c in ranked)
    return f"Balancedness over every rebalance layer (mean / max GPU load, 1 is perfect): {listed}."


def generalisation_sentences(data: ReportData) -> list[str]:
    sentences = []
    for item in sorted(data.generalisation, key=lambda g: -g.stale_balancedness):
        sentences.append(
            f"{short(item.candidate)}: a plan made on window t keeps balancedness "
            f"{item.stale_balancedness:.4f} on window t+1 against {item.fresh_balancedness:.4f} "
            f"for a fresh plan ({percent(item.staleness_cost)} higher max GPU load, "
            f"{item.windows} windows)."
        )
    return sentences


def distance_text(low: float, high: float) -> str:
    """A distance to the front: one figure when exact, else its certified interval."""
    return (
        percent(high)
        if math.isclose(low, high, abs_tol=1e-12)
        else (f"[{percent(low)}, {percent(high)}]")
    )


def _migration_phrase(row: MigrationRow) -> str:
    given = "with the old placement" if row.with_old else "from scratch"
    return (
        f"{short(row.candidate)} ({given}) {row.mean_moves:.1f} moves, "
        f"{distance_text(*row.distance_mean)} above the front"
    )


def _cases(rows: list[MigrationRow]) -> str:
    count = max(row.points for row in rows)
    return f"{count} case{'' if count == 1 else 's'}"


def migration_sentences(data: ReportData) -> list[str]:
    """One sentence per group of cases: every candidate's mean moves and mean distance to the
    front, closest first."""
    groups: dict[str, list[MigrationRow]] = {}
    for row in migration_rows(data.migration):
        groups.setdefault(row.group, []).append(row)
    sentences = []
    for group, rows in groups.items():
        ranked = sorted(rows, key=lambda row: (row.distance_mean[1], row.mean_moves))
        kind = "exact front" if all(row.exact for row in rows) else "certified intervals"
        listed = "; ".join(_migration_phrase(row) for row in ranked)
        sentences.append(
            f"On {group} ({_cases(rows)}, {kind}), at their own moves from a common old "
            f"placement: {listed}."
        )
    return sentences


def problem_sentences(data: ReportData) -> list[str]:
    """Violations, failures and results below a certified bound, per candidate."""
    sentences = []
    for candidate in data.candidates:
        cell = data.cell(ALL, candidate)
        if cell is None:
            continue
        if cell.invalid_runs or cell.failed_runs:
            sentences.append(
                f"{short(candidate)} broke the contract on {cell.invalid_runs} and failed "
                f"(raised, hung or crashed) on {cell.failed_runs} of {cell.runs} records; "
                f"first: {cell.violations[0] if cell.violations else 'n/a'}"
            )
        if cell.below_bound:
            sentences.append(
                f"{short(candidate)} beat a certified lower bound on {cell.below_bound} layers: "
                "an oracle or objective bug to investigate"
            )
    if data.broken_records:
        sentences.append(f"{len(data.broken_records)} corpus records are broken and were skipped")
    if below := below_front(data.migration):
        sentences.append(
            f"{below} balance-vs-moves points lie below the certified bound of OPT at their "
            "moves: an oracle or objective bug to investigate"
        )
    if data.migration is not None:
        sentences += [f"balance vs moves: {problem}" for problem in data.migration.problems]
    return sentences

"""The report's tables, as plain data shared by the Markdown and the HTML renderers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from verifier.report.conclusions import distance_text, percent, short, verdict
from verifier.report.metrics import CellMetrics, ReportData, Stats
from verifier.report.migration_metrics import DEFINITION, migration_rows
from verifier.runs.corpus_runs import CandidateProfile


@dataclass(frozen=True)
class Table:
    title: str
    intro: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


def _interval(low: Stats | None, high: Stats | None, field: str) -> str:
    """One statistic of the gap: a single figure when exact, else its certified interval."""
    if high is None or low is None:
        return "n/a"
    lo, hi = getattr(low, field), getattr(high, field)
    if math.isclose(lo, hi, abs_tol=1e-12):
        return percent(hi)
    return f"[{percent(lo)}, {percent(hi)}]"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1e3:.2f}"


def gap_table(data: ReportData) -> Table:
    rows = []
    for cell in data.cells:
        rows.append(
            (
                cell.family,
                short(cell.candidate),
                f"{cell.layers} ({cell.proven_layers})",
                _interval(cell.gap_low, cell.gap_high, "mean"),
                _interval(cell.gap_low, cell.gap_high, "median"),
                _interval(cell.gap_low, cell.gap_high, "p95"),
                _interval(cell.gap_low, cell.gap_high, "max"),
                percent(cell.share_optimal, 1),
                _status(cell),
            )
        )
    return Table(
        "Optimality gap per family",
        "Relative gap (objective - OPT) / OPT over layers. A single figure is exact (proven "
        "optimum, or the objective meets a certified bound); [low, high] is the certified interval "
        "where only a bound is known (low end: against the oracle's best known solution). "
        "'optimal' is the share of layers provably solved optimally.",
        (
            "family",
            "candidate",
            "layers (proven)",
            "mean",
            "median",
            "p95",
            "max",
            "optimal",
            "runs ok/invalid/failed",
        ),
        rows,
    )


def _status(cell: CellMetrics) -> str:
    return f"{cell.ok_runs}/{cell.invalid_runs}/{cell.failed_runs}"


def balance_table(data: ReportData) -> Table:
    rows = [
        (
            cell.family,
            short(cell.candidate),
            f"{cell.balancedness:.4f}",
            str(cell.colocated_replicas),
            "n/a" if cell.colocated_per_layer is None else f"{cell.colocated_per_layer:.2f}",
        )
        for cell in data.cells
        if cell.balancedness is not None
    ]
    return Table(
        "Balancedness and replica anti-affinity (rebalance)",
        "Balancedness: sum over layers of the mean GPU load over the sum of the max GPU load, "
        "each expert's load split evenly over its replicas (1 is perfect). Co-located: redundant "
        "replicas of one expert placed on the same GPU (they buy no balance).",
        ("family", "candidate", "balancedness", "co-located replicas", "per layer"),
        rows,
    )


def time_table(data: ReportData) -> Table:
    rows = [
        (
            cell.family,
            short(cell.candidate),
            str(cell.runs),
            _seconds(cell.seconds_median),
            _seconds(cell.seconds_total),
        )
        for cell in data.cells
    ]
    return Table(
        "Run time",
        "Seconds measured inside the sandbox worker around the call alone (CPU, one thread).",
        ("family", "candidate", "records", "median ms per record", "total ms"),
        rows,
    )


def generalisation_table(data: ReportData) -> Table:
    rows = [
        (
            short(item.candidate),
            str(item.windows),
            f"{item.fresh_balancedness:.4f}",
            f"{item.stale_balancedness:.4f}",
            percent(item.staleness_cost),
            "n/a" if item.stale_gap is None else percent(item.stale_gap.mean),
            "n/a" if item.stale_gap is None else percent(item.stale_gap.max),
        )
        for item in data.generalisation
    ]
    return Table(
        "Generalisation over time",
        "On the corpus's drift traces, or on the --trace given (its layers and windows). "
        "Plan on window t, score on window t+1 (stale), against a plan made on window t+1 itself "
        "(fresh). Staleness cost: how much higher the stale plans' max GPU loads are in all. "
        "Stale gap: against window t+1's certified lower bound.",
        (
            "candidate",
            "windows",
            "fresh balancedness",
            "stale balancedness",
            "staleness cost",
            "stale gap mean",
            "stale gap max",
        ),
        rows,
    )


def comparison_table(data: ReportData) -> Table:
    rows = []
    for comparison in data.comparisons:
        judged = verdict(comparison)
        rows.append(
            (
                f"{short(comparison.a)} vs {short(comparison.b)}",
                str(comparison.layers),
                str(comparison.better),
                str(comparison.equal),
                str(comparison.worse),
                percent(comparison.mean_change, 3),
                percent(comparison.best_change, 2),
                f"{comparison.time_ratio:.2f}x",
                judged.earns_cost,
            )
        )
    return Table(
        "Variant comparisons, layer by layer",
        "Layer by layer on the same records: exact objectives compared (lower is better). Mean "
        "change: mean of a/b - 1. Time ratio: a's total time over b's on the same records.",
        (
            "comparison",
            "layers",
            "better",
            "equal",
            "worse",
            "mean change",
            "best change",
            "time ratio",
            "earns its cost",
        ),
        rows,
    )


def all_tables(data: ReportData) -> list[Table]:
    tables = [gap_table(data), balance_table(data), comparison_table(data)]
    if data.generalisation:
        tables.append(generalisation_table(data))
    tables.append(time_table(data))
    if data.api_profiles:  # API profiles and migration
        tables.append(api_profiles_table(data.api_profiles))
    tables.append(migration_table(data))
    return [table for table in tables if table.rows]


def migration_table(data: ReportData) -> Table:
    """Balance against moves: one row per group of cases and candidate."""
    rows = [
        (
            row.group,
            short(row.candidate),
            "yes" if row.with_old else "no",
            str(row.points),
            f"{row.mean_moves:.2f}",
            f"{row.balancedness:.4f}",
            distance_text(*row.distance_mean),
            distance_text(*row.distance_max),
            f"{row.on_front}/{row.points}",
        )
        for row in migration_rows(data.migration)
    ]
    return Table(
        "Balance against moves",
        f"{DEFINITION} Balancedness: the sum of the cases' mean GPU loads over the sum of the "
        "candidate's max GPU loads. A single figure is exact; [low, high] is certified (low end: "
        "against the best plan known within the same moves). 'on the front': points with no "
        "plan better at their moves.",
        (
            "cases",
            "candidate",
            "old placement passed",
            "points",
            "mean moves",
            "balancedness",
            "distance to the front (mean)",
            "max",
            "on the front",
        ),
        rows,
    )


def api_profiles_table(profiles: Sequence[CandidateProfile]) -> Table:
    """One row per candidate: profile, adaptations, migration."""
    rows = []
    for profile in profiles:
        tally = profile.migration
        moved = f"{tally.share:.1%} ({tally.moved}/{tally.replicas})" if tally.cases else "n/a"
        old = "yes" if tally.with_old_placement else "no"
        adapted = "; ".join(sorted(profile.adapted)) or "nothing"
        rewritten = f"{tally.rewritten / tally.replicas:.1%}" if tally.replicas else "n/a"
        row = (
            profile.candidate,
            profile.profile,
            adapted,
            moved,
            rewritten,
            old,
            str(tally.cases),
        )
        rows.append(row)
    return Table(
        "API profiles and migration",
        "How each candidate was called (its API profile and what the harness adapted), and its "
        "migration: the share of replicas whose GPU changes between its plan for perturbed loads "
        "(loads scaled by seeded factors in [0.5, 1.5]) and its plan for the record's loads "
        "(with the earlier plan passed as the old placement when it accepts one); slots rewritten "
        "also counts moves within a GPU (what vLLM's slot preservation saves).",
        (
            "candidate",
            "profile",
            "adapted",
            "replicas moved",
            "slots rewritten",
            "old placement passed",
            "records",
        ),
        rows,
    )

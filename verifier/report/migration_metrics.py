"""The numbers of the report's balance-vs-moves section, per group of cases and candidate.

A group is one family at one size (`MigrationCase.group`). Per candidate: its points (one per case
where it gave a valid plan), the mean of their moves, balancedness (the sum of the cases' mean GPU
loads over the sum of the candidate's max GPU loads, as in the balance table), and the distance to
the front, (load - OPT(moves)) / OPT(moves), its mean and maximum over the points: one figure where
every OPT(moves) is proven, else the certified interval [against the best plan known within the
moves, against the certified bound].
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from verifier.model.objectives import balance_ratio, gap_float
from verifier.runs.corpus_runs import DRIFT_MARKER
from verifier.runs.migration_runs import MigrationCase, MigrationRun, MovePoint

DEFINITION = (
    "Window t -> t + 1 of each drift trace: the old placement is the reference greedy plan of "
    "window t's loads (one plan shared by every candidate); each candidate plans window t + 1's "
    "loads, given that old placement when it takes one (from scratch otherwise). Its point is "
    "(moves from the old placement, max GPU load). The front is OPT(K), the least max GPU load "
    "within K moves, for K = 0 .. the fewest moves of an unconstrained optimum, proven on small "
    "cases (at most 8 experts, 12 replicas, 4 GPUs); on larger ones only OPT at each point's "
    "moves is bracketed (cheap certified bounds below, the best plan known within those moves "
    "above). Move-budget records join with their own old placement, one case per layer. Distance "
    "to the front: (load - OPT(moves)) / OPT(moves)."
)


@dataclass(frozen=True)
class MigrationRow:
    """One candidate on one group of cases."""

    group: str
    candidate: str
    with_old: bool  # the old placement was passed
    exact: bool  # every OPT(moves) of its points is proven
    points: int
    mean_moves: float
    balancedness: float
    distance_mean: tuple[float, float]  # certified interval (low, high); high may be inf
    distance_max: tuple[float, float]
    on_front: int  # points provably on the front (distance exactly 0)
    below_front: int  # points below OPT(moves)'s certified bound: an oracle bug

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _distances(points: list[MovePoint]) -> tuple[list[float], list[float]]:
    lows = [float(point.distance[0]) for point in points]
    highs = [gap_float(point.distance[1]) for point in points]
    return lows, highs


def migration_row(group: str, candidate: str, cases: list[MigrationCase]) -> MigrationRow | None:
    """The row of one candidate on one group (None: it has no point there)."""
    pairs = [(case, p) for case in cases for p in case.points if p.candidate == candidate]
    if not pairs:
        return None
    points = [point for _, point in pairs]
    lows, highs = _distances(points)
    ideal = sum((case.ideal for case, _ in pairs), Fraction(0))
    load = sum((point.load for point in points), Fraction(0))
    return MigrationRow(
        group,
        candidate,
        all(point.with_old for point in points),
        all(point.opt_low == point.opt_high for point in points),
        len(points),
        statistics.fmean(point.moves for point in points),
        balance_ratio(ideal, load),
        (statistics.fmean(lows), statistics.fmean(highs)),
        (max(lows), max(highs)),
        sum(point.distance[1] == 0 for point in points),
        sum(point.below_front for point in points),
    )


def grouped_cases(run: MigrationRun | None) -> dict[str, list[MigrationCase]]:
    """The cases by group: drift traces first, then the move-budget records, smaller first."""
    groups: dict[str, list[MigrationCase]] = {}
    for case in [] if run is None else run.cases:
        groups.setdefault(case.group, []).append(case)
    order = sorted(groups, key=lambda g: (DRIFT_MARKER not in groups[g][0].family,
                                          groups[g][0].experts))  # fmt: skip
    return {group: groups[group] for group in order}


def candidates_of(run: MigrationRun) -> list[str]:
    """The candidates with a point, in the order they first appear."""
    return list(dict.fromkeys(p.candidate for case in run.cases for p in case.points))


def migration_rows(run: MigrationRun | None) -> list[MigrationRow]:
    """Every (group, candidate) row, groups in `grouped_cases` order."""
    if run is None:
        return []
    candidates = candidates_of(run)
    return [
        row
        for group, cases in grouped_cases(run).items()
        for candidate in candidates
        if (row := migration_row(group, candidate, cases)) is not None
    ]


def below_front(run: MigrationRun | None) -> int:
    """Points below OPT(moves)'s certified bound, over every case."""
    return 0 if run is None else sum(p.below_front for case in run.cases for p in case.points)

"""`quality.migration_dominated`: a plan made with an old placement against the exact front."""

from __future__ import annotations

from fractions import Fraction

from verifier.judging.migration_quality import judged_against_front, migration_against_front
from verifier.model.instances import RebalanceInstance
from verifier.model.objectives import moves, rebalance_objective
from verifier.runs.run_record import MigrationTally

WEIGHTS = [90, 132, 40, 61, 104, 165, 39, 4]
OLD = [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3]
INSTANCE = RebalanceInstance([list(WEIGHTS)], 12, 1, 1, 4)


def test_a_plan_that_moves_more_for_no_better_load_is_dominated() -> None:
    # swap experts 0 and 4 between GPUs 0 and 1 twice over: 2 moves, and no load changes for the
    # better (expert loads split the same way), so 0 moves reach the same load
    new = [4, 1, 2, 3, 0, 5, 6, 7, 0, 1, 2, 3]
    assert moves(OLD, new, 4) == 2
    found, layers = migration_against_front(INSTANCE, [OLD], [new], {})
    assert [finding.check for finding in found] == ["quality.migration_dominated"]
    details = found[0].details
    dominating = details["dominating_plan"]
    assert moves(OLD, dominating, 4) < 2
    assert rebalance_objective(WEIGHTS, dominating, 4) <= rebalance_objective(WEIGHTS, new, 4)
    assert layers[0]["moves"] == 2


def test_a_plan_on_the_front_is_not_dominated_and_carries_the_optimum() -> None:
    new = [0, 2, 4, 3, 4, 5, 0, 5, 6, 1, 3, 7]  # OPT(3) = 333/2 with 3 moves (solve's answer)
    assert moves(OLD, new, 4) == 3
    assert rebalance_objective(WEIGHTS, new, 4) == Fraction(333, 2)
    found, layers = migration_against_front(INSTANCE, [OLD], [new], {})
    assert found == []
    assert layers == [{"layer": 0, "moves": 3, "load": "333/2", "optimum_at_moves": "333/2"}]


def test_large_cases_are_not_judged_against_the_front() -> None:
    large = RebalanceInstance([list(range(16))], 24, 1, 1, 8)
    assert not judged_against_front(large)
    old = [list(range(16)) + list(range(8))]
    assert migration_against_front(large, old, old, {}) == ([], [])


def test_the_run_summary_counts_layers_on_and_off_the_front() -> None:
    on_front = [0, 2, 4, 3, 4, 5, 0, 5, 6, 1, 3, 7]  # OPT(3) at 3 moves
    off_front = [4, 1, 2, 3, 0, 5, 6, 7, 0, 1, 2, 3]  # 2 moves; OPT(2) is lower
    tally = MigrationTally()
    for plan in (on_front, off_front):
        _, layers = migration_against_front(INSTANCE, [OLD], [plan], {})
        tally.add({"moved": 0, "replicas": 12, "with_old_placement": True, "front": layers})
    excess = rebalance_objective(WEIGHTS, off_front, 4) / Fraction(
        str(migration_against_front(INSTANCE, [OLD], [off_front], {})[1][0]["optimum_at_moves"])
    )
    assert (tally.front_layers, tally.on_front) == (2, 1)
    assert tally.worst_excess == float(excess - 1) > 0
    assert "1 of 2 layers at OPT(their moves)" in tally.text()

"""The migration-aware oracle: OPT(K) against brute force on tiny instances, and the front."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from fractions import Fraction

import pytest

from verifier.model.instances import Number, RebalanceInstance
from verifier.oracle import instance_shape, solve_budgeted_layer, solve_front_layer
from verifier.oracle.budgeted_counts import ReplicaTable, budget_bound
from verifier.oracle.layout import Shape
from verifier.oracle.migration import solve_front

Plan = tuple[tuple[int, ...], ...]  # the sorted experts of every GPU


def _gpu_contents(n: int, slots: int) -> list[tuple[int, ...]]:
    return list(itertools.combinations_with_replacement(range(n), slots))


def _all_plans(n: int, gpus: int, slots: int) -> list[Plan]:
    """Every placement up to the order inside a GPU, every expert present (written here, not
    taken from the verifier)."""
    plans = itertools.product(_gpu_contents(n, slots), repeat=gpus)
    return [plan for plan in plans if {e for gpu in plan for e in gpu} == set(range(n))]


def _load(weights: Sequence[Number], plan: Plan) -> Fraction:
    counts = [sum(gpu.count(e) for gpu in plan) for e in range(len(weights))]
    return max(sum((Fraction(weights[e]) / counts[e] for e in gpu), Fraction(0)) for gpu in plan)


def _copies(old: Plan, new: Plan) -> int:
    """Per GPU, the replicas of each expert it gains (the issue's definition, counted anew)."""
    return sum(
        max(0, after.count(e) - before.count(e))
        for before, after in zip(old, new, strict=True)
        for e in set(after)
    )


def _keeps_hierarchy(plan: Plan, groups: int, nodes: int, n: int) -> bool:
    per_group, gpus_per_node = n // groups, len(plan) // nodes
    node_of_group: dict[int, set[int]] = {}
    for gpu, experts in enumerate(plan):
        for e in experts:
            node_of_group.setdefault(e // per_group, set()).add(gpu // gpus_per_node)
    if any(len(found) > 1 for found in node_of_group.values()):
        return False
    per_node = [sum(found == {v} for found in node_of_group.values()) for v in range(nodes)]
    return per_node == [groups // nodes] * nodes


def _as_plan(phy2log: list[int], gpus: int) -> Plan:
    slots = len(phy2log) // gpus
    return tuple(tuple(sorted(phy2log[g * slots : (g + 1) * slots])) for g in range(gpus))


def _brute_opt(instance: RebalanceInstance, budget: int) -> Fraction | None:
    weights, gpus = instance.weights[0], instance.num_gpus
    assert instance.old_phy2log is not None
    old = _as_plan(instance.old_phy2log[0], gpus)
    n, slots = len(weights), instance.num_replicas // gpus
    hierarchical = instance.num_nodes > 1
    values = [
        _load(weights, plan)
        for plan in _all_plans(n, gpus, slots)
        if _copies(old, plan) <= budget
        and (not hierarchical or _keeps_hierarchy(plan, instance.num_groups, instance.num_nodes, n))
    ]
    return min(values, default=None)


def _tiny(seed: int, groups: int, nodes: int, gpus: int, replicas: int) -> RebalanceInstance:
    rng = random.Random(seed)
    n = 4
    weights: list[Number] = [rng.choice([0, 1, 2, 3, 5, 8, 13]) for _ in range(n)]
    old = list(range(n)) + [rng.randrange(n) for _ in range(replicas - n)]
    rng.shuffle(old)
    return RebalanceInstance([weights], replicas, groups, nodes, gpus, old_phy2log=[old])


TINY = [
    *(_tiny(seed, 1, 1, 2, 6) for seed in range(4)),
    *(_tiny(seed, 1, 1, 4, 8) for seed in range(4, 7)),
    *(_tiny(seed, 2, 2, 4, 8) for seed in range(7, 11)),  # hierarchical: 2 groups on 2 nodes
]


@pytest.mark.parametrize(
    "instance", TINY, ids=lambda i: f"{i.weights[0]}-{i.num_nodes}n{i.num_gpus}g"
)
def test_opt_k_equals_brute_force_for_every_budget(instance: RebalanceInstance) -> None:
    assert instance.old_phy2log is not None
    old = instance.old_phy2log[0]
    for budget in range(instance.num_replicas + 1):
        expected = _brute_opt(instance, budget)
        plan = solve_budgeted_layer(instance, 0, budget, time_limit=5.0)
        if expected is None:
            assert plan.status == "infeasible", budget
            continue
        assert plan.status == "optimal", budget
        assert plan.objective == plan.bound == expected, budget
        assert plan.phy2log is not None
        new = _as_plan(plan.phy2log, instance.num_gpus)
        assert plan.moves == _copies(_as_plan(old, instance.num_gpus), new) <= budget
        assert _load(instance.weights[0], new) == expected


@pytest.mark.parametrize("instance", TINY[::3], ids=lambda i: f"{i.weights[0]}-{i.num_nodes}n")
def test_front_is_monotone_and_ends_at_the_unconstrained_optimum(
    instance: RebalanceInstance,
) -> None:
    front = solve_front_layer(instance, 0, time_limit=5.0)
    points = [point for point in front.points if point.objective is not None]
    assert [p.budget for p in front.points] == list(range(len(front.points)))
    assert all(a.objective >= b.objective for a, b in itertools.pairwise(points))  # type: ignore[operator]
    free = _brute_opt(instance, instance.num_replicas)  # no budget binds at R moves
    assert front.points[-1].objective == Fraction(front.unconstrained["objective"]) == free
    assert front.unconstrained["moves"] == front.points[-1].moves
    if len(front.points) > 1:  # the end is the fewest moves reaching the optimum
        assert front.points[-2].objective is None or front.points[-2].objective > free  # type: ignore[operator]


def test_zero_moves_keep_the_old_placements_load() -> None:
    instance = TINY[0]
    assert instance.old_phy2log is not None
    old = _as_plan(instance.old_phy2log[0], instance.num_gpus)
    plan = solve_budgeted_layer(instance, 0, 0, time_limit=5.0)
    assert plan.status == "optimal" and plan.moves == 0
    assert plan.objective == _load(instance.weights[0], old)


def test_an_old_placement_that_breaks_the_hierarchy_needs_moves() -> None:
    # groups {0,1} and {2,3}; node 0 (GPUs 0, 1) holds experts of both groups
    instance = RebalanceInstance([[4, 3, 2, 1]], 8, 2, 2, 4, old_phy2log=[[0, 2, 1, 3, 0, 2, 1, 3]])
    front = solve_front_layer(instance, 0, time_limit=5.0)
    assert front.points[0].status == "infeasible"
    assert front.points[-1].status == "optimal"


def test_budget_bound_is_below_every_plan_within_budget() -> None:
    weights, old = [8, 5, 3, 0], [0, 1, 2, 3, 0, 1]
    for counts in ([1, 1, 1, 3], [2, 2, 1, 1], [3, 1, 1, 1]):
        per_replica = [Fraction(w, c) for w, c in zip(weights, counts, strict=True)]
        for budget in range(4):
            bound = budget_bound(per_replica, old, 2, budget)
            for plan in _all_plans(4, 2, 3):
                have = [sum(gpu.count(e) for gpu in plan) for e in range(4)]
                if have == counts and _copies(_as_plan(old, 2), plan) <= budget:
                    assert _load(weights, plan) >= bound


def test_integer_replica_table_gives_the_rational_bounds() -> None:
    # The count enumeration ranks vectors by bounds computed on integers; they must be the very
    # rational bounds (checked against every plan above), just scaled.
    weights, old = [Fraction(8), Fraction(5, 3), Fraction(3), Fraction(0)], [0, 1, 2, 3, 0, 1]
    table = ReplicaTable(weights, Shape.flat(4, 6, 2))
    for counts in ([1, 1, 1, 3], [2, 2, 1, 1], [3, 1, 1, 1]):
        per_replica = [w / c for w, c in zip(weights, counts, strict=True)]
        scaled = table.loads(counts)
        assert [value / table.scale for value in scaled] == per_replica
        for budget in range(4):
            rational = budget_bound(per_replica, old, 2, budget)
            assert budget_bound(scaled, old, 2, budget) / table.scale == rational


@pytest.mark.parametrize("instance", TINY[1::4], ids=lambda i: f"{i.weights[0]}-{i.num_nodes}n")
def test_a_known_unconstrained_optimum_gives_the_same_front(instance: RebalanceInstance) -> None:
    assert instance.old_phy2log is not None
    shape, old = instance_shape(instance), instance.old_phy2log[0]
    solved = solve_front(instance.weights[0], shape, old, time_limit=5.0, seed=0)
    assert solved.unconstrained["status"] == "optimal"
    optimum = Fraction(solved.unconstrained["objective"])
    known = solve_front(instance.weights[0], shape, old, time_limit=5.0, seed=0,
                        known=(optimum, optimum))  # fmt: skip
    assert [(p.objective, p.bound, p.status) for p in known.points] == [
        (p.objective, p.bound, p.status) for p in solved.points
    ]

"""The end-to-end rebalance oracle against brute force, the 2G/(G+1) family, and the reference.

Brute force tries every multiset of experts on every GPU (so every replica count and placement at
once), keeps those that honour the contract, and takes the best exact largest GPU load.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from fractions import Fraction

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference import VARIANTS
from verifier.model.instances import RebalanceInstance
from verifier.model.objectives import rebalance_objective
from verifier.oracle import lower_bound, solve_layer, solve_rebalance_layer
from verifier.oracle.cpsat import Budget
from verifier.oracle.layout import Shape as LayoutShape
from verifier.oracle.layout import naive_placement
from verifier.oracle.rebalance import joint_search

Shape = tuple[int, int, int, int, int]  # experts, replicas, groups, nodes, gpus
SOLVE = settings(deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow])


def _tiny_shapes() -> list[Shape]:
    shapes = []
    for n, gpus, slots in itertools.product(range(1, 5), range(1, 5), range(1, 4)):
        replicas = gpus * slots
        if replicas < n or math.comb(n + slots - 1, slots) ** gpus > 3000:
            continue
        for groups, nodes in itertools.product(range(1, n + 1), range(1, gpus + 1)):
            if n % groups == 0 and gpus % nodes == 0:
                shapes.append((n, replicas, groups, nodes, gpus))
    return shapes


def honours_contract(phy2log: Sequence[int], shape: Shape, hierarchical: bool) -> bool:
    """Every expert present; under the hierarchy, each group's replicas on one node and every node
    holding the same number of groups."""
    n, replicas, groups, nodes, gpus = shape
    if len(phy2log) != replicas or set(phy2log) != set(range(n)):
        return False
    if not hierarchical:
        return True
    slots, per_node = replicas // gpus, gpus // nodes
    node_of_group: dict[int, int] = {}
    for slot, expert in enumerate(phy2log):
        node = slot // slots // per_node
        group = expert // (n // groups)
        if node_of_group.setdefault(group, node) != node:
            return False
    return all(list(node_of_group.values()).count(v) == groups // nodes for v in range(nodes))


def brute_force_rebalance(
    weights: Sequence[int | float], shape: Shape, hierarchical: bool
) -> Fraction:
    n, replicas, _, _, gpus = shape
    per_gpu = list(itertools.combinations_with_replacement(range(n), replicas // gpus))
    best: Fraction | None = None
    for choice in itertools.product(per_gpu, repeat=gpus):
        phy2log = [e for gpu in choice for e in gpu]
        if honours_contract(phy2log, shape, hierarchical):
            value = rebalance_objective(weights, phy2log, gpus)
            best = value if best is None or value < best else best
    assert best is not None
    return best


@st.composite
def rebalance_cases(draw: st.DrawFn) -> tuple[list[int], Shape]:
    shape = draw(st.sampled_from(_tiny_shapes()))
    n = shape[0]
    weights = draw(
        st.one_of(
            st.lists(st.integers(0, 20), min_size=n, max_size=n),
            st.lists(st.sampled_from([0, 2, 6]), min_size=n, max_size=n),
        )
    )
    return weights, shape


@SOLVE
@given(rebalance_cases())
def test_oracle_matches_brute_force(case: tuple[list[int], Shape]) -> None:
    weights, shape = case
    _, replicas, groups, nodes, gpus = shape
    hierarchical = groups % nodes == 0
    solution = solve_rebalance_layer(weights, replicas, groups, nodes, gpus, time_limit=5.0)
    assert solution.assignment is not None
    assert honours_contract(solution.assignment, shape, hierarchical)
    assert solution.objective == rebalance_objective(weights, solution.assignment, gpus)
    optimum = brute_force_rebalance(weights, shape, hierarchical)
    assert solution.status == "optimal"
    assert solution.objective == solution.bound == optimum
    unconstrained = brute_force_rebalance(weights, shape, hierarchical=False)
    assert Fraction(solution.details["global_optimum"]) == unconstrained
    assert Fraction(solution.details["global"]["bound"]) <= unconstrained <= optimum
    json.dumps(solution.details)  # JSON-ready: corpus records store details as they are


@SOLVE
@given(rebalance_cases())
def test_cheap_bound_and_variants_bracket_the_optimum(case: tuple[list[int], Shape]) -> None:
    """No cheap bound exceeds the optimum; no reference variant beats it."""
    weights, shape = case
    _, replicas, groups, nodes, gpus = shape
    layer: list[int | float] = list(weights)
    instance = RebalanceInstance([layer], replicas, groups, nodes, gpus)
    solution = solve_layer(instance, 0, time_limit=5.0)
    assert lower_bound(instance, 0) <= solution.bound <= solution.objective
    tensor = torch.tensor([weights], dtype=torch.int64)
    for name, variant in VARIANTS.items():
        phy2log, _, _ = variant.rebalance_experts(tensor, replicas, groups, nodes, gpus)
        value = rebalance_objective(weights, phy2log[0].tolist(), gpus)
        assert value >= solution.bound, name
        if solution.status == "optimal":
            assert value >= solution.objective, name


@pytest.mark.parametrize("gpus", [2, 3, 4])
def test_joint_optimum_beats_greedy_replication_by_2g_over_g_plus_1(gpus: int) -> None:
    """Loads (1, 0, ..., 0), num_log + G slots on G GPUs: greedy replication gives the hot expert
    G+1 replicas (2/(G+1) on some GPU); the joint optimum gives it G (1/G on every GPU)."""
    num_log = 2 * gpus
    weights = [1] + [0] * (num_log - 1)
    solution = solve_rebalance_layer(weights, num_log + gpus, 1, 1, gpus, time_limit=5.0)
    assert solution.status == "optimal"
    assert solution.objective == Fraction(1, gpus)
    tensor = torch.tensor([weights], dtype=torch.int64)
    phy2log, _, _ = VARIANTS["greedy"].rebalance_experts(tensor, num_log + gpus, 1, 1, gpus)
    greedy = rebalance_objective(weights, phy2log[0].tolist(), gpus)
    assert greedy == Fraction(2, gpus + 1)
    assert greedy / solution.objective == Fraction(2 * gpus, gpus + 1)


def test_hierarchy_cost_is_reported() -> None:
    """Two heavy experts in one group must share a node under the hierarchy, not without it."""
    weights = [8, 8, 1, 1]
    solution = solve_rebalance_layer(weights, 4, 2, 2, 2, time_limit=5.0)
    assert solution.details["contract"] == "hierarchical"
    assert solution.objective == 16  # the heavy group fills one node's only GPU
    assert solution.details["global_optimum"] == "9"  # JSON-ready: exact "p/q" strings
    flat = solve_rebalance_layer(weights, 4, 2, 2, 2, policy="global", time_limit=5.0)
    assert flat.objective == 9 and flat.details["contract"] == "global"


def test_large_instance_gets_staged_placement_and_honest_bound() -> None:
    import random

    rng = random.Random(3)
    weights = [int(rng.lognormvariate(6, 1.5)) for _ in range(64)]
    solution = solve_rebalance_layer(weights, 80, 8, 2, 8, time_limit=2.0)
    shape = (64, 80, 8, 2, 8)
    assert solution.assignment is not None
    assert honours_contract(solution.assignment, shape, hierarchical=True)
    assert solution.details["method"] == "staged"
    assert solution.bound <= solution.objective
    assert solution.status in ("optimal", "feasible")
    gap = solution.gap()
    assert gap is not None and gap < Fraction(1, 10)


def test_deterministic_for_a_fixed_seed() -> None:
    weights = [9, 3, 3, 0, 5, 7, 1, 2]
    runs = [solve_rebalance_layer(weights, 12, 4, 2, 4, time_limit=2.0, seed=5) for _ in range(2)]
    assert runs[0].assignment == runs[1].assignment
    assert (runs[0].objective, runs[0].bound, runs[0].status) == (
        runs[1].objective,
        runs[1].bound,
        runs[1].status,
    )
    assert runs[0].details["global"] == runs[1].details["global"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((3, 1, 1, 1), "num_replicas"),
        ((4, 3, 1, 2), "num_groups"),
        ((4, 1, 1, 3), "num_gpus"),
        ((6, 1, 2, 3), "num_nodes"),
    ],
)
def test_bad_shapes_are_named(args: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        solve_rebalance_layer([1, 2, 3, 4], *args)


def test_hierarchical_policy_requires_divisible_groups() -> None:
    with pytest.raises(ValueError, match="num_groups"):
        solve_rebalance_layer([1, 2, 3, 4], 4, 1, 2, 2, policy="hierarchical")
    with pytest.raises(ValueError, match="policy"):
        solve_rebalance_layer([1, 2, 3, 4], 4, 1, 1, 2, policy="best")


@SOLVE
@given(rebalance_cases())
def test_joint_cp_sat_model_alone_proves_the_optimum(case: tuple[list[int], Shape]) -> None:
    """The joint model, started from a naive placement, finds and proves the brute-force optimum
    (hierarchical shapes and flat ones alike)."""
    weights, shape = case
    n, replicas, groups, nodes, gpus = shape
    hierarchical = groups % nodes == 0
    layout = LayoutShape(*shape) if hierarchical else LayoutShape.flat(n, replicas, gpus)
    naive = naive_placement(layout)
    assert honours_contract(naive, shape, hierarchical)
    bound, found, _ = joint_search(weights, layout, naive, Budget(5.0))
    optimum = brute_force_rebalance(weights, shape, hierarchical)
    assert bound == optimum
    best = naive if found is None else found
    assert honours_contract(best, shape, hierarchical)
    assert rebalance_objective(weights, best, gpus) == optimum


@SOLVE
@given(
    st.sampled_from(_tiny_shapes()).flatmap(
        lambda shape: st.tuples(
            st.lists(
                st.floats(0, 100, allow_nan=False, allow_infinity=False),
                min_size=shape[0],
                max_size=shape[0],
            ),
            st.just(shape),
        )
    )
)
def test_real_loads_get_a_certified_interval(case: tuple[list[float], Shape]) -> None:
    weights, shape = case
    _, replicas, groups, nodes, gpus = shape
    hierarchical = groups % nodes == 0
    solution = solve_rebalance_layer(weights, replicas, groups, nodes, gpus, time_limit=5.0)
    assert solution.assignment is not None
    assert solution.objective == rebalance_objective(weights, solution.assignment, gpus)
    assert solution.bound <= brute_force_rebalance(weights, shape, hierarchical)
    assert brute_force_rebalance(weights, shape, hierarchical) <= solution.objective

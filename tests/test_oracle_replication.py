"""The replication optimum: against brute force, against the reference's greedy, and its contract.

The oracle finds the optimum by bisection over candidate values w/c, never by adding replicas one at
a time, so agreeing with the greedy's max load per replica (which is provably optimal) on every
generated instance checks the greedy rather than restating it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import REPLICATION_METHODS, replicate_experts
from verifier.model.instances import ReplicationInstance
from verifier.model.objectives import exact, replica_counts, replication_objective
from verifier.oracle import lower_bound, solve_layer, solve_replication_layer


def brute_force_replication(weights: Sequence[int | float], num_phy: int) -> Fraction:
    """min over all count vectors (each >= 1, summing to num_phy) of max w/c."""
    cuts_between = itertools.combinations(range(1, num_phy), len(weights) - 1)
    return min(
        replication_objective(
            weights, [b - a for a, b in zip((0, *cuts), (*cuts, num_phy), strict=True)]
        )
        for cuts in cuts_between
    )


@st.composite
def replication_cases(draw: st.DrawFn, max_experts: int = 12) -> tuple[list[int | float], int]:
    n = draw(st.integers(1, max_experts))
    weights: list[int | float] = draw(
        st.one_of(
            st.lists(st.integers(0, 50), min_size=n, max_size=n),
            st.lists(st.sampled_from([0, 3, 7]), min_size=n, max_size=n),
            st.lists(st.integers(0, 2**40), min_size=n, max_size=n),
            st.lists(
                st.floats(0, 1e6, allow_nan=False, allow_infinity=False), min_size=n, max_size=n
            ),
        )
    )
    return list(weights), n + draw(st.integers(0, 3 * n + 4))


@settings(deadline=None, max_examples=120)
@given(replication_cases(max_experts=4))
def test_optimum_matches_brute_force(case: tuple[list[int | float], int]) -> None:
    weights, num_phy = case
    solution = solve_replication_layer(weights, num_phy)
    assert solution.status == "optimal"
    assert solution.objective == solution.bound == brute_force_replication(weights, num_phy)


@settings(deadline=None, max_examples=200)
@given(replication_cases())
def test_counts_are_valid_and_attain_the_optimum(case: tuple[list[int | float], int]) -> None:
    weights, num_phy = case
    solution = solve_replication_layer(weights, num_phy)
    counts = solution.assignment
    assert counts is not None and len(counts) == len(weights)
    assert sum(counts) == num_phy and min(counts) >= 1
    assert replication_objective(weights, counts) == solution.objective


@settings(deadline=None, max_examples=200)
@given(replication_cases())
def test_optimum_equals_every_greedy_max_load_per_replica(
    case: tuple[list[int | float], int],
) -> None:
    """The reference's greedy (each variant) attains exactly the independently found optimum."""
    weights, num_phy = case
    optimum = solve_replication_layer(weights, num_phy).objective
    dtype = torch.int64 if all(isinstance(w, int) for w in weights) else torch.float64
    tensor = torch.tensor([weights], dtype=dtype)
    for method in REPLICATION_METHODS:
        phy2log, _, logcnt = replicate_experts(tensor, num_phy, method=method)
        counts = replica_counts(phy2log[0].tolist(), len(weights))
        assert counts == logcnt[0].tolist(), method
        assert replication_objective(weights, counts) == optimum, method


def test_lower_bound_is_the_optimum_for_replication() -> None:
    instance = ReplicationInstance([[4, 0, 9, 1], [0, 0, 0, 0]], num_phy=7)
    for layer in range(2):
        solution = solve_layer(instance, layer)
        assert lower_bound(instance, layer) == solution.objective
    assert solve_layer(instance, 0).objective == Fraction(3)  # 9/3 with counts (1,1,3,1)+1 spare
    assert solve_layer(instance, 1).objective == 0


def test_huge_instance_is_fast_and_exact() -> None:
    import random

    rng = random.Random(1)
    weights = [rng.randrange(0, 10**9) for _ in range(1024)]
    solution = solve_replication_layer(weights, 4096)
    counts = solution.assignment or []
    assert sum(counts) == 4096
    assert solution.objective == max(exact(w) / c for w, c in zip(weights, counts, strict=True))
    assert solution.seconds < 5


@pytest.mark.parametrize(
    ("weights", "num_phy", "message"),
    [([1, 2, 3], 2, "num_phy"), ([1, -1], 3, "negative"), ([], 1, "no experts")],
)
def test_bad_arguments_are_named(weights: list, num_phy: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        solve_replication_layer(weights, num_phy)

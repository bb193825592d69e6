"""The packing oracle against brute force, its bounds against the optimum, the reference against it.

Brute force enumerates every packing of a tiny instance, so these tests check the oracle's optimum,
status and bound with no trust in the oracle itself. Weights cover every family the fuzzer makes:
small integers (ties, zeros), large integers, and floats that are not exactly representable
(the certified-interval path).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from fractions import Fraction

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference import PACKING_METHODS, balanced_packing
from verifier.model.objectives import exact, pack_loads, packing_objective
from verifier.oracle import solve_packing_layer
from verifier.oracle.bisection import pack_under_cap
from verifier.oracle.bounds import packing_bounds
from verifier.oracle.packing import solve_integer_packing
from verifier.oracle.twoway import (
    _dp_split,
    _enumerate_split,
    _meet_in_the_middle_split,
    subset_in_window,
)

SHAPES = [(n, m) for n in range(1, 9) for m in range(1, n + 1) if n % m == 0]
SOLVE = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])


def _partitions(items: list[int], size: int) -> Iterator[list[tuple[int, ...]]]:
    """Every split of `items` into unlabelled groups of `size` (first item's group chosen first)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for others in itertools.combinations(rest, size - 1):
        remaining = [i for i in rest if i not in others]
        for tail in _partitions(remaining, size):
            yield [(first, *others), *tail]


def brute_force_packing(weights: Sequence[int | float], num_packs: int) -> Fraction:
    """The optimum by trying every partition into packs of n/m items."""
    size = len(weights) // num_packs
    return min(
        max(sum((exact(weights[i]) for i in group), Fraction(0)) for group in partition)
        for partition in _partitions(list(range(len(weights))), size)
    )


def _small_ints(n: int) -> st.SearchStrategy[list[int | float]]:
    return st.lists(st.integers(0, 12), min_size=n, max_size=n)


def _weights(n: int) -> st.SearchStrategy[list[int | float]]:
    return st.one_of(
        _small_ints(n),
        st.lists(st.sampled_from([0, 1, 5]), min_size=n, max_size=n),  # heavy ties and zeros
        st.lists(st.integers(0, 2**30), min_size=n, max_size=n),
        st.lists(st.floats(0, 1000, allow_nan=False, allow_infinity=False), min_size=n, max_size=n),
    )


@st.composite
def packing_cases(draw: st.DrawFn) -> tuple[list[int | float], int]:
    n, m = draw(st.sampled_from([(n, m) for n, m in SHAPES if n <= 8]))
    return draw(_weights(n)), m


def _check_valid(weights: Sequence[int | float], num_packs: int, assignment: list[int]) -> None:
    size = len(weights) // num_packs
    assert len(assignment) == len(weights)
    assert all(0 <= p < num_packs for p in assignment)
    assert all(assignment.count(p) == size for p in range(num_packs))


@SOLVE
@given(packing_cases())
def test_oracle_matches_brute_force(case: tuple[list[int | float], int]) -> None:
    weights, num_packs = case
    optimum = brute_force_packing(weights, num_packs)
    solution = solve_packing_layer(weights, num_packs, time_limit=5.0)
    assert solution.assignment is not None
    _check_valid(weights, num_packs, solution.assignment)
    assert solution.objective == packing_objective(weights, solution.assignment, num_packs)
    assert solution.bound <= optimum <= solution.objective
    json.dumps(solution.details)  # JSON-ready: corpus records store details as they are
    if solution.status == "optimal":
        assert solution.objective == optimum == solution.bound
    if all(isinstance(w, int) for w in weights):
        assert solution.status == "optimal"  # exact integers: tiny instances are always proven


@SOLVE
@given(packing_cases(), st.sampled_from(["patterns", "assignment"]))
def test_each_cp_sat_model_alone_finds_the_optimum(
    case: tuple[list[int | float], int], strategy: str
) -> None:
    """Both CP-SAT models, started from a naive packing, prove the brute-force optimum."""
    weights, num_packs = case
    integers = [int(w * 8) for w in weights]
    result = solve_integer_packing(integers, num_packs, time_limit=5.0, strategy=strategy)
    _check_valid(integers, num_packs, result.assignment)
    assert result.proven
    assert result.objective == brute_force_packing(integers, num_packs)


@settings(deadline=None, max_examples=150)
@given(packing_cases())
def test_no_cheap_bound_exceeds_the_optimum(case: tuple[list[int | float], int]) -> None:
    weights, num_packs = case
    integers = [int(w) for w in weights]
    optimum = brute_force_packing(integers, num_packs)
    for name, bound in packing_bounds(integers, num_packs).items():
        assert bound <= optimum, name


@settings(deadline=None, max_examples=150)
@given(
    st.lists(st.integers(0, 60), min_size=0, max_size=10),
    st.data(),
)
def test_two_way_splits_agree_with_enumeration(weights: list[int], data: st.DataObject) -> None:
    size = data.draw(st.integers(0, len(weights)))
    expected = _enumerate_split(weights, size).larger_side
    for split in (_dp_split(weights, size), _meet_in_the_middle_split(weights, size)):
        assert split.larger_side == expected
        assert sum(split.in_a) == size
        side_a = sum(w for w, a in zip(weights, split.in_a, strict=True) if a)
        assert max(side_a, sum(weights) - side_a) == expected


@SOLVE
@given(packing_cases())
def test_no_reference_variant_beats_the_oracle(case: tuple[list[int | float], int]) -> None:
    weights, num_packs = case
    solution = solve_packing_layer(weights, num_packs, time_limit=5.0)
    dtype = torch.int64 if all(isinstance(w, int) for w in weights) else torch.float64
    tensor = torch.tensor([weights], dtype=dtype)
    for method in PACKING_METHODS:
        pack_index, _ = balanced_packing(tensor, num_packs, method=method)
        value = packing_objective(weights, pack_index[0].tolist(), num_packs)
        assert value >= solution.bound, method
        if solution.status == "optimal":
            assert value >= solution.objective, method


def test_real_loads_get_a_certified_interval() -> None:
    """0.1 and friends are not dyadic: the oracle scales, floors, and says so."""
    weights = [0.1, 0.2, 0.3, 0.7, 0.11, 0.13]
    solution = solve_packing_layer(weights, 3, time_limit=2.0)
    optimum = brute_force_packing(weights, 3)
    assert solution.details["exact_scaling"] is False
    assert solution.bound <= optimum <= solution.objective
    assert solution.objective - solution.bound <= Fraction(2, 2**20)  # 2 items per pack, floored
    assert sum(pack_loads(weights, solution.assignment or [], 3)) == sum(map(exact, weights))


def test_deterministic_for_a_fixed_seed() -> None:
    import random

    rng = random.Random(7)
    weights = [rng.randrange(1, 2**14) for _ in range(16)]
    first = solve_packing_layer(weights, 4, time_limit=1.0, seed=3)
    second = solve_packing_layer(weights, 4, time_limit=1.0, seed=3)
    assert (first.objective, first.bound, first.status, first.assignment) == (
        second.objective,
        second.bound,
        second.status,
        second.assignment,
    )


def test_phase_transition_instance_is_proven() -> None:
    """A 16-item, 4-pack instance with 16-bit weights (hard for a plain model) is proven."""
    import random

    rng = random.Random(2)
    weights = [rng.randrange(1, 2**16) for _ in range(16)]
    solution = solve_packing_layer(weights, 4, time_limit=10.0)
    assert solution.status == "optimal"
    assert solution.bound == solution.objective


@pytest.mark.parametrize(
    ("weights", "num_packs", "message"),
    [
        ([1, 2, 3], 2, "num_packs"),
        ([1, 2], 0, "num_packs"),
        ([1, -2], 1, "negative"),
        ([1, float("nan")], 1, "not finite"),
        ([1, "x"], 1, "not a number"),
    ],
)
def test_bad_arguments_are_named(weights: list, num_packs: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        solve_packing_layer(weights, num_packs)


@settings(deadline=None, max_examples=150)
@given(packing_cases(), st.integers(0, 40))
def test_bisection_packings_are_valid_and_under_the_cap(
    case: tuple[list[int | float], int], cap: int
) -> None:
    """Recursive bisection is a heuristic: whatever it returns must be a packing under the cap,
    so it can never return one below the optimum."""
    weights, num_packs = case
    integers = [int(w) % 16 for w in weights]
    found = pack_under_cap(integers, num_packs, cap)
    if found is not None:
        _check_valid(integers, num_packs, found)
        assert max(pack_loads(integers, found, num_packs)) <= cap
        assert brute_force_packing(integers, num_packs) <= cap


@settings(deadline=None, max_examples=150)
@given(st.lists(st.integers(0, 30), max_size=10), st.data())
def test_subset_in_window_respects_size_and_window(weights: list[int], data: st.DataObject) -> None:
    size = data.draw(st.integers(0, len(weights)))
    low = data.draw(st.integers(-5, 150))
    high = data.draw(st.integers(low, 160))
    chosen = subset_in_window(
        weights, size, low, high, (low + high) // 2, data.draw(st.integers(0, 3))
    )
    reachable = {sum(c) for c in itertools.combinations(weights, size) if low <= sum(c) <= high}
    if chosen is None:
        assert not reachable
    else:
        assert sum(chosen) == size
        assert sum(w for w, c in zip(weights, chosen, strict=True) if c) in reachable


def test_relative_gap_stops_early_with_an_honest_bound() -> None:
    import random

    rng = random.Random(11)
    loads = [
        Fraction(int(rng.lognormvariate(0, 1.2) * 4096), rng.choice([1, 2, 3])) for _ in range(72)
    ]
    solution = solve_packing_layer(loads, 8, time_limit=10.0, relative_gap=1e-3)
    gap = solution.gap()
    assert gap is not None and gap <= Fraction(1, 1000)
    assert solution.bound <= solution.objective
    assert solution.seconds < 5

"""The `fast` reference variant: contract, exact replica counts, refinement and device properties.

Its balance against greedy is not a guaranteed property (it starts from its own deal, not from
greedy's packing); `benchmarks/rebalance.py` measures it on several load models, and one fixed,
seeded instance per production shape and policy pins it here as a regression check.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import PACKING_METHODS, VARIANTS, balanced_packing, rebalance_experts
from reference.fast import (
    FEW_ROUNDS,
    deal_in_rounds,
    dealing_schedules,
    fixed_order_sum,
    order_by_replica_load,
)
from reference.replica_counts import MAX_CANDIDATES, candidate_table, greedy_counts
from reference.replication import replicate_experts
from verifier.calling.sandbox import outcome_of_result
from verifier.judging.judge import Verdict, judge
from verifier.judging.quality import replication_optimality
from verifier.model.contract import call_args, function_for, natural_dtype
from verifier.model.instances import (
    Instance,
    PackingInstance,
    RebalanceInstance,
    ReplicationInstance,
)
from verifier.model.objectives import rebalance_objective
from verifier.model.shapes import PRODUCTION_SHAPES, SHAPES
from verifier.model.strategies import packing_instances, rebalance_instances, replication_instances

FAST = VARIANTS["fast"]


def pack_loads(weight: torch.Tensor, pack_index: torch.Tensor, num_packs: int) -> torch.Tensor:
    loads = torch.zeros(weight.shape[0], num_packs, dtype=torch.float64, device=weight.device)
    return loads.scatter_add_(1, pack_index, weight.to(torch.float64))


def test_fast_is_a_packing_method_and_a_variant() -> None:
    assert "fast" in PACKING_METHODS
    assert FAST.packing == "fast"


# --- the contract, judged by the verifier's one invariant checker ------------------------------


def _verdict(instance: Instance) -> Verdict:
    """The fast variant called in-process (trusted reference code), judged on the one path."""
    dtype = getattr(torch, natural_dtype(instance))
    weight = torch.tensor(instance.weights, dtype=dtype).reshape(len(instance.weights), -1)
    result = getattr(FAST, function_for(instance))(weight, *call_args(instance))
    return judge(instance, outcome_of_result(result))


def _contract_problems(instance: Instance) -> list[str]:
    return [finding.message for finding in _verdict(instance).violations]


@settings(max_examples=80, deadline=None)
@given(packing_instances())
def test_fast_packing_keeps_the_contract(instance: PackingInstance) -> None:
    assert _contract_problems(instance) == []


@settings(max_examples=80, deadline=None)
@given(rebalance_instances())
def test_fast_rebalance_keeps_the_contract_and_optimal_replication(
    instance: RebalanceInstance,
) -> None:
    verdict = _verdict(instance)
    assert [finding.message for finding in verdict.violations] == []
    assert verdict.outputs is not None
    # Each node's replica counts minimise its max load per replica (checked exactly).
    assert replication_optimality("rebalance_experts", instance, verdict.outputs, "auto") == []


# --- exact replica counts --------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(replication_instances())
def test_threshold_counts_equal_the_greedy_replication(instance: ReplicationInstance) -> None:
    weight = torch.tensor(instance.weights, dtype=torch.float64)
    if weight.numel() == 0:
        return
    expected = replicate_experts(weight, instance.num_phy)[2]
    assert torch.equal(greedy_counts(weight, instance.num_phy), expected)


@pytest.mark.parametrize(
    ("rows", "num_phy"),
    [
        ([[6, 3, 2, 1]], 6),  # 6/2 = 3/1 on the boundary: the lower expert index wins
        ([[4, 2, 2, 2, 1]], 7),  # equal loads tie at the k-th expert (exact path)
        ([[0, 0, 0]], 5),  # all-zero layer
        ([[1.0, 1 / 3, 2 / 3, 0.1]], 9),  # real-valued loads
        ([[5, 5, 5, 5]], 4),  # no redundant slot
        ([[1000, 1, 1, 1]], 16),  # one expert takes every redundant slot (j up to spare)
        ([[8, 4, 2, 1, 1, 1, 1, 1]], 20),  # powers of two: many exact ties at the boundary
    ],
)
def test_threshold_counts_on_ties_and_corner_cases(rows: list[list[float]], num_phy: int) -> None:
    weight = torch.tensor(rows, dtype=torch.float64)
    expected = replicate_experts(weight, num_phy)[2]
    assert torch.equal(greedy_counts(weight, num_phy), expected)


@pytest.mark.parametrize(("k", "spare"), [(1, 1), (4, 9), (8, 8), (32, 32)])
def test_candidate_table_keeps_exactly_the_pairs_that_can_win(k: int, spare: int) -> None:
    expert_at, divisor = candidate_table(k, spare, torch.device("cpu"))
    kept = set(zip(expert_at.tolist(), divisor.tolist(), strict=True))
    every = {(i, j) for i in range(k) for j in range(1, spare + 1)}
    assert kept == {(i, j) for i, j in every if (i + 1) * (j - 1) < spare}
    assert {j for i, j in kept if i == 0} == set(range(1, spare + 1))  # the heaviest: any j


def test_threshold_counts_fall_back_beyond_the_candidate_cap() -> None:
    experts = 200
    weight = torch.arange(1, experts + 1, dtype=torch.float64).unsqueeze(0)
    num_phy = experts + MAX_CANDIDATES // 100  # k * spare well above the cap
    assert min(experts, num_phy - experts) * (num_phy - experts) > MAX_CANDIDATES
    expected = replicate_experts(weight, num_phy)[2]
    assert torch.equal(greedy_counts(weight, num_phy), expected)


# --- packing properties ----------------------------------------------------------------------


@st.composite
def integer_packings(draw: st.DrawFn) -> tuple[torch.Tensor, int]:
    layers = draw(st.integers(1, 3))
    num_packs = draw(st.integers(1, 6))
    per_pack = draw(st.integers(1, 6))
    values = st.integers(0, 1000) | st.sampled_from([0, 1, 500])
    rows = [[draw(values) for _ in range(num_packs * per_pack)] for _ in range(layers)]
    return torch.tensor(rows, dtype=torch.int64), num_packs


@settings(max_examples=100, deadline=None)
@given(integer_packings())
def test_refinement_never_raises_the_forward_deal_maximum(case: tuple[torch.Tensor, int]) -> None:
    weight, num_packs = case
    loads = weight.to(torch.float64)
    _, forward_load = deal_in_rounds(
        loads.sort(dim=1, descending=True, stable=True).values, num_packs
    )
    pack_index, _ = balanced_packing(weight, num_packs, method="fast")
    final = pack_loads(weight, pack_index, num_packs).max(dim=1).values
    assert (final <= forward_load.max(dim=1).values).all()


def _best_pairing_max(row: list[int]) -> int:
    """Brute force: the smallest possible maximum when the items go two per pack."""
    best = None
    for order in itertools.permutations(range(len(row))):
        peak = max(row[order[i]] + row[order[i + 1]] for i in range(0, len(row), 2))
        best = peak if best is None else min(best, peak)
    assert best is not None
    return best


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 100), min_size=2, max_size=8).filter(lambda r: len(r) % 2 == 0))
def test_two_items_per_pack_is_optimal(row: list[int]) -> None:
    num_packs = len(row) // 2
    pack_index, _ = balanced_packing(torch.tensor([row]), num_packs, method="fast")
    peak = pack_loads(torch.tensor([row]), pack_index, num_packs).max()
    assert int(peak) == _best_pairing_max(row)


@pytest.mark.parametrize("refine", [True, False])
@pytest.mark.parametrize(("n", "num_packs"), [(6, 2), (72, 8), (288, 32), (27, 3), (35, 7)])
def test_dealing_schedules_deal_every_item_once_heaviest_of_a_round_first(
    n: int, num_packs: int, refine: bool
) -> None:
    schedules = dealing_schedules(n, num_packs, refine, torch.device("cpu")).tolist()
    few_rounds = n // num_packs <= FEW_ROUNDS
    assert len(schedules) == (2 if refine else 3) + few_rounds
    for schedule in schedules:
        assert sorted(schedule) == list(range(n))
        assert schedule[:num_packs] == list(range(num_packs))  # the m heaviest open the packs
        rounds = [schedule[r : r + num_packs] for r in range(0, n, num_packs)]
        assert all(block == sorted(block) for block in rounds)  # heaviest of a round first
    forward, two_ended = schedules[:2]
    assert forward == list(range(n))
    if n > num_packs:  # round 1 ends with the lightest item (it goes to the heaviest pack)
        assert two_ended[2 * num_packs - 1] == n - 1
    if few_rounds and n > num_packs:  # strided: round r's lightest is the r-th lightest item
        strided = schedules[-1]
        assert [strided[r * num_packs - 1] for r in range(2, n // num_packs + 1)] == [
            n - r for r in range(1, n // num_packs)
        ]


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 24).flatmap(
        lambda n: st.tuples(
            st.lists(
                st.lists(st.integers(0, 30) | st.sampled_from([0, 7]), min_size=n, max_size=n),
                min_size=1,
                max_size=3,
            ),
            st.integers(n, 3 * n),
        )
    )
)
def test_replica_order_is_by_load_per_replica_without_a_second_sort(
    case: tuple[list[list[int]], int],
) -> None:
    rows, num_slots = case
    loads = torch.tensor(rows, dtype=torch.float64)
    n = loads.shape[1]
    by_load = torch.sort(loads, dim=1, descending=True, stable=True)
    counts = replicate_experts(loads, num_slots)[2]
    order, per_replica = order_by_replica_load(
        by_load.values, by_load.indices, counts, min(n, num_slots - n)
    )
    assert torch.equal(order.sort(dim=1).values, torch.arange(n).expand_as(order))
    assert torch.equal(per_replica, loads.gather(1, order) / counts.gather(1, order))
    assert bool((per_replica[:, :-1] >= per_replica[:, 1:]).all())


@pytest.mark.parametrize(("num_replicas", "num_gpus"), [(384, 128), (512, 128), (2048, 256)])
def test_fast_handles_many_packs_per_row(num_replicas: int, num_gpus: int) -> None:
    """Regression: 128 or more packs in a row once left the refinement no swap partner."""
    weight = torch.randint(0, 1000, (2, 256), generator=torch.Generator().manual_seed(4))
    instance = RebalanceInstance(weight.tolist(), num_replicas, 1, 1, num_gpus)
    assert _contract_problems(instance) == []


@pytest.mark.parametrize("width", [1, 2, 3, 8, 31, 32])
def test_fixed_order_sum_adds_every_column(width: int) -> None:
    values = torch.arange(3 * width, dtype=torch.float64).view(3, width) ** 2
    assert torch.equal(fixed_order_sum(values), values.sum(dim=1))


# 3 and 5 replicas per GPU: once below greedy, before the strided deal.
WIDE_CLUSTERS = [("deepseek-v3", (288, 1, 1, 96)), ("deepseek-v3", (320, 1, 1, 64))]


BALANCE_CASES = (
    list(  # hierarchical and global at each production shape (once if equal)
        dict.fromkeys(
            (name, (SHAPES[name].num_replicas, groups, nodes, SHAPES[name].num_gpus))
            for name in PRODUCTION_SHAPES
            for groups, nodes in ((SHAPES[name].num_groups, SHAPES[name].num_nodes), (1, 1))
        )
    )
    + WIDE_CLUSTERS
)


@pytest.mark.parametrize(
    ("name", "sizes"),
    BALANCE_CASES,
    ids=[f"{name}-{'x'.join(map(str, sizes))}" for name, sizes in BALANCE_CASES],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_fast_is_not_less_balanced_than_greedy_at_production_shapes(
    name: str, sizes: tuple[int, int, int, int], seed: int
) -> None:
    """Regression check on the bench's seeded MoE loads: the sum over layers of the max GPU load
    (the denominator of balancedness, exact) is not above greedy's."""
    weights = SHAPES[name].loads(seed)
    weight = torch.tensor(weights, dtype=torch.float64)

    def peak_sum(packing: str) -> Fraction:
        phy2log = rebalance_experts(weight, *sizes, packing=packing)[0].tolist()
        return sum(
            (
                rebalance_objective(row, slots, sizes[3])
                for row, slots in zip(weights, phy2log, strict=True)
            ),
            Fraction(0),
        )

    assert peak_sum("fast") <= peak_sum("greedy")


# --- determinism, inputs, devices --------------------------------------------------------------


def _real_loads(seed: int, layers: int, experts: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    loads = torch.randn(layers, experts, generator=generator, dtype=torch.float64).exp()
    return loads.to(torch.float32) * 1000.3


@pytest.mark.parametrize("policy", [(8, 4), (1, 1)])
def test_fast_rebalance_is_deterministic_and_does_not_mutate(
    policy: tuple[int, int], device: str
) -> None:
    weight = _real_loads(1, 6, 64).to(device)
    before = weight.clone()
    runs = [rebalance_experts(weight, 80, *policy, 16, packing="fast") for _ in range(2)]
    assert torch.equal(weight, before)
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)
        assert a.dtype == torch.int64 and a.device == weight.device


def test_fast_rebalance_names_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_gpus"):
        rebalance_experts(torch.ones(2, 8), 16, 2, 1, 3, packing="fast")
    with pytest.raises(ValueError, match="method"):
        balanced_packing(torch.ones(2, 8), 2, method="fastest")


@pytest.mark.cuda
@pytest.mark.parametrize("policy", [(8, 4), (1, 1)])
def test_fast_cuda_and_cpu_give_identical_plans(policy: tuple[int, int]) -> None:
    for weight in (_real_loads(2, 12, 256), _real_loads(3, 12, 256).round()):
        on_cpu = rebalance_experts(weight, 288, *policy, 32, packing="fast")
        on_cuda = rebalance_experts(weight.cuda(), 288, *policy, 32, packing="fast")
        for a, b in zip(on_cpu, on_cuda, strict=True):
            assert torch.equal(a, b.cpu())


@pytest.mark.cuda
def test_threshold_counts_identical_on_cuda() -> None:
    weight = torch.tensor([[6, 3, 2, 1, 6, 3], [4, 2, 2, 2, 1, 0]], dtype=torch.float64)
    for num_phy in range(6, 16):
        on_cpu = greedy_counts(weight, num_phy)
        assert torch.equal(greedy_counts(weight.cuda(), num_phy).cpu(), on_cpu)

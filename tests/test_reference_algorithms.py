"""Unit tests of the reference algorithms: published example, hand-checked cases, properties."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import (
    PACKING_METHODS,
    REPLICATION_METHODS,
    balanced_packing,
    rebalance_experts,
    replicate_experts,
)
from verifier.model.examples import (
    DEEPSEEK_CLUSTER,
    DEEPSEEK_LOGCNT,
    DEEPSEEK_PHY2LOG,
    DEEPSEEK_WEIGHTS,
)


def pack_loads(weight: torch.Tensor, pack_index: torch.Tensor, num_packs: int) -> torch.Tensor:
    loads = torch.zeros(weight.shape[0], num_packs, dtype=torch.float64, device=weight.device)
    return loads.scatter_add_(1, pack_index, weight.to(torch.float64))


def test_deepseek_published_example(device: str) -> None:
    weight = torch.tensor(DEEPSEEK_WEIGHTS, device=device)
    phy2log, log2phy, logcnt = rebalance_experts(weight, *DEEPSEEK_CLUSTER)
    assert phy2log.tolist() == DEEPSEEK_PHY2LOG
    assert logcnt.tolist() == DEEPSEEK_LOGCNT
    assert log2phy.shape == (2, 12, 5)
    for layer in range(2):
        for expert in range(12):
            slots = [s for s in log2phy[layer, expert].tolist() if s >= 0]
            assert sorted(slots) == [
                s for s, e in enumerate(DEEPSEEK_PHY2LOG[layer]) if e == expert
            ]


@pytest.mark.parametrize("replication", REPLICATION_METHODS)
def test_deepseek_example_with_heap_replication(replication: str) -> None:
    phy2log, _, logcnt = rebalance_experts(
        torch.tensor(DEEPSEEK_WEIGHTS), *DEEPSEEK_CLUSTER, replication=replication
    )
    assert phy2log.tolist() == DEEPSEEK_PHY2LOG
    assert logcnt.tolist() == DEEPSEEK_LOGCNT


def test_greedy_packing_hand_checked() -> None:
    # 5->p0, 4->p1, 3->p1 (4<5), 2->p0 (5<7), 1 (idx 4)->p0 (tie 7=7: lower pack), 1->p1 (p0 full)
    pack_index, rank = balanced_packing(torch.tensor([[5, 4, 3, 2, 1, 1]]), 2)
    assert pack_index.tolist() == [[0, 1, 1, 0, 0, 1]]
    assert rank.tolist() == [[0, 0, 1, 1, 2, 2]]


def test_greedy_packing_breaks_item_ties_by_index() -> None:
    pack_index, rank = balanced_packing(torch.tensor([[1.0, 1.0, 1.0, 1.0]]), 4)
    assert pack_index.tolist() == [[0, 1, 2, 3]]
    assert rank.tolist() == [[0, 0, 0, 0]]


def test_replication_hand_checked() -> None:
    # ratios 6,3,1 -> expert 0 (now 3); tie 3 = 3 -> lower index, expert 0 again (now 2).
    phy2log, rank, logcnt = replicate_experts(torch.tensor([[6, 3, 1]]), 5)
    assert phy2log.tolist() == [[0, 1, 2, 0, 0]]
    assert rank.tolist() == [[0, 0, 0, 1, 2]]
    assert logcnt.tolist() == [[3, 1, 1]]


def test_global_fallback_when_groups_do_not_divide_nodes() -> None:
    weight = torch.tensor([[10, 1, 1, 1, 1, 1]])
    phy2log, _, logcnt = rebalance_experts(weight, 8, 3, 2, 4)
    assert logcnt.tolist() == [[3, 1, 1, 1, 1, 1]]  # global replication: all spares to expert 0
    gpu_of_slot = torch.arange(8) // 2
    gpus_of_hot = {int(g) for g, e in zip(gpu_of_slot, phy2log[0], strict=True) if e == 0}
    assert len(gpus_of_hot) == 3


# --- bad input ------------------------------------------------------------------------------

BAD_PACKING = [
    (torch.tensor([1.0, 2.0]), 1, {}, "2-D"),
    (torch.tensor([[1.0, -2.0]]), 1, {}, "negative"),
    (torch.tensor([[1.0, float("nan")]]), 1, {}, "NaN"),
    (torch.tensor([[1.0, float("inf")]]), 1, {}, "infinite"),
    (torch.tensor([[1, 2, 3]]), 2, {}, "num_packs"),
    (torch.tensor([[1, 2]]), 0, {}, "num_packs"),
    (torch.tensor([[1, 2]]), 2, {"method": "magic"}, "method"),
    ([[1, 2]], 2, {}, "weight"),
    (torch.tensor([[1 + 1j, 2]]), 2, {}, "weight"),
]


@pytest.mark.parametrize(("weight", "num_packs", "kwargs", "named"), BAD_PACKING)
def test_packing_rejects_bad_input(
    weight: object, num_packs: int, kwargs: dict, named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        balanced_packing(weight, num_packs, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("num_phy", "kwargs", "named"),
    [(2, {}, "num_phy"), (4, {"method": "fast"}, "method"), (2.0, {}, "num_phy")],
)
def test_replication_rejects_bad_input(num_phy: object, kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        replicate_experts(torch.tensor([[1, 2, 3]]), num_phy, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        ((8, 3, 1, 4), {}, "num_groups"),  # 4 experts, 3 groups
        ((8, 2, 3, 4), {}, "num_gpus"),  # 4 GPUs on 3 nodes
        ((6, 2, 1, 4), {}, "num_replicas"),  # 6 replicas on 4 GPUs
        ((2, 2, 1, 2), {}, "num_replicas"),  # fewer replicas than experts
        ((8, 2, 1, 0), {}, "num_gpus"),
        ((8, 0, 1, 4), {}, "num_groups"),
        ((8, 2, 1, 4), {"packing": "nope"}, "packing"),
        ((8, 2, 1, 4), {"replication": "nope"}, "replication"),
    ],
)
def test_rebalance_rejects_bad_input(args: tuple[int, ...], kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        rebalance_experts(torch.tensor([[1, 2, 3, 4]]), *args, **kwargs)


def test_integer_loads_beyond_float64_exactness_are_rejected() -> None:
    with pytest.raises(ValueError, match="weight"):
        replicate_experts(torch.tensor([[2**60, 1]]), 3)


def test_zero_layers_give_empty_results_of_the_right_shapes() -> None:
    empty = torch.zeros(0, 8)
    pack_index, rank = balanced_packing(empty, 4)
    assert pack_index.shape == rank.shape == (0, 8)
    phy2log, rank, logcnt = replicate_experts(empty, 10)
    assert phy2log.shape == rank.shape == (0, 10) and logcnt.shape == (0, 8)
    for replication in REPLICATION_METHODS:
        phy2log, log2phy, logcnt = rebalance_experts(empty, 16, 4, 2, 8, replication=replication)
        assert phy2log.shape == (0, 16) and log2phy.shape == (0, 8, 9) and logcnt.shape == (0, 8)
        assert phy2log.dtype == log2phy.dtype == logcnt.dtype == torch.int64


# --- properties over generated inputs ---------------------------------------------------------


@st.composite
def packing_inputs(draw: st.DrawFn) -> tuple[torch.Tensor, int]:
    layers = draw(st.integers(1, 3))
    num_packs = draw(st.integers(1, 5))
    per_pack = draw(st.integers(1, 5))
    values = st.integers(0, 30) | st.sampled_from([0, 7])
    rows = [[draw(values) for _ in range(num_packs * per_pack)] for _ in range(layers)]
    as_float = draw(st.booleans())
    return torch.tensor(rows, dtype=torch.float32 if as_float else torch.int64), num_packs


@st.composite
def replication_inputs(draw: st.DrawFn) -> tuple[torch.Tensor, int]:
    """Ties, zeros and float32 near-ties: what could split the two paths through rounding."""
    layers = draw(st.integers(1, 3))
    experts = draw(st.integers(1, 10))
    base = draw(st.floats(1.0, 1e6, width=32))
    family = draw(st.sampled_from(["ints", "near_ties", "multiples", "floats"]))
    rows = []
    for _ in range(layers):
        if family == "ints":
            row = [float(draw(st.integers(0, 6))) for _ in range(experts)]
        elif family == "near_ties":
            row = [base * draw(st.sampled_from([1, 2, 3])) for _ in range(experts)]
            row = [
                float(torch.nextafter(torch.tensor(v), torch.tensor(2e9)))
                if draw(st.booleans())
                else v
                for v in row
            ]
        elif family == "multiples":
            row = [base * draw(st.integers(0, 4)) for _ in range(experts)]
        else:
            row = [draw(st.floats(0, 1e7, width=32)) for _ in range(experts)]
        rows.append(row)
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    return torch.tensor(rows, dtype=dtype), experts + draw(st.integers(0, 12))


@settings(max_examples=150, deadline=None)
@given(replication_inputs())
def test_heap_and_vectorized_replication_agree_exactly(case: tuple[torch.Tensor, int]) -> None:
    weight, num_phy = case
    vectorized = replicate_experts(weight, num_phy, method="vectorized")
    heap = replicate_experts(weight, num_phy, method="heap")
    for a, b in zip(vectorized, heap, strict=True):
        assert torch.equal(a, b)


@settings(max_examples=60, deadline=None)
@given(replication_inputs())
def test_each_redundant_slot_goes_to_the_highest_load_per_replica(
    case: tuple[torch.Tensor, int],
) -> None:
    from fractions import Fraction

    weight, num_phy = case
    phy2log, rank, logcnt = replicate_experts(weight, num_phy)
    for layer, row in enumerate(weight.tolist()):
        counts = [1] * len(row)
        for slot in range(len(row), num_phy):
            ratios = [Fraction(w) / c for w, c in zip(row, counts, strict=True)]
            best = max(ratios)
            expected = ratios.index(best)
            assert int(phy2log[layer, slot]) == expected
            assert int(rank[layer, slot]) == counts[expected]
            counts[expected] += 1
        assert logcnt[layer].tolist() == counts


@settings(max_examples=60, deadline=None)
@given(packing_inputs())
def test_refinements_never_widen_the_greedy_spread(case: tuple[torch.Tensor, int]) -> None:
    weight, num_packs = case
    greedy = pack_loads(weight, balanced_packing(weight, num_packs)[0], num_packs)
    greedy_spread = greedy.max(1).values - greedy.min(1).values
    for method in ("swap", "pool_split"):
        loads = pack_loads(weight, balanced_packing(weight, num_packs, method=method)[0], num_packs)
        assert (loads.max(1).values - loads.min(1).values <= greedy_spread).all()


@pytest.mark.parametrize("method", PACKING_METHODS)
def test_packing_is_deterministic_and_does_not_mutate(method: str, device: str) -> None:
    weight = torch.randint(0, 100, (5, 24), generator=torch.Generator().manual_seed(3)).to(device)
    before = weight.clone()
    first = balanced_packing(weight, 4, method=method, seed=11)
    second = balanced_packing(weight, 4, method=method, seed=11)
    assert torch.equal(weight, before)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
        assert a.dtype == torch.int64 and a.device == weight.device


@pytest.mark.parametrize("packing", PACKING_METHODS)
@pytest.mark.parametrize("replication", REPLICATION_METHODS)
def test_rebalance_is_deterministic_on_its_device(
    packing: str, replication: str, device: str
) -> None:
    generator = torch.Generator().manual_seed(5)
    weight = (torch.rand(3, 16, generator=generator) * 100).to(device)
    before = weight.clone()
    runs = [
        rebalance_experts(weight, 24, 4, 2, 4, packing=packing, replication=replication)
        for _ in range(2)
    ]
    assert torch.equal(weight, before)
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)
        assert a.dtype == torch.int64 and a.device == weight.device


@pytest.mark.parametrize("packing", PACKING_METHODS)
@pytest.mark.parametrize("sizes", [(24, 4, 2, 4), (24, 3, 2, 4)])  # hierarchical, global
def test_each_layer_is_planned_on_its_own_loads(packing: str, sizes: tuple[int, ...]) -> None:
    """A layer's plan in a batch equals its plan alone (the multi-start perturbations too)."""
    generator = torch.Generator().manual_seed(9)
    weight = (torch.rand(5, 12, generator=generator) * 1000).round()
    batch = rebalance_experts(weight, *sizes, packing=packing)
    for layer in range(weight.shape[0]):
        alone = rebalance_experts(weight[layer : layer + 1], *sizes, packing=packing)
        for together, single in zip(batch, alone, strict=True):
            assert torch.equal(together[layer : layer + 1], single), (packing, layer)


@pytest.mark.cuda
@pytest.mark.parametrize("packing", PACKING_METHODS)
def test_cuda_and_cpu_give_identical_results(packing: str) -> None:
    generator = torch.Generator().manual_seed(9)
    weight = torch.randint(0, 50, (6, 32), generator=generator).float()
    on_cpu = rebalance_experts(weight, 48, 8, 2, 8, packing=packing)
    on_cuda = rebalance_experts(weight.cuda(), 48, 8, 2, 8, packing=packing)
    for a, b in zip(on_cpu, on_cuda, strict=True):
        assert torch.equal(a, b.cpu())

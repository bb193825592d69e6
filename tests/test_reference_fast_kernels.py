"""The compiled (numba) CPU kernels of `reference:fast` give exactly the torch path's plans.

Both paths run on the same inputs (Hypothesis instances of every load family, seeded loads at
the production shapes and at awkward clusters) and every output must be equal; the torch path is
forced with the module flag `reference.fast_kernels.ENABLED` (what `EPLB_FAST_KERNELS=0` sets).
A process where numba cannot be imported falls back to the torch path and plans the same.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import balanced_packing, fast_kernels, rebalance_experts
from reference.rebalance import rebalance_phy2log
from verifier.model.instances import PackingInstance, RebalanceInstance
from verifier.model.shapes import PRODUCTION_SHAPES, SHAPES
from verifier.model.strategies import packing_instances, rebalance_instances

pytestmark = pytest.mark.skipif(
    not fast_kernels.AVAILABLE, reason="numba is not installed (pip install 'eplb-verify[fast]')"
)

ROOT = Path(__file__).resolve().parents[1]


def both_paths(
    monkeypatch: pytest.MonkeyPatch, call: Callable[[], tuple[torch.Tensor, ...]]
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """`call()` with the compiled kernels, then with the torch path."""
    assert fast_kernels.use_kernels(torch.zeros(1))
    compiled = call()
    with monkeypatch.context() as patch:
        patch.setattr(fast_kernels, "ENABLED", False)
        assert not fast_kernels.use_kernels(torch.zeros(1))
        plain = call()
    return compiled, plain


def assert_identical(left: tuple[torch.Tensor, ...], right: tuple[torch.Tensor, ...]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        assert a.dtype == b.dtype == torch.int64
        assert a.shape == b.shape
        assert torch.equal(a, b)


def _weight(rows: list[list[float]] | list[list[int]]) -> torch.Tensor:
    flat = [value for row in rows for value in row]
    dtype = torch.int64 if all(isinstance(v, int) for v in flat) else torch.float64
    return torch.tensor(rows, dtype=dtype).reshape(len(rows), -1)


@settings(max_examples=300, deadline=None)
@given(rebalance_instances())
def test_rebalance_kernels_equal_the_torch_path(instance: RebalanceInstance) -> None:
    weight = _weight(instance.weights)
    args = (
        instance.num_replicas,
        instance.num_groups,
        instance.num_nodes,
        instance.num_gpus,
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        compiled, plain = both_paths(
            monkeypatch, lambda: rebalance_experts(weight, *args, packing="fast")
        )
    assert_identical(compiled, plain)


@settings(max_examples=100, deadline=None)
@given(rebalance_instances())
def test_phy2log_alone_equals_the_full_rebalance(instance: RebalanceInstance) -> None:
    """`rebalance_phy2log` (the kernel without its log2phy table, what FastEplbPolicy calls)
    gives the full rebalance's phy2log, on the compiled path and on the torch path."""
    weight = _weight(instance.weights)
    args = (instance.num_replicas, instance.num_groups, instance.num_nodes, instance.num_gpus)
    expected = rebalance_experts(weight, *args, packing="fast")[0]
    with pytest.MonkeyPatch.context() as monkeypatch:
        compiled, plain = both_paths(
            monkeypatch, lambda: (rebalance_phy2log(weight, *args, packing="fast"),)
        )
    assert_identical(compiled, (expected,))
    assert_identical(plain, (expected,))
    assert torch.equal(rebalance_phy2log(weight, *args), rebalance_experts(weight, *args)[0])


@settings(max_examples=300, deadline=None)
@given(packing_instances())
def test_packing_kernels_equal_the_torch_path(instance: PackingInstance) -> None:
    weight = _weight(instance.weights)
    with pytest.MonkeyPatch.context() as monkeypatch:
        compiled, plain = both_paths(
            monkeypatch, lambda: balanced_packing(weight, instance.num_packs, method="fast")
        )
    assert_identical(compiled, plain)


@st.composite
def clusters(draw: st.DrawFn) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Random clusters (more GPUs and replicas per GPU than the generic strategy draws) with
    loads full of ties, zeros and float32 values."""
    nodes = draw(st.sampled_from([1, 2, 4]))
    gpus = nodes * draw(st.integers(1, 20))
    per_gpu = draw(st.integers(1, 12))
    replicas = gpus * per_gpu
    groups = nodes * draw(st.sampled_from([1, 2]))
    if groups > replicas:
        groups = nodes  # nodes <= GPUs <= replicas
    experts = groups * draw(st.integers(1, replicas // groups))
    layers = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    kind = draw(st.sampled_from(["lognormal", "ties", "float32", "zeros"]))
    loads = torch.randn(layers, experts, generator=generator, dtype=torch.float64).exp() * 100
    if kind == "ties":
        loads = loads.div(50).round()
    elif kind == "float32":
        loads = loads.to(torch.float32).to(torch.float64) * 1.37
    elif kind == "zeros":
        loads = loads * (torch.rand(layers, experts, generator=generator) < 0.3)
    return loads, (replicas, groups, nodes, gpus)


@settings(max_examples=200, deadline=None)
@given(clusters())
def test_kernels_equal_the_torch_path_on_random_clusters(
    case: tuple[torch.Tensor, tuple[int, int, int, int]],
) -> None:
    weight, sizes = case
    with pytest.MonkeyPatch.context() as monkeypatch:
        compiled, plain = both_paths(
            monkeypatch, lambda: rebalance_experts(weight, *sizes, packing="fast")
        )
    assert_identical(compiled, plain)


SIZES = [
    (name, (SHAPES[name].num_replicas, groups, nodes, SHAPES[name].num_gpus))
    for name in PRODUCTION_SHAPES
    for groups, nodes in ((SHAPES[name].num_groups, SHAPES[name].num_nodes), (1, 1))
] + [("deepseek-v3", (288, 1, 1, 96)), ("deepseek-v3", (320, 1, 1, 64))]


def _seeded_loads(name: str, model: str, seed: int) -> torch.Tensor:
    shape = SHAPES[name]
    generator = torch.Generator().manual_seed(seed)
    if model == "moe":
        return torch.tensor(shape.loads(seed), dtype=torch.float64)
    if model == "zipf":
        ranks = torch.rand(shape.layers, shape.experts, generator=generator).argsort(dim=1) + 1
        return (100_000.0 / ranks.to(torch.float64) ** 1.1).round()
    loads = torch.randn(shape.layers, shape.experts, generator=generator, dtype=torch.float64)
    real = loads.exp() * 1000.3
    return real.to(torch.float32).to(torch.float64) if model == "float32" else real.round()


@pytest.mark.parametrize(("name", "sizes"), SIZES, ids=[f"{n}-{s}" for n, s in SIZES])
@pytest.mark.parametrize("model", ["lognormal", "zipf", "moe", "float32"])
def test_kernels_equal_the_torch_path_at_production_shapes(
    monkeypatch: pytest.MonkeyPatch, name: str, sizes: tuple[int, int, int, int], model: str
) -> None:
    weight = _seeded_loads(name, model, 3)
    compiled, plain = both_paths(
        monkeypatch, lambda: rebalance_experts(weight, *sizes, packing="fast")
    )
    assert_identical(compiled, plain)


def test_kernels_take_float32_int_and_negative_zero_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [[-0.0, 0.0, 3.0, -0.0, 5.0, 5.0, 0.0, 1.0], [0.0] * 8]
    for weight in (
        torch.tensor(rows, dtype=torch.float64),
        torch.tensor(rows, dtype=torch.float32),
        torch.tensor(rows, dtype=torch.float64).abs().to(torch.int64),
    ):
        for sizes in ((12, 4, 2, 4), (16, 1, 1, 2), (8, 2, 2, 8)):
            plans = both_paths(monkeypatch, functools.partial(_fast_rebalance, weight, sizes))
            assert_identical(*plans)
        packings = both_paths(
            monkeypatch, functools.partial(balanced_packing, weight, 2, method="fast")
        )
        assert_identical(*packings)


def test_kernels_equal_the_torch_path_near_the_float64_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Heavy packs above `_SCORES_FINITE_BELOW` take the kernels' plain swap-score search (the
    int64-bits one assumes finite scores): still the torch path's plans."""
    generator = torch.Generator().manual_seed(7)
    weight = (torch.rand(3, 16, generator=generator, dtype=torch.float64) + 1) * 2.0**1019
    sizes = (24, 1, 1, 4)  # 6 replicas per GPU on 4 GPUs: refined, sums stay finite
    plans = both_paths(monkeypatch, functools.partial(_fast_rebalance, weight, sizes))
    assert_identical(*plans)
    phy2log = plans[0][0]
    counts = torch.zeros_like(weight).scatter_add_(
        1, phy2log, torch.ones_like(phy2log, dtype=weight.dtype)
    )
    gpu_load = (weight / counts).gather(1, phy2log).view(3, 4, -1).sum(-1)
    assert float(gpu_load.max()) >= fast_kernels._SCORES_FINITE_BELOW  # the plain search ran
    packings = both_paths(
        monkeypatch, functools.partial(balanced_packing, weight, 2, method="fast")
    )
    assert_identical(*packings)


def _fast_rebalance(
    weight: torch.Tensor, sizes: tuple[int, int, int, int]
) -> tuple[torch.Tensor, ...]:
    return rebalance_experts(weight, *sizes, packing="fast")


def test_kernels_leave_the_input_alone_and_return_fresh_cpu_tensors() -> None:
    weight = _seeded_loads("deepseek-v3", "lognormal", 1)[:4]
    before = weight.clone()
    first = rebalance_experts(weight, 288, 8, 4, 32, packing="fast")
    second = rebalance_experts(weight, 288, 8, 4, 32, packing="fast")
    assert torch.equal(weight, before)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()
        assert a.device.type == "cpu" and a.dtype == torch.int64


_WITHOUT_NUMBA = """
import json, sys
sys.modules["numba"] = None  # `import numba` raises ImportError: numba is missing
import torch
from reference import balanced_packing, fast_kernels, rebalance_experts
from reference.rebalance import rebalance_phy2log
weight = torch.tensor(json.loads(sys.argv[1]), dtype=torch.float64)
phy2log, log2phy, logcnt = rebalance_experts(weight, 288, 8, 4, 32, packing="fast")
pack_index, rank = balanced_packing(weight, 32, method="fast")
print(json.dumps({
    "available": fast_kernels.AVAILABLE,
    "used": fast_kernels.use_kernels(weight),
    "plan": [phy2log.tolist(), log2phy.tolist(), logcnt.tolist()],
    "packing": [pack_index.tolist(), rank.tolist()],
}))
"""


def test_without_numba_the_torch_path_plans_the_same() -> None:
    weight = _seeded_loads("deepseek-v3", "lognormal", 2)[:3]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("EPLB_FAST_KERNELS", None)
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_NUMBA, json.dumps(weight.tolist())],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["available"] is False and result["used"] is False
    assert fast_kernels.use_kernels(weight)
    plan = rebalance_experts(weight, 288, 8, 4, 32, packing="fast")
    assert [tensor.tolist() for tensor in plan] == result["plan"]
    packing = balanced_packing(weight, 32, method="fast")
    assert [tensor.tolist() for tensor in packing] == result["packing"]


def test_environment_variable_switches_the_kernels_off() -> None:
    code = "from reference import fast_kernels; print(fast_kernels.ENABLED)"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EPLB_FAST_KERNELS": "0"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "False"

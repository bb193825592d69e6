"""Metamorphic relations, differentials and quality observations.

Trusted code (the reference, and the harmless broken candidates) is called in-process through the
same `Caller` interface the engine uses; the sandboxed path is covered by the partner differential.
"""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import VARIANTS
from verifier.calling.caller import Caller
from verifier.calling.sandbox import CallOutcome, Sandbox, outcome_of_result
from verifier.judging.case import JudgedCase
from verifier.judging.differentials import device_differential, partner_differential
from verifier.judging.invariants import integer_outputs
from verifier.judging.quality import (
    anti_affinity,
    layer_objectives,
    replication_optimality,
    replication_optimum,
)
from verifier.judging.relations import (
    dtype_relation,
    exact_dtypes,
    expert_permutation,
    permutation_applies,
    permutation_relation,
    scaled_instance,
    scaling_relation,
)
from verifier.model.contract import call_args, function_for, natural_dtype
from verifier.model.examples import DEEPSEEK_WEIGHTS, deepseek_example
from verifier.model.instances import (
    Instance,
    PackingInstance,
    RebalanceInstance,
    ReplicationInstance,
)
from verifier.model.strategies import instances_for
from verifier.runs.check import EngineOptions, check_candidate


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"_broken_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_process(candidate: Any) -> Caller:
    """A `Caller` for trusted code: the same outcomes as the sandbox, without a process."""

    def call(
        instance: Instance, *, dtype: str, device: str, spec: str | None = None
    ) -> CallOutcome:
        weight = torch.tensor(instance.weights, dtype=getattr(torch, dtype), device=device)
        result = getattr(candidate, function_for(instance))(weight, *call_args(instance))
        return outcome_of_result(result, input_device=str(weight.device))

    return call


def _primary(caller: Caller, instance: Instance) -> tuple[CallOutcome, dict[str, Any]]:
    outcome = caller(instance, dtype=natural_dtype(instance), device="cpu")
    return outcome, integer_outputs(outcome, function_for(instance))


def _case(caller: Caller, instance: Instance) -> JudgedCase:
    """The judged case of the caller's call on `instance` (natural dtype, CPU, policy auto)."""
    primary, outputs = _primary(caller, instance)
    function = function_for(instance)
    objectives = tuple(layer_objectives(function, instance, outputs))
    return JudgedCase(
        caller=caller,
        function=function,
        instance=instance,
        dtype=natural_dtype(instance),
        device="cpu",
        policy="auto",
        primary=primary,
        outputs=outputs,
        objectives=objectives,
    )


# --- objectives and optimality -------------------------------------------------------------------


def test_layer_objectives_of_the_published_example() -> None:
    instance = deepseek_example()
    _, outputs = _primary(in_process(VARIANTS["greedy"]), instance)
    # Hand-computed from the published placement: GPU 6 of layer 0 holds experts 0 and 1
    # (90 + 132/2), GPU 1 of layer 1 holds a replica each of experts 6 and 8 (187/2 + 172/2).
    assert layer_objectives("rebalance_experts", instance, outputs) == [156, Fraction(359, 2)]


@pytest.mark.parametrize("function", ["replicate_experts", "rebalance_experts"])
@given(data=st.data())
def test_reference_replication_is_optimal(function: str, data: st.DataObject) -> None:
    instance = data.draw(instances_for(function))
    for name in ("greedy", "heap"):
        _, outputs = _primary(in_process(VARIANTS[name]), instance)
        assert replication_optimality(function, instance, outputs, "auto") == []


def test_replication_optimum_of_small_cases() -> None:
    assert replication_optimum([6, 3], 3) == 3  # (6/2, 3/1)
    assert replication_optimum([0, 0], 5) == 0
    assert replication_optimum([5], 4) == Fraction(5, 4)


def test_suboptimal_replication_is_observed() -> None:
    instance = ReplicationInstance([[6, 3]], 3)
    outputs = {"phy2log": [[0, 1, 1]], "rank": [[0, 0, 1]], "logcnt": [[1, 2]]}
    found = replication_optimality("replicate_experts", instance, outputs, "auto")
    assert [f.check for f in found] == ["optimality.replication"]
    assert found[0].details["optimum"] == "3" and found[0].details["objective"] == "6"


# --- dtype and scaling ---------------------------------------------------------------------------


def test_exact_dtypes() -> None:
    assert exact_dtypes(PackingInstance([[1, 2**24]], 1)) == ("int64", "float32", "float64")
    assert exact_dtypes(PackingInstance([[1, 2**24 + 1]], 1)) == ("int64", "float64")
    assert exact_dtypes(PackingInstance([[0.5, 1.25]], 1)) == ("float32", "float64")
    assert exact_dtypes(PackingInstance([[0.1]], 1)) == ("float64",)


def test_scaled_instance_is_exact() -> None:
    scaled = scaled_instance(PackingInstance([[1, 3]], 1))
    assert scaled is not None and scaled[0].weights == [[4, 12]] and scaled[1] == 4
    assert scaled_instance(PackingInstance([[2**50]], 1)) is None
    huge = scaled_instance(PackingInstance([[3e38, 1.5]], 1))
    assert huge is not None and huge[1] == Fraction(1, 4) and huge[0].weights == [[7.5e37, 0.375]]


@given(instances_for("balanced_packing"))
def test_reference_satisfies_dtype_and_scaling(instance: Instance) -> None:
    case = _case(in_process(VARIANTS["swap"]), instance)
    assert dtype_relation(case) == []
    assert scaling_relation(case) == []


def test_dtype_relation_catches_a_half_precision_path(broken_dir: Path) -> None:
    instance = PackingInstance([[2049, 2050, 2051, 2052]], 2)  # distinct in float32, tied in half
    case = _case(in_process(_load(broken_dir / "half_precision.py")), instance)
    assert case.dtype == "int64"
    found = dtype_relation(case)
    assert [f.check for f in found] == ["metamorphic.dtype"]
    assert found[0].details["dtype"] == "float32"


def test_scaling_relation_catches_truncated_loads(broken_dir: Path) -> None:
    instance = PackingInstance([[0.25, 0.5, 0.75, 1.0]], 2)
    case = _case(in_process(_load(broken_dir / "truncates_floats.py")), instance)
    assert case.dtype == "float32"
    found = scaling_relation(case)
    assert [f.check for f in found] == ["metamorphic.scaling"]


# --- permutation ---------------------------------------------------------------------------------


def test_permutation_applicability() -> None:
    assert permutation_applies(PackingInstance([[1, 2, 3, 4]], 2))
    assert not permutation_applies(PackingInstance([[1, 2, 2, 4]], 2))
    assert not permutation_applies(ReplicationInstance([[6, 3]], 3))  # 6/2 ties 3/1
    assert permutation_applies(ReplicationInstance([[7, 3]], 3))
    # Distinct loads but equal group sums (1 + 4 = 2 + 3): labels decide the node order.
    assert not permutation_applies(RebalanceInstance([[1, 4, 2, 3]], 4, 2, 2, 2))


@pytest.mark.parametrize("function", ["balanced_packing", "replicate_experts", "rebalance_experts"])
def test_distinct_loads_make_the_permutation_relation_apply(function: str) -> None:
    applies = []

    @settings(max_examples=50, database=None, derandomize=True)
    @given(instances_for(function, family="distinct"))
    def collect(instance: Instance) -> None:
        applies.append(permutation_applies(instance))

    collect()
    assert sum(applies) > len(applies) // 2


def test_expert_permutation_keeps_groups_whole() -> None:
    instance = RebalanceInstance([list(range(1, 13))], 16, 4, 2, 8)
    perm = expert_permutation(instance)
    assert sorted(perm) == list(range(12))
    blocks = [set(perm[g * 3 : (g + 1) * 3]) for g in range(4)]
    assert all(block in [{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9, 10, 11}] for block in blocks)
    assert expert_permutation(instance) == perm  # seeded by the instance


@pytest.mark.parametrize("function", ["balanced_packing", "replicate_experts", "rebalance_experts"])
@given(data=st.data())
def test_greedy_reference_is_permutation_invariant(function: str, data: st.DataObject) -> None:
    instance = data.draw(instances_for(function, family="distinct"))
    assert permutation_relation(_case(in_process(VARIANTS["greedy"]), instance)) == []


def test_permutation_relation_catches_label_dependence(broken_dir: Path) -> None:
    instance = PackingInstance([[1, 2, 3, 10, 20, 30, 100, 200]], 2)
    case = _case(in_process(_load(broken_dir / "unsorted_greedy.py")), instance)
    found = permutation_relation(case)
    assert [f.check for f in found] == ["metamorphic.permutation"]


# --- anti-affinity and differentials -------------------------------------------------------------


def test_anti_affinity() -> None:
    instance = RebalanceInstance([[10, 1]], 4, 1, 1, 2)
    together = {"phy2log": [[0, 0, 1, 0]]}
    found = anti_affinity("rebalance_experts", instance, together)
    assert [f.check for f in found] == ["placement.anti_affinity"]
    assert found[0].details == {"gpu": 0, "expert": 0, "colocated_replicas": 1}
    assert anti_affinity("rebalance_experts", instance, {"phy2log": [[0, 1, 0, 0]]}) != []
    assert anti_affinity("rebalance_experts", instance, {"phy2log": [[0, 1, 0, 1]]}) == []


def test_partner_differential_in_the_sandbox(broken_dir: Path, tmp_path: Path) -> None:
    instance = ReplicationInstance(DEEPSEEK_WEIGHTS, 16)
    with Sandbox("reference") as box:
        box.start()

        def caller(
            instance: Instance, *, dtype: str, device: str, spec: str | None = None
        ) -> CallOutcome:
            args = call_args(instance)
            return box.call(
                "replicate_experts", instance.weights, args, dtype=dtype, device=device, spec=spec
            )

        case = _case(caller, instance)
        assert partner_differential(case, partner="reference:heap") == []
        broken = str(broken_dir / "off_by_one_slot.py")
        found = partner_differential(case, partner=broken)
    assert [f.check for f in found] == ["differential.reference_paths"]
    assert found[0].is_violation


class _PacksNumberedBackwards:
    """The greedy reference with its packs numbered backwards: the same objective."""

    @staticmethod
    def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
        pack_index, rank_in_pack = VARIANTS["greedy"].balanced_packing(weight, num_packs)
        return num_packs - 1 - pack_index, rank_in_pack


class _PacksInTurn:
    """Item i in pack i % num_packs: valid, but a worse objective than the greedy's."""

    @staticmethod
    def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
        items = torch.arange(weight.shape[1]).expand(weight.shape[0], -1)
        return (items % num_packs).clone(), (items // num_packs).clone()


def _by_device(on_cpu: Any, on_cuda: Any) -> Caller:
    """A `Caller` that stands in for a CUDA device with another trusted candidate (run on CPU)."""

    def call(
        instance: Instance, *, dtype: str, device: str, spec: str | None = None
    ) -> CallOutcome:
        candidate = on_cuda if device == "cuda" else on_cpu
        return in_process(candidate)(instance, dtype=dtype, device="cpu")

    return call


@pytest.mark.parametrize(
    ("on_cuda", "expected"),
    [
        (VARIANTS["greedy"], []),
        (_PacksNumberedBackwards, [("device.tie_break", False)]),
        (_PacksInTurn, [("device.objective", True)]),
    ],
)
def test_device_differential_without_a_device(on_cuda: Any, expected: list[Any]) -> None:
    instance = PackingInstance([[1, 2, 3, 4]], 2)  # greedy: {4, 1} and {3, 2}, objective 5
    found = device_differential(_case(_by_device(VARIANTS["greedy"], on_cuda), instance))
    assert [(finding.check, finding.is_violation) for finding in found] == expected


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_differential_on_cuda() -> None:
    result = check_candidate("reference", EngineOptions(budget=5, device="all"))
    assert result.violations == []
    assert not result.notes
    assert result.devices.exercised == ["cuda", "probe"]  # the differential, and the probe on CPU
    on_cuda = check_candidate("reference", EngineOptions(budget=3, device="cuda"))
    assert on_cuda.violations == []
    assert on_cuda.devices.exercised == ["cuda"]  # on CUDA the probe is off: the real thing runs
    assert on_cuda.devices.cuda == "checked calls" and not on_cuda.devices.probe.enabled

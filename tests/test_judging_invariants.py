"""Meta-tests of the invariant checker: correct outputs pass, each hand-broken output is caught."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given

from reference import VARIANTS, balanced_packing, rebalance_experts, replicate_experts
from verifier.calling.sandbox import CallOutcome, outcome_of_result
from verifier.judging.invariants import CHECKS, check_call, check_determinism
from verifier.model.contract import call_args
from verifier.model.examples import DEEPSEEK_WEIGHTS, deepseek_example
from verifier.model.findings import Finding
from verifier.model.instances import (
    Instance,
    PackingInstance,
    RebalanceInstance,
    ReplicationInstance,
)
from verifier.model.strategies import instances_for
from verifier.runs.check import ALL_CHECKS

PACKING = PackingInstance(DEEPSEEK_WEIGHTS, 4)
REPLICATION = ReplicationInstance(DEEPSEEK_WEIGHTS, 16)
REBALANCE = deepseek_example()


def _tensor(instance: Instance) -> torch.Tensor:
    return torch.tensor(instance.weights, dtype=torch.int64)


def _reference(function: str, instance: Instance) -> tuple[torch.Tensor, ...]:
    fn: Any = {
        "balanced_packing": balanced_packing,
        "replicate_experts": replicate_experts,
        "rebalance_experts": rebalance_experts,
    }[function]
    return tuple(t.clone() for t in fn(_tensor(instance), *call_args(instance)))


def _checks(function: str, instance: Instance, result: Any, **kwargs: Any) -> list[str]:
    outcome = outcome_of_result(result)
    return [finding.check for finding in check_call(function, instance, outcome, **kwargs)]


# --- correct outputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "instance"),
    [
        ("balanced_packing", PACKING),
        ("replicate_experts", REPLICATION),
        ("rebalance_experts", REBALANCE),
    ],
)
def test_reference_outputs_pass(function: str, instance: Instance) -> None:
    assert _checks(function, instance, _reference(function, instance)) == []


@given(instances_for("rebalance_experts"))
def test_every_reference_variant_passes_on_generated_rebalance(instance: Instance) -> None:
    weight = torch.tensor(instance.weights, dtype=torch.float64)
    for variant in VARIANTS.values():
        result = variant.rebalance_experts(weight, *call_args(instance))
        assert _checks("rebalance_experts", instance, result) == []


@given(instances_for("balanced_packing"))
def test_reference_packing_passes_on_generated(instance: Instance) -> None:
    result = balanced_packing(
        torch.tensor(instance.weights, dtype=torch.float64), *call_args(instance)
    )
    assert _checks("balanced_packing", instance, result) == []


# --- packing -------------------------------------------------------------------------------------


def test_pack_size_violation() -> None:
    pack_index, rank = _reference("balanced_packing", PACKING)
    pack_index[0, 0] = (pack_index[0, 0] + 1) % 4
    assert _checks("balanced_packing", PACKING, (pack_index, rank)) == ["packing.pack_size"]


def test_pack_rank_violation() -> None:
    pack_index, rank = _reference("balanced_packing", PACKING)
    rank[1] = 0
    found = check_call("balanced_packing", PACKING, outcome_of_result((pack_index, rank)))
    assert [f.check for f in found] == ["packing.rank"]
    assert found[0].layer == 1
    assert found[0].details["layers_affected"] == 1


def test_pack_index_out_of_range_gates_the_other_rules() -> None:
    pack_index, rank = _reference("balanced_packing", PACKING)
    pack_index[:, 0] = -1
    found = check_call("balanced_packing", PACKING, outcome_of_result((pack_index, rank)))
    assert [f.check for f in found] == ["packing.index_range"]
    assert found[0].details["layers_affected"] == 2


def test_packing_shape() -> None:
    pack_index, rank = _reference("balanced_packing", PACKING)
    assert _checks("balanced_packing", PACKING, (pack_index[:, :-1], rank)) == ["packing.shape"]


# --- behaviour -----------------------------------------------------------------------------------


def test_status_findings() -> None:
    for status, check in (
        ("error", "behaviour.exception"),
        ("timeout", "behaviour.timeout"),
        ("crash", "behaviour.crash"),
    ):
        outcome = CallOutcome(status, error="boom")  # type: ignore[arg-type]
        found = check_call("balanced_packing", PACKING, outcome)
        assert [f.check for f in found] == [check]


def test_mutation_is_reported_even_with_valid_outputs() -> None:
    outcome = outcome_of_result(_reference("balanced_packing", PACKING), mutated=True)
    found = check_call("balanced_packing", PACKING, outcome)
    assert [f.check for f in found] == ["behaviour.input_mutation"]


@pytest.mark.parametrize(
    "result",
    [
        "not a tuple",
        (torch.zeros(2, 12, dtype=torch.int64),),
        (torch.zeros(2, 12, dtype=torch.int64), [[0] * 12] * 2),
    ],
    ids=["string", "one-output", "list-output"],
)
def test_return_type(result: Any) -> None:
    assert _checks("balanced_packing", PACKING, result) == ["behaviour.return_type"]


def test_dtype_and_device() -> None:
    pack_index, rank = _reference("balanced_packing", PACKING)
    assert _checks("balanced_packing", PACKING, (pack_index.int(), rank)) == ["behaviour.dtype"]
    outcome = outcome_of_result((pack_index, rank), input_device="cuda:0")
    found = check_call("balanced_packing", PACKING, outcome)
    assert [f.check for f in found] == ["behaviour.device"]


def test_nan_and_non_integer_values() -> None:
    pack_index, rank = _reference("balanced_packing", PACKING)
    with_nan = pack_index.double()
    with_nan[0, 3] = float("nan")
    assert _checks("balanced_packing", PACKING, (with_nan, rank)) == [
        "behaviour.dtype",
        "behaviour.nan",
    ]
    halves = pack_index.double() + 0.5
    assert _checks("balanced_packing", PACKING, (halves, rank)) == [
        "behaviour.dtype",
        "behaviour.non_integer",
    ]


def test_integral_float_outputs_are_checked_for_their_contract() -> None:
    pack_index, rank = _reference("balanced_packing", PACKING)
    pack_index[0, 0] = (pack_index[0, 0] + 1) % 4
    assert _checks("balanced_packing", PACKING, (pack_index.double(), rank)) == [
        "behaviour.dtype",
        "packing.pack_size",
    ]


def test_determinism() -> None:
    result = _reference("balanced_packing", PACKING)
    same = outcome_of_result(result)
    assert check_determinism("balanced_packing", PACKING, same, outcome_of_result(result)) == []
    other = (result[0].flip(-1), result[1])
    found = check_determinism("balanced_packing", PACKING, same, outcome_of_result(other))
    assert [f.check for f in found] == ["behaviour.nondeterministic"]
    hang = CallOutcome("timeout")
    assert check_determinism("balanced_packing", PACKING, hang, hang) == []


# --- replication ---------------------------------------------------------------------------------


def test_replication_rules() -> None:
    phy2log, rank, logcnt = _reference("replicate_experts", REPLICATION)
    broken = logcnt.clone()
    broken[0, 0] += 1
    broken[0, 1] -= 1
    assert _checks("replicate_experts", REPLICATION, (phy2log, rank, broken)) == [
        "replication.logcnt_count"
    ]
    assert _checks("replicate_experts", REPLICATION, (phy2log, rank + 1, logcnt)) == [
        "replication.rank"
    ]
    out_of_range = phy2log.clone()
    out_of_range[1, 15] = 12
    assert _checks("replicate_experts", REPLICATION, (out_of_range, rank, logcnt)) == [
        "replication.expert_range"
    ]
    short = logcnt.clone()
    short[0, 5] -= 1
    assert set(_checks("replicate_experts", REPLICATION, (phy2log, rank, short))) == {
        "replication.logcnt_sum",
        "replication.logcnt_count",
    }


def test_replication_logcnt_min() -> None:
    instance = ReplicationInstance([[3, 1]], 3)
    phy2log = torch.tensor([[0, 0, 0]])
    rank = torch.tensor([[0, 1, 2]])
    logcnt = torch.tensor([[3, 0]])
    assert _checks("replicate_experts", instance, (phy2log, rank, logcnt)) == [
        "replication.logcnt_min"
    ]


# --- rebalance -----------------------------------------------------------------------------------


def test_log2phy_rules() -> None:
    phy2log, log2phy, logcnt = _reference("rebalance_experts", REBALANCE)
    swapped = log2phy.clone()
    swapped[0, 1, 0] = swapped[0, 2, 0]
    assert _checks("rebalance_experts", REBALANCE, (phy2log, swapped, logcnt)) == [
        "rebalance.log2phy"
    ]
    unpadded = log2phy.clone()
    unpadded[0, 0, -1] = 3
    assert _checks("rebalance_experts", REBALANCE, (phy2log, unpadded, logcnt)) == [
        "rebalance.log2phy"
    ]
    narrow = log2phy[..., :1].contiguous()
    assert _checks("rebalance_experts", REBALANCE, (phy2log, narrow, logcnt)) == [
        "rebalance.log2phy_width"
    ]
    assert _checks("rebalance_experts", REBALANCE, (phy2log, log2phy[0], logcnt)) == [
        "rebalance.shape"
    ]


def test_group_split_and_policy() -> None:
    # Global placement of a hierarchical instance: groups of 3 experts spread over both nodes.
    result = rebalance_experts(_tensor(REBALANCE), 16, 1, 1, 8)
    assert _checks("rebalance_experts", REBALANCE, result) == ["rebalance.group_split"]
    assert _checks("rebalance_experts", REBALANCE, result, policy="global") == []


def test_groups_per_node() -> None:
    # 4 groups of one expert, 2 nodes of one GPU with 4 slots: node 0 hosts 3 groups, node 1 one.
    instance = RebalanceInstance([[4, 3, 2, 1]], 8, 4, 2, 2)
    phy2log = torch.tensor([[0, 1, 2, 0, 3, 3, 3, 3]])
    logcnt = torch.tensor([[2, 1, 1, 4]])
    log2phy = torch.full((1, 4, 5), -1)
    for expert, slots in {0: [0, 3], 1: [1], 2: [2], 3: [4, 5, 6, 7]}.items():
        log2phy[0, expert, : len(slots)] = torch.tensor(slots)
    result = (phy2log, log2phy, logcnt)
    assert _checks("rebalance_experts", instance, result) == ["rebalance.groups_per_node"]
    assert _checks("rebalance_experts", instance, result, policy="global") == []


def test_global_fallback_has_no_hierarchy_rule() -> None:
    instance = RebalanceInstance(DEEPSEEK_WEIGHTS, 16, 3, 2, 8)
    result = rebalance_experts(_tensor(instance), 16, 1, 1, 8)
    assert _checks("rebalance_experts", instance, result) == []


# --- the registry --------------------------------------------------------------------------------


def test_findings_carry_their_instance_and_a_registered_check() -> None:
    pack_index, rank = _reference("balanced_packing", PACKING)
    found: list[Finding] = check_call(
        "balanced_packing",
        PACKING,
        outcome_of_result((pack_index.int(), rank * 0)),
        context={"dtype": "int64"},
    )
    assert found
    for finding in found:
        assert finding.check in CHECKS
        assert finding.instance == PACKING
        assert finding.function == "balanced_packing"
        assert finding.details["dtype"] == "int64"
    assert set(CHECKS) <= set(ALL_CHECKS)

"""The per-function contract table: everything the harness knows about each EPLB function.

One `FunctionContract` per function of DeepSeek's API: the problem it solves (and its instance
type), the call's arguments after `weight`, the names of its outputs and its fixed edge cases.
Every other module reads these facts from here (`CONTRACTS`, `contract_for`, `function_for`,
`call_args`), so an API profile (other argument names, numpy instead of torch, other return
shapes) only has to describe itself against this table. The Hypothesis strategy of each problem
lives in `verifier.model.strategies`, keyed by problem: the table names no code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from verifier.model import edge_cases
from verifier.model.elastic import has_dead_ranks
from verifier.model.instances import (
    Instance,
    PackingInstance,
    ProblemName,
    RebalanceInstance,
    ReplicationInstance,
    num_items,
    num_layers,
)

# Which rebalance contract applies: "auto" is hierarchical when groups divide evenly into nodes,
# "global" drops the hierarchical rules for candidates that never use them.
Policy = Literal["auto", "global"]


@dataclass(frozen=True)
class FunctionContract:
    """One EPLB function: what it solves, how it is called and what it returns."""

    name: str  # e.g. "rebalance_experts"
    problem: ProblemName
    instance_type: type[Instance]
    arguments: tuple[str, ...]  # instance fields passed after `weight`, in DeepSeek's order
    outputs: tuple[str, ...]  # the names of the returned tuple's items, in order
    # Per output, the size of its second dimension: "items" (experts or items per layer) or the
    # instance field that sets it; outputs of variable width (log2phy) are not listed.
    output_widths: dict[str, str]
    spread_over: str  # the instance field a layer's load is balanced over (packs, slots, GPUs)
    edge_cases: Callable[[], edge_cases.EdgeCases]  # the fixed suite, by case name

    def call_args(self, instance: Instance) -> tuple[int, ...]:
        """The positional arguments after `weight`."""
        return tuple(int(getattr(instance, argument)) for argument in self.arguments)

    def output_shapes(self, instance: Instance) -> dict[str, tuple[int, int]]:
        """The expected [layers, width] shape of every fixed-width output."""
        layers, items = num_layers(instance), num_items(instance)
        return {
            name: (layers, items if width == "items" else int(getattr(instance, width)))
            for name, width in self.output_widths.items()
        }

    def balanced_over(self, instance: Instance) -> int:
        """How many packs, slots or GPUs a layer's load is spread over."""
        return int(getattr(instance, self.spread_over))


CONTRACTS: tuple[FunctionContract, ...] = (
    FunctionContract(
        "balanced_packing",
        "packing",
        PackingInstance,
        ("num_packs",),
        ("pack_index", "rank_in_pack"),
        {"pack_index": "items", "rank_in_pack": "items"},
        "num_packs",
        edge_cases.packing_edge_cases,
    ),
    FunctionContract(
        "replicate_experts",
        "replication",
        ReplicationInstance,
        ("num_phy",),
        ("phy2log", "rank", "logcnt"),
        {"phy2log": "num_phy", "rank": "num_phy", "logcnt": "items"},
        "num_phy",
        edge_cases.replication_edge_cases,
    ),
    FunctionContract(
        "rebalance_experts",
        "rebalance",
        RebalanceInstance,
        ("num_replicas", "num_groups", "num_nodes", "num_gpus"),
        ("phy2log", "log2phy", "logcnt"),
        {"phy2log": "num_replicas", "logcnt": "items"},
        "num_gpus",
        edge_cases.rebalance_edge_cases,
    ),
)
FUNCTIONS: tuple[str, ...] = tuple(contract.name for contract in CONTRACTS)
_BY_NAME = {contract.name: contract for contract in CONTRACTS}
_BY_PROBLEM = {contract.problem: contract for contract in CONTRACTS}


def contract_for(function: str) -> FunctionContract:
    """The contract of an EPLB function by name (one of `FUNCTIONS`)."""
    return _BY_NAME[function]


def contract_of(instance: Instance) -> FunctionContract:
    """The contract of the function that solves an instance's problem."""
    return _BY_PROBLEM[instance.problem]


def function_for(instance: Instance) -> str:
    """The EPLB function that solves an instance's problem."""
    return contract_of(instance).name


def call_args(instance: Instance) -> tuple[int, ...]:
    """The positional arguments after `weight`, in DeepSeek's order."""
    return contract_of(instance).call_args(instance)


def output_names(function: str) -> tuple[str, ...]:
    return contract_for(function).outputs


def hierarchical_rules_apply(instance: Instance, policy: Policy) -> bool:
    """True when a call on `instance` is judged under the hierarchical contract: a rebalance
    instance whose groups divide evenly into its nodes, under policy "auto" ("global" drops it).
    With dead ranks (an active-ranks mask) the plan is global, as SGLang's elastic EP plans it."""
    return (
        policy == "auto"
        and isinstance(instance, RebalanceInstance)
        and instance.num_nodes > 0
        and instance.num_groups % instance.num_nodes == 0
        and not has_dead_ranks(instance)
    )


def natural_dtype(instance: Instance) -> str:
    """int64 for integer loads; float32 (what serving systems pass) when any load is a float."""
    floats = any(isinstance(value, float) for row in instance.weights for value in row)
    return "float32" if floats else "int64"

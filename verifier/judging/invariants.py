"""The invariant checker: every contract violation of one candidate call, as structured findings.

This is the one place that decides whether an output is valid; the tests, the `check` and `fuzz`
commands and the reports all call it. It works on plain data (a `CallOutcome` from the sandbox),
never on live tensors, so it cannot be crashed by what a candidate returns.

Each rule is a small function with a stable check id (see `CHECKS`); a rule reports at most one
finding per call (its first bad layer, with the number of bad layers), and rules whose
preconditions fail (wrong shapes, non-integer values) are skipped rather than piling up noise.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from verifier.calling.sandbox import CallOutcome, TensorValue
from verifier.judging.elastic import ELASTIC_CHECKS, check_masked_rebalance
from verifier.model.contract import Policy, contract_for, hierarchical_rules_apply, output_names
from verifier.model.elastic import has_dead_ranks
from verifier.model.findings import Finding, violation
from verifier.model.instances import (
    Instance,
    PackingInstance,
    RebalanceInstance,
    ReplicationInstance,
    num_items,
    num_layers,
)

Matrix = list[list[int]]

CHECKS: dict[str, str] = {
    "behaviour.exception": "the call raised an exception",
    "behaviour.timeout": "the call did not return within the time limit",
    "behaviour.crash": "the call killed the worker process (os._exit, a segfault, ...)",
    "behaviour.return_type": "the result is not a tuple of the expected number of tensors",
    "behaviour.dtype": "an output tensor is not int64",
    "behaviour.device": "an output tensor is not on the input's device",
    "behaviour.nan": "an output holds NaN or an infinite value",
    "behaviour.non_integer": "an output holds a value that is not an integer",
    "behaviour.input_mutation": "the call changed the caller's weight tensor",
    "behaviour.nondeterministic": "two calls with the same input gave different outputs",
    "packing.shape": "pack_index / rank_in_pack are not [layers, n]",
    "packing.index_range": "a pack index outside 0..num_packs-1",
    "packing.pack_size": "a pack that does not hold exactly n/num_packs items",
    "packing.rank": "the ranks inside a pack are not exactly 0..n/num_packs-1",
    "replication.shape": "phy2log / rank are not [layers, num_phy] or logcnt not [layers, num_log]",
    "replication.expert_range": "a phy2log entry that is not a valid expert",
    "replication.logcnt_min": "an expert with no replica (logcnt < 1)",
    "replication.logcnt_sum": "a layer whose logcnt does not sum to the number of slots",
    "replication.logcnt_count": "logcnt[e] differs from the number of slots holding e",
    "replication.rank": "the ranks of an expert's slots are not exactly 0..logcnt[e]-1",
    "rebalance.shape": "phy2log / logcnt / log2phy have the wrong shape",
    "rebalance.expert_range": "a phy2log entry that is not a valid expert",
    "rebalance.logcnt_min": "an expert with no replica (logcnt < 1)",
    "rebalance.logcnt_sum": "a layer whose logcnt does not sum to num_replicas",
    "rebalance.logcnt_count": "logcnt[e] differs from the number of slots holding e",
    "rebalance.log2phy_width": "log2phy is narrower than the largest replica count",
    "rebalance.log2phy": "log2phy[e] does not list exactly e's slots (each once, then -1)",
    "rebalance.group_split": "the replicas of one expert group lie on more than one node",
    "rebalance.groups_per_node": "a node does not host exactly num_groups/num_nodes groups",
    **ELASTIC_CHECKS,  # under an active-ranks mask (verifier.judging.elastic)
}


class _Reporter:
    """Builds the findings of one call (function, instance and call context filled in)."""

    def __init__(self, function: str, instance: Instance, context: dict[str, Any]) -> None:
        self.function = function
        self.instance = instance
        self.context = context

    def violation(
        self, check: str, message: str, layer: int | None = None, **details: Any
    ) -> Finding:
        return violation(
            check,
            message,
            function=self.function,
            instance=self.instance,
            layer=layer,
            details={**self.context, **details},
        )

    def per_layer(
        self, check: str, layers: int, problem: Callable[[int], str | None]
    ) -> Finding | None:
        """One finding for the first layer where `problem` says something, counting the others."""
        first: tuple[int, str] | None = None
        bad = 0
        for layer in range(layers):
            message = problem(layer)
            if message is not None:
                bad += 1
                first = first or (layer, message)
        if first is None:
            return None
        layer, message = first
        return self.violation(check, f"layer {layer}: {message}", layer, layers_affected=bad)


# --- behaviour -------------------------------------------------------------------------------


def check_status(report: _Reporter, outcome: CallOutcome) -> Finding | None:
    """An exception, a timeout or a crash (the call produced nothing to check)."""
    if outcome.status == "error":
        return report.violation(
            "behaviour.exception", f"raised {outcome.error}", traceback=outcome.traceback
        )
    if outcome.status == "timeout":
        return report.violation("behaviour.timeout", f"timed out: {outcome.error}")
    if outcome.status == "crash":
        return report.violation(
            "behaviour.crash", f"crashed: {outcome.error}", stderr_tail=outcome.traceback
        )
    return None


def check_mutation(report: _Reporter, outcome: CallOutcome) -> Finding | None:
    if outcome.mutated:
        return report.violation("behaviour.input_mutation", "the call modified its input tensor")
    return None


def check_return_type(report: _Reporter, outcome: CallOutcome) -> Finding | None:
    """A tuple (or list) of exactly the expected number of tensors."""
    names = output_names(report.function)
    if outcome.outputs is None:
        return report.violation(
            "behaviour.return_type",
            f"returned a {outcome.result_type}, expected a tuple of {len(names)} tensors "
            f"({', '.join(names)})",
        )
    if len(outcome.outputs) != len(names):
        return report.violation(
            "behaviour.return_type",
            f"returned {len(outcome.outputs)} values, expected {len(names)} ({', '.join(names)})",
        )
    for name, value in zip(names, outcome.outputs, strict=True):
        if not isinstance(value, TensorValue):
            return report.violation(
                "behaviour.return_type", f"{name} is a {value.type_name}, not a torch.Tensor"
            )
    return None


def check_dtypes(report: _Reporter, tensors: dict[str, TensorValue]) -> Finding | None:
    wrong = {name: t.dtype for name, t in tensors.items() if t.dtype != "torch.int64"}
    if wrong:
        listed = ", ".join(f"{name} is {dtype}" for name, dtype in wrong.items())
        return report.violation("behaviour.dtype", f"outputs must be int64: {listed}")
    return None


def check_devices(
    report: _Reporter, tensors: dict[str, TensorValue], input_device: str
) -> Finding | None:
    wrong = {name: t.device for name, t in tensors.items() if t.device != input_device}
    if wrong:
        listed = ", ".join(f"{name} on {device}" for name, device in wrong.items())
        return report.violation(
            "behaviour.device", f"input on {input_device}, but {listed}", input_device=input_device
        )
    return None


def _flat(values: Any) -> list[Any]:
    if isinstance(values, list):
        return [item for value in values for item in _flat(value)]
    return [values]


def check_values(report: _Reporter, tensors: dict[str, TensorValue]) -> Finding | None:
    """NaN / infinite values, then non-integer values (either makes the outputs meaningless)."""
    for name, tensor in tensors.items():
        for value in _flat(tensor.values):
            if isinstance(value, float) and not math.isfinite(value):
                return report.violation("behaviour.nan", f"{name} holds {value}")
    for name, tensor in tensors.items():
        for value in _flat(tensor.values):
            if isinstance(value, complex) or (isinstance(value, float) and not value.is_integer()):
                return report.violation("behaviour.non_integer", f"{name} holds {value!r}")
    return None


def check_determinism(
    function: str,
    instance: Instance,
    first: CallOutcome,
    second: CallOutcome,
    context: dict[str, Any] | None = None,
) -> list[Finding]:
    """The same input twice must give the same outputs (an exception or hang must repeat too)."""
    if first.same_result(second):
        return []
    if first.status == second.status and first.status != "ok":
        return []
    report = _Reporter(function, instance, context or {})
    return [
        report.violation(
            "behaviour.nondeterministic",
            f"two calls with the same input differ (first: {first.status}, "
            f"second: {second.status})",
        )
    ]


# --- shapes ------------------------------------------------------------------------------------


def _expected_shapes(function: str, instance: Instance) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = dict(contract_for(function).output_shapes(instance))
    return shapes


def check_shapes(report: _Reporter, tensors: dict[str, TensorValue]) -> Finding | None:
    problem = report.instance.problem
    expected = _expected_shapes(report.function, report.instance)
    wrong = [
        f"{name} is {list(tensors[name].shape)}, expected {list(shape)}"
        for name, shape in expected.items()
        if tensors[name].shape != shape
    ]
    if "log2phy" in tensors:
        layers, n = num_layers(report.instance), num_items(report.instance)
        shape = tensors["log2phy"].shape
        if len(shape) != 3 or shape[:2] != (layers, n):
            wrong.append(f"log2phy is {list(shape)}, expected [{layers}, {n}, width]")
    if wrong:
        return report.violation(f"{problem}.shape", "; ".join(wrong))
    return None


# --- packing -----------------------------------------------------------------------------------


def check_pack_index_range(report: _Reporter, pack_index: Matrix, num_packs: int) -> Finding | None:
    def problem(layer: int) -> str | None:
        bad = [(i, p) for i, p in enumerate(pack_index[layer]) if not 0 <= p < num_packs]
        if bad:
            item, pack = bad[0]
            return f"item {item} is in pack {pack}, outside 0..{num_packs - 1}"
        return None

    return report.per_layer("packing.index_range", len(pack_index), problem)


def check_pack_sizes(report: _Reporter, pack_index: Matrix, num_packs: int) -> Finding | None:
    def problem(layer: int) -> str | None:
        capacity = len(pack_index[layer]) // num_packs
        sizes = Counter(pack_index[layer])
        for pack in range(num_packs):
            if sizes[pack] != capacity:
                return f"pack {pack} holds {sizes[pack]} items, expected exactly {capacity}"
        return None

    return report.per_layer("packing.pack_size", len(pack_index), problem)


def check_pack_ranks(
    report: _Reporter, pack_index: Matrix, rank_in_pack: Matrix, num_packs: int
) -> Finding | None:
    def problem(layer: int) -> str | None:
        capacity = len(pack_index[layer]) // num_packs
        ranks: dict[int, list[int]] = {pack: [] for pack in range(num_packs)}
        for pack, rank in zip(pack_index[layer], rank_in_pack[layer], strict=True):
            ranks[pack].append(rank)
        for pack, seen in ranks.items():
            if sorted(seen) != list(range(capacity)):
                return f"pack {pack} has ranks {sorted(seen)}, expected 0..{capacity - 1}"
        return None

    return report.per_layer("packing.rank", len(pack_index), problem)


def check_packing(report: _Reporter, outputs: dict[str, Matrix], num_packs: int) -> list[Finding]:
    pack_index, rank_in_pack = outputs["pack_index"], outputs["rank_in_pack"]
    in_range = check_pack_index_range(report, pack_index, num_packs)
    if in_range:
        return [in_range]
    sizes = check_pack_sizes(report, pack_index, num_packs)
    if sizes:
        return [sizes]
    ranks = check_pack_ranks(report, pack_index, rank_in_pack, num_packs)
    return [ranks] if ranks else []


# --- replication (shared by rebalance) ---------------------------------------------------------


def check_expert_range(
    report: _Reporter, prefix: str, phy2log: Matrix, num_log: int
) -> Finding | None:
    def problem(layer: int) -> str | None:
        bad = [(p, e) for p, e in enumerate(phy2log[layer]) if not 0 <= e < num_log]
        if bad:
            slot, expert = bad[0]
            return f"slot {slot} holds expert {expert}, outside 0..{num_log - 1}"
        return None

    return report.per_layer(f"{prefix}.expert_range", len(phy2log), problem)


def check_logcnt_min(report: _Reporter, prefix: str, logcnt: Matrix) -> Finding | None:
    def problem(layer: int) -> str | None:
        bad = [(e, c) for e, c in enumerate(logcnt[layer]) if c < 1]
        return f"expert {bad[0][0]} has logcnt {bad[0][1]}" if bad else None

    return report.per_layer(f"{prefix}.logcnt_min", len(logcnt), problem)


def check_logcnt_sum(report: _Reporter, prefix: str, logcnt: Matrix, slots: int) -> Finding | None:
    def problem(layer: int) -> str | None:
        total = sum(logcnt[layer])
        return f"logcnt sums to {total}, expected {slots}" if total != slots else None

    return report.per_layer(f"{prefix}.logcnt_sum", len(logcnt), problem)


def check_logcnt_count(
    report: _Reporter, prefix: str, phy2log: Matrix, logcnt: Matrix
) -> Finding | None:
    def problem(layer: int) -> str | None:
        held = Counter(phy2log[layer])
        for expert, count in enumerate(logcnt[layer]):
            if held[expert] != count:
                return f"logcnt[{expert}] = {count} but {held[expert]} slots hold expert {expert}"
        return None

    return report.per_layer(f"{prefix}.logcnt_count", len(logcnt), problem)


def check_replica_ranks(report: _Reporter, phy2log: Matrix, rank: Matrix) -> Finding | None:
    def problem(layer: int) -> str | None:
        ranks: dict[int, list[int]] = {}
        for expert, replica in zip(phy2log[layer], rank[layer], strict=True):
            ranks.setdefault(expert, []).append(replica)
        for expert in sorted(ranks):
            seen = sorted(ranks[expert])
            if seen != list(range(len(seen))):
                return f"expert {expert}'s slots have ranks {seen}, expected 0..{len(seen) - 1}"
        return None

    return report.per_layer("replication.rank", len(phy2log), problem)


def _replica_structure(
    report: _Reporter, prefix: str, phy2log: Matrix, logcnt: Matrix, num_log: int, slots: int
) -> list[Finding]:
    """The counting rules shared by replication and rebalance (first failing one gates the rest)."""
    in_range = check_expert_range(report, prefix, phy2log, num_log)
    if in_range:
        return [in_range]
    found = [
        finding
        for finding in (
            check_logcnt_min(report, prefix, logcnt),
            check_logcnt_sum(report, prefix, logcnt, slots),
            check_logcnt_count(report, prefix, phy2log, logcnt),
        )
        if finding
    ]
    return found


def check_replication(
    report: _Reporter, outputs: dict[str, Matrix], instance: ReplicationInstance
) -> list[Finding]:
    num_log = num_items(instance)
    phy2log, rank, logcnt = outputs["phy2log"], outputs["rank"], outputs["logcnt"]
    found = _replica_structure(report, "replication", phy2log, logcnt, num_log, instance.num_phy)
    if found and found[0].check == "replication.expert_range":
        return found
    ranks = check_replica_ranks(report, phy2log, rank)
    return found + ([ranks] if ranks else [])


# --- rebalance ---------------------------------------------------------------------------------


def check_log2phy_width(report: _Reporter, log2phy: Any, logcnt: Matrix) -> Finding | None:
    width = len(log2phy[0][0]) if log2phy and log2phy[0] else 0
    widest = max((max(row) for row in logcnt if row), default=0)
    if width < widest:
        return report.violation(
            "rebalance.log2phy_width",
            f"log2phy has width {width} but an expert has {widest} replicas",
            width=width,
            max_logcnt=widest,
        )
    return None


def check_log2phy(
    report: _Reporter, log2phy: Any, phy2log: Matrix, logcnt: Matrix
) -> Finding | None:
    """log2phy[l][e] lists exactly e's slots in its first logcnt[e] entries, then only -1."""

    def problem(layer: int) -> str | None:
        slots_of: dict[int, list[int]] = {}
        for slot, expert in enumerate(phy2log[layer]):
            slots_of.setdefault(expert, []).append(slot)
        for expert, row in enumerate(log2phy[layer]):
            count = logcnt[layer][expert]
            listed, padding = row[:count], row[count:]
            if sorted(listed) != slots_of.get(expert, []):
                return (
                    f"log2phy[{expert}] lists slots {listed}, "
                    f"but expert {expert} is in slots {slots_of.get(expert, [])}"
                )
            if any(value != -1 for value in padding):
                return f"log2phy[{expert}] = {row}: entries after the first {count} must be -1"
        return None

    return report.per_layer("rebalance.log2phy", len(phy2log), problem)


def node_of_slot(instance: RebalanceInstance, slot: int) -> int:
    """Slot p is on GPU p // (R / num_gpus), GPU g on node g // (num_gpus / num_nodes)."""
    gpu = slot // (instance.num_replicas // instance.num_gpus)
    return gpu // (instance.num_gpus // instance.num_nodes)


def check_groups_whole(
    report: _Reporter, instance: RebalanceInstance, phy2log: Matrix
) -> Finding | None:
    """Every replica of every expert of a group lies on one node."""
    group_size = num_items(instance) // instance.num_groups

    def problem(layer: int) -> str | None:
        nodes: dict[int, set[int]] = {}
        for slot, expert in enumerate(phy2log[layer]):
            nodes.setdefault(expert // group_size, set()).add(node_of_slot(instance, slot))
        for group in sorted(nodes):
            if len(nodes[group]) > 1:
                return f"group {group} has replicas on nodes {sorted(nodes[group])}"
        return None

    return report.per_layer("rebalance.group_split", len(phy2log), problem)


def check_groups_per_node(
    report: _Reporter, instance: RebalanceInstance, phy2log: Matrix
) -> Finding | None:
    """Each node hosts exactly num_groups / num_nodes groups (given that no group is split)."""
    group_size = num_items(instance) // instance.num_groups
    expected = instance.num_groups // instance.num_nodes

    def problem(layer: int) -> str | None:
        groups_on: dict[int, set[int]] = {node: set() for node in range(instance.num_nodes)}
        for slot, expert in enumerate(phy2log[layer]):
            groups_on[node_of_slot(instance, slot)].add(expert // group_size)
        for node, groups in groups_on.items():
            if len(groups) != expected:
                return f"node {node} hosts {len(groups)} groups, expected {expected}"
        return None

    return report.per_layer("rebalance.groups_per_node", len(phy2log), problem)


def check_rebalance(
    report: _Reporter, outputs: dict[str, Any], instance: RebalanceInstance, policy: Policy
) -> list[Finding]:
    num_log = num_items(instance)
    phy2log, log2phy, logcnt = outputs["phy2log"], outputs["log2phy"], outputs["logcnt"]
    if has_dead_ranks(instance):  # elastic EP: judged on the live ranks' slots
        width = check_log2phy_width(report, log2phy, logcnt)
        return check_masked_rebalance(report.per_layer, instance, outputs) + (
            [width] if width else []
        )
    found = _replica_structure(report, "rebalance", phy2log, logcnt, num_log, instance.num_replicas)
    if not found:
        width = check_log2phy_width(report, log2phy, logcnt)
        found += [width] if width else []
        mapping = None if width else check_log2phy(report, log2phy, phy2log, logcnt)
        found += [mapping] if mapping else []
    if found and found[0].check == "rebalance.expert_range":
        return found
    if hierarchical_rules_apply(instance, policy):
        split = check_groups_whole(report, instance, phy2log)
        per_node = None if split else check_groups_per_node(report, instance, phy2log)
        found += [finding for finding in (split, per_node) if finding]
    return found


# --- entry points ------------------------------------------------------------------------------


def _as_int(value: Any) -> Any:
    if isinstance(value, list):
        return [_as_int(item) for item in value]
    return int(value)


def integer_outputs(outcome: CallOutcome, function: str) -> dict[str, Any]:
    """The outputs of a structurally valid call as nested lists of Python ints, by name."""
    assert outcome.outputs is not None
    values = [value.values for value in outcome.outputs if isinstance(value, TensorValue)]
    return {
        name: _as_int(value) for name, value in zip(output_names(function), values, strict=True)
    }


def check_call(
    function: str,
    instance: Instance,
    outcome: CallOutcome,
    *,
    policy: Policy = "auto",
    context: dict[str, Any] | None = None,
) -> list[Finding]:
    """Every violation of one call: behaviour first, then the contract of `function`.

    `context` (e.g. the dtype and device of the call) is added to every finding's details.
    """
    report = _Reporter(function, instance, context or {})
    status = check_status(report, outcome)
    mutation = check_mutation(report, outcome)
    found = [finding for finding in (status, mutation) if finding]
    if status:
        return found
    returned = check_return_type(report, outcome)
    if returned:
        return [*found, returned]
    assert outcome.outputs is not None
    tensors = {
        name: value
        for name, value in zip(output_names(function), outcome.outputs, strict=True)
        if isinstance(value, TensorValue)
    }
    dtypes = check_dtypes(report, tensors)
    devices = check_devices(report, tensors, outcome.input_device)
    found += [finding for finding in (dtypes, devices) if finding]
    shapes = check_shapes(report, tensors)
    if shapes:
        return [*found, shapes]
    if any(tensor.values is None for tensor in tensors.values()):
        return found
    values = check_values(report, tensors)
    if values:
        return [*found, values]
    return found + check_contract(report, integer_outputs(outcome, function), policy)


def check_contract(report: _Reporter, outputs: dict[str, Any], policy: Policy) -> list[Finding]:
    """The problem-specific rules on integer outputs of the right shapes."""
    instance = report.instance
    if isinstance(instance, PackingInstance):
        return check_packing(report, outputs, instance.num_packs)
    if isinstance(instance, ReplicationInstance):
        return check_replication(report, outputs, instance)
    assert isinstance(instance, RebalanceInstance)
    return check_rebalance(report, outputs, instance, policy)


def checked_outputs(
    function: str,
    instance: Instance,
    outcome: CallOutcome,
    *,
    policy: Policy = "auto",
    context: dict[str, Any] | None = None,
) -> tuple[list[Finding], dict[str, Any] | None]:
    """`check_call`'s findings, and the call's integer outputs when none is a violation (None
    otherwise): how a relation judges a further call before comparing its plan."""
    found = check_call(function, instance, outcome, policy=policy, context=context)
    if any(finding.is_violation for finding in found):
        return found, None
    return found, integer_outputs(outcome, function)

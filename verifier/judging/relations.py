"""Metamorphic relations, differentials and quality observations of one candidate call.

Relations that need further calls (dtype, power-of-two scaling, expert permutation, CPU vs CUDA,
the reference's two replication paths) take a `Caller`; quality observations (replication
optimality, replica anti-affinity) are pure functions of an output. Every objective is recomputed
exactly with `verifier.model.objectives`. Outputs of further calls are themselves run through the
one
invariant checker, so a candidate that only breaks in float64 or on CUDA is still caught.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any

from verifier.calling.caller import Caller
from verifier.calling.sandbox import CallOutcome
from verifier.judging.invariants import checked_outputs, node_of_slot
from verifier.judging.precision import distinct_digits, given_loads, within_rounding
from verifier.model.contract import Policy, hierarchical_rules_apply
from verifier.model.findings import Finding, observation, violation
from verifier.model.instances import (
    Instance,
    Number,
    PackingInstance,
    RebalanceInstance,
    ReplicationInstance,
    float32,
    instance_hash,
    num_items,
)
from verifier.model.objectives import (
    exact,
    packing_objective,
    rebalance_objective,
    replica_counts,
    replication_objective,
)

RELATIONS: dict[str, str] = {
    "metamorphic.dtype": "the same loads as int64 / float32 / float64 give another assignment",
    "metamorphic.scaling": "scaling every load by a power of two changes the assignment",
    "metamorphic.permutation": "permuting experts with distinct loads changes the objective",
    "optimality.replication": "the max load per replica is above its exact optimum",
    "placement.anti_affinity": "two replicas of one expert on one GPU",
    "device.tie_break": "CPU and CUDA differ, with the same objective (tie-breaking)",
    "device.objective": "CPU and CUDA give different objectives (a violation)",
    "differential.reference_paths": "the reference's vectorized and heap paths disagree",
}
FLOAT32_EXACT = 2**24
FLOAT32_MAX = 3.4e38
INT_SCALE_LIMIT = 2**50  # integer loads are scaled up only while they stay exact in float64
SCALE = 4
SEPARATION = Fraction(1, 2**40)  # relative gap that float rounding cannot close


# --- objectives ----------------------------------------------------------------------------------


def layer_objectives(function: str, instance: Instance, outputs: dict[str, Any]) -> list[Fraction]:
    """The exact objective of every layer: max pack load, max load per replica, max GPU load."""
    result = []
    for layer, weights in enumerate(instance.weights):
        if isinstance(instance, PackingInstance):
            value = packing_objective(weights, outputs["pack_index"][layer], instance.num_packs)
        elif isinstance(instance, ReplicationInstance):
            counts = replica_counts(outputs["phy2log"][layer], len(weights))
            value = replication_objective(weights, counts)
        else:
            assert isinstance(instance, RebalanceInstance)
            value = rebalance_objective(weights, outputs["phy2log"][layer], instance.num_gpus)
        result.append(value)
    return result


def _relation(
    check: str, function: str, instance: Instance, message: str, **details: Any
) -> Finding:
    return observation(check, message, function=function, instance=instance, details=details)


# --- dtype ---------------------------------------------------------------------------------------


def exact_dtypes(instance: Instance) -> tuple[str, ...]:
    """The input dtypes that represent every load of the instance exactly."""
    values = [value for row in instance.weights for value in row]
    if all(isinstance(value, int) for value in values):
        peak = max(values, default=0)
        dtypes = ["int64"]
        if peak <= FLOAT32_EXACT:
            dtypes.append("float32")
        if peak <= 2**53:
            dtypes.append("float64")
        return tuple(dtypes)
    floats = [float(value) for value in values]
    if all(float32(value) == value for value in floats):
        return ("float32", "float64")
    return ("float64",)


def dtype_relation(
    caller: Caller,
    function: str,
    instance: Instance,
    primary: CallOutcome,
    primary_dtype: str,
    device: str,
    policy: Policy,
) -> list[Finding]:
    """The same loads as int64, float32 and float64 (where exact) give the same assignment."""
    found: list[Finding] = []
    for dtype in exact_dtypes(instance):
        if dtype == primary_dtype:
            continue
        outcome = caller(instance, dtype=dtype, device=device)
        context = {"dtype": dtype, "device": device}
        violations, outputs = checked_outputs(
            function, instance, outcome, policy=policy, context=context
        )
        found += violations
        if outputs is not None and not outcome.same_result(primary):
            found.append(
                _relation(
                    "metamorphic.dtype",
                    function,
                    instance,
                    f"the same loads as {dtype} give a different assignment than as "
                    f"{primary_dtype}",
                    dtype=dtype,
                    primary_dtype=primary_dtype,
                )
            )
    return found


# --- scaling -------------------------------------------------------------------------------------


def scaled_instance(instance: Instance) -> tuple[Instance, Fraction] | None:
    """The instance with every load times 4 (or divided by 4), when that is exact; else None."""
    values = [value for row in instance.weights for value in row]
    peak = max(values, default=0)
    if all(isinstance(value, int) for value in values):
        if peak * SCALE > INT_SCALE_LIMIT:
            return None
        factor = Fraction(SCALE)
        rows: list[list[Number]] = [[value * SCALE for value in row] for row in instance.weights]
    elif peak * SCALE < FLOAT32_MAX:
        factor = Fraction(SCALE)
        rows = [[float(value) * SCALE for value in row] for row in instance.weights]
    else:
        factor = Fraction(1, SCALE)
        rows = [[float(value) / SCALE for value in row] for row in instance.weights]
    return replace(instance, weights=rows), factor


def scaling_relation(
    caller: Caller,
    function: str,
    instance: Instance,
    primary: CallOutcome,
    dtype: str,
    device: str,
    policy: Policy,
) -> list[Finding]:
    """Scaling every load by a power of two gives the same assignment."""
    scaled = scaled_instance(instance)
    if scaled is None:
        return []
    other, factor = scaled
    outcome = caller(other, dtype=dtype, device=device)
    violations, outputs = checked_outputs(
        function, other, outcome, policy=policy, context={"dtype": dtype, "device": device}
    )
    if outputs is not None and not outcome.same_result(primary):
        violations.append(
            _relation(
                "metamorphic.scaling",
                function,
                instance,
                f"scaling every load by {factor} changes the assignment",
                factor=str(factor),
                dtype=dtype,
            )
        )
    return violations


# --- permutation ---------------------------------------------------------------------------------


def _separated(values: Sequence[Fraction]) -> bool:
    """Pairwise distinct, with relative gaps no float rounding can close."""
    ordered = sorted(values)
    return all(high - low > SEPARATION * high for low, high in itertools.pairwise(ordered))


def _ratios(row: Sequence[Number], slots: int) -> list[Fraction]:
    spare = slots - len(row)
    return [exact(w) / c for w in row for c in range(1, spare + 2)]


def permutation_applies(instance: Instance) -> bool:
    """True when the loads are distinct enough that no tie-break depends on expert labels.

    Packing needs distinct loads; replication distinct loads per replica w/c for every count it
    could reach; rebalance also distinct group loads.
    """
    for row in instance.weights:
        if isinstance(instance, PackingInstance):
            if not _separated([exact(w) for w in row]):
                return False
        elif isinstance(instance, ReplicationInstance):
            if not _separated(_ratios(row, instance.num_phy)):
                return False
        else:
            assert isinstance(instance, RebalanceInstance)
            if not _separated(_ratios(row, instance.num_replicas)):
                return False
            size = len(row) // instance.num_groups
            groups = [
                sum(map(exact, row[g * size : (g + 1) * size]), Fraction(0))
                for g in range(instance.num_groups)
            ]
            if not _separated(groups):
                return False
    return True


def expert_permutation(instance: Instance) -> list[int]:
    """A seeded permutation of the experts: new expert i is old expert perm[i].

    For rebalance it moves whole groups and experts within groups, so the groups stay the same sets.
    """
    rng = random.Random(instance_hash(instance))
    n = num_items(instance)
    if not isinstance(instance, RebalanceInstance):
        return rng.sample(range(n), n)
    size = n // instance.num_groups
    groups = rng.sample(range(instance.num_groups), instance.num_groups)
    return [group * size + offset for group in groups for offset in rng.sample(range(size), size)]


def permuted_instance(instance: Instance, perm: Sequence[int]) -> Instance:
    return replace(instance, weights=[[row[old] for old in perm] for row in instance.weights])


def permutation_relation(
    caller: Caller,
    function: str,
    instance: Instance,
    objectives: Sequence[Fraction],
    dtype: str,
    device: str,
    policy: Policy,
) -> list[Finding]:
    """Permuting experts with distinct loads leaves every layer's objective unchanged."""
    if not permutation_applies(instance):
        return []
    perm = expert_permutation(instance)
    other = permuted_instance(instance, perm)
    outcome = caller(other, dtype=dtype, device=device)
    violations, outputs = checked_outputs(
        function, other, outcome, policy=policy, context={"dtype": dtype, "device": device}
    )
    if outputs is None:
        return violations
    permuted = layer_objectives(function, other, outputs)
    for layer, (before, after) in enumerate(zip(objectives, permuted, strict=True)):
        if before != after:
            violations.append(
                _relation(
                    "metamorphic.permutation",
                    function,
                    instance,
                    f"layer {layer}: permuting the experts changes the objective from "
                    f"{float(before):.6g} to {float(after):.6g}",
                    layer=layer,
                    permutation=list(perm),
                    objective=str(before),
                    permuted_objective=str(after),
                )
            )
            break
    return violations


# --- replication optimality ----------------------------------------------------------------------


def replication_optimum(weights: Sequence[Number | Fraction], num_phy: int) -> Fraction:
    """The least possible max load per replica (the oracle's search, independent of the greedy)."""
    from verifier.oracle.replication import optimal_max_per_replica

    return optimal_max_per_replica([exact(w) for w in weights], num_phy)


def _replication_optimum(
    instance: Instance,
    layer: int,
    phy2log: Sequence[int],
    policy: Policy,
    weights: Sequence[Number | Fraction],
) -> Fraction:
    if isinstance(instance, ReplicationInstance):
        return replication_optimum(weights, instance.num_phy)
    assert isinstance(instance, RebalanceInstance)
    if not hierarchical_rules_apply(instance, policy):
        return replication_optimum(weights, instance.num_replicas)
    # Replicas stay within their node: each node's experts share its R / num_nodes slots.
    experts_on: dict[int, set[int]] = {}
    for slot, expert in enumerate(phy2log):
        experts_on.setdefault(node_of_slot(instance, slot), set()).add(expert)
    per_node = instance.num_replicas // instance.num_nodes
    return max(
        replication_optimum([weights[e] for e in sorted(experts)], per_node)
        for experts in experts_on.values()
    )


def replication_optimality(
    function: str,
    instance: Instance,
    outputs: dict[str, Any],
    policy: Policy,
    dtype: str | None = None,
) -> list[Finding]:
    """The max load per replica against its exact optimum, both on the loads the candidate was
    given in `dtype` (None: the instance's exact values); an excess that arithmetic in that dtype
    explains is rounding, not a loss (`verifier.judging.precision`)."""
    if isinstance(instance, PackingInstance):
        return []
    worst: tuple[Fraction, int, Fraction, Fraction] | None = None
    excess_layers = 0
    for layer, row in enumerate(instance.weights):
        weights = given_loads(row, dtype)
        phy2log = outputs["phy2log"][layer]
        value = replication_objective(weights, replica_counts(phy2log, len(weights)))
        optimum = _replication_optimum(instance, layer, phy2log, policy, weights)
        if value > optimum:
            excess = (value - optimum) / optimum
            if within_rounding(excess, dtype):
                continue
            excess_layers += 1
            if worst is None or excess > worst[0]:
                worst = (excess, layer, value, optimum)
    if worst is None:
        return []
    excess, layer, value, optimum = worst
    shown_value, shown_optimum = distinct_digits(value, optimum)
    return [
        observation(
            "optimality.replication",
            f"layer {layer}: max load per replica {shown_value} exceeds the optimum "
            f"{shown_optimum} (relative excess {float(excess):.3g})",
            function=function,
            instance=instance,
            layer=layer,
            details={
                "objective": str(value),
                "optimum": str(optimum),
                "relative_excess": float(excess),
                "layers_affected": excess_layers,
                "dtype": dtype,
            },
        )
    ]


# --- anti-affinity -------------------------------------------------------------------------------


def anti_affinity(function: str, instance: Instance, outputs: dict[str, Any]) -> list[Finding]:
    """Two replicas of one expert on one GPU: the second buys no balance."""
    if not isinstance(instance, RebalanceInstance):
        return []
    slots_per_gpu = instance.num_replicas // instance.num_gpus
    collisions = 0
    first: tuple[int, int, int] | None = None
    for layer, phy2log in enumerate(outputs["phy2log"]):
        per_gpu = Counter((slot // slots_per_gpu, expert) for slot, expert in enumerate(phy2log))
        for (gpu, expert), count in sorted(per_gpu.items()):
            if count > 1:
                collisions += count - 1
                first = first or (layer, gpu, expert)
    if first is None:
        return []
    layer, gpu, expert = first
    return [
        observation(
            "placement.anti_affinity",
            f"layer {layer}: GPU {gpu} holds more than one replica of expert {expert} "
            f"({collisions} redundant co-located replicas in all)",
            function=function,
            instance=instance,
            layer=layer,
            details={"gpu": gpu, "expert": expert, "colocated_replicas": collisions},
        )
    ]


# --- differentials -------------------------------------------------------------------------------


def device_differential(
    caller: Caller,
    function: str,
    instance: Instance,
    cpu: CallOutcome,
    cpu_objectives: Sequence[Fraction],
    dtype: str,
    policy: Policy,
) -> list[Finding]:
    """CPU vs CUDA: identical passes; same objective is tie-breaking; else a violation."""
    outcome = caller(instance, dtype=dtype, device="cuda")
    found, outputs = checked_outputs(
        function, instance, outcome, policy=policy, context={"dtype": dtype, "device": "cuda"}
    )
    if outputs is None or _equal_output_values(cpu, outcome):
        return found
    cuda_objectives = layer_objectives(function, instance, outputs)
    details = {"dtype": dtype, "cpu_objectives": [str(v) for v in cpu_objectives]}
    details["cuda_objectives"] = [str(v) for v in cuda_objectives]
    if list(cpu_objectives) == cuda_objectives:
        found.append(
            observation(
                "device.tie_break",
                "CPU and CUDA give different assignments with the same objective",
                function=function,
                instance=instance,
                details=details,
            )
        )
    else:
        found.append(
            violation(
                "device.objective",
                "CPU and CUDA give assignments with different objectives",
                function=function,
                instance=instance,
                details=details,
            )
        )
    return found


def _equal_output_values(left: CallOutcome, right: CallOutcome) -> bool:
    """Equal output values (devices aside)."""
    if left.outputs is None or right.outputs is None:
        return False
    return [getattr(v, "values", None) for v in left.outputs] == [
        getattr(v, "values", None) for v in right.outputs
    ]


def partner_differential(
    caller: Caller,
    function: str,
    instance: Instance,
    primary: CallOutcome,
    partner: str,
    dtype: str,
    device: str,
) -> list[Finding]:
    """Two implementations that must agree exactly (the reference's vectorized and heap paths)."""
    outcome = caller(instance, dtype=dtype, device=device, spec=partner)
    if outcome.status == "ok" and _equal_output_values(primary, outcome):
        return []
    what = "differ" if outcome.status == "ok" else f"cannot be compared ({outcome.error})"
    return [
        violation(
            "differential.reference_paths",
            f"the outputs of this candidate and of {partner} {what}",
            function=function,
            instance=instance,
            details={"partner": partner, "dtype": dtype, "device": device},
        )
    ]

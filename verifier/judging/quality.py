"""The quality of a valid plan: its exact objectives, and the observations on what it gives away.

`layer_objectives` recomputes every layer's objective exactly (`verifier.model.objectives`).
The quality observations are pure functions of a plan: replication optimality (the max load per
replica against its exact optimum, on the loads the candidate was given) and replica
anti-affinity (two replicas of one expert on one GPU). They never fail a run unless `--strict`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from verifier.judging.elastic import live_view
from verifier.judging.invariants import node_of_slot
from verifier.judging.precision import distinct_digits, given_loads, within_rounding
from verifier.model.contract import Policy, hierarchical_rules_apply
from verifier.model.elastic import has_dead_ranks, live_ranks
from verifier.model.findings import Finding, observation
from verifier.model.instances import (
    Instance,
    Number,
    PackingInstance,
    RebalanceInstance,
    ReplicationInstance,
)
from verifier.model.objectives import (
    exact,
    packing_objective,
    rebalance_objective,
    replica_counts,
    replication_objective,
)

QUALITY_CHECKS: dict[str, str] = {
    "optimality.replication": "the max load per replica is above its exact optimum",
    "placement.anti_affinity": "two replicas of one expert on one GPU",
}


# --- objectives ----------------------------------------------------------------------------------


def layer_objectives(function: str, instance: Instance, outputs: dict[str, Any]) -> list[Fraction]:
    """The exact objective of every layer: max pack load, max load per replica, max GPU load
    (over the live GPUs under an active-ranks mask)."""
    instance, outputs = live_view(instance, outputs)
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


# --- replication optimality ----------------------------------------------------------------------


def replication_optimum(weights: Sequence[Number | Fraction], num_phy: int) -> Fraction:
    """The least possible max load per replica (the oracle's search, independent of the greedy)."""
    from verifier.oracle.replication import optimal_max_per_replica

    return optimal_max_per_replica([exact(w) for w in weights], num_phy)


def _layer_optimum(
    instance: Instance,
    phy2log: Sequence[int],
    policy: Policy,
    weights: Sequence[Number | Fraction],
) -> Fraction:
    """The optimum of one layer; under the hierarchical rules, the worst of its nodes' optima."""
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
    judged, outputs = live_view(instance, outputs)  # the live slots under a mask
    worst: tuple[Fraction, int, Fraction, Fraction] | None = None
    excess_layers = 0
    for layer, row in enumerate(instance.weights):
        weights = given_loads(row, dtype)
        phy2log = outputs["phy2log"][layer]
        value = replication_objective(weights, replica_counts(phy2log, len(weights)))
        optimum = _layer_optimum(judged, phy2log, policy, weights)
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
    judged, outputs = live_view(instance, outputs)  # live GPUs only under a mask
    if not isinstance(judged, RebalanceInstance):
        return []
    slots_per_gpu = judged.num_replicas // judged.num_gpus
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
    if isinstance(instance, RebalanceInstance) and has_dead_ranks(instance):
        gpu = live_ranks(instance)[gpu]  # the live view numbers live GPUs only
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

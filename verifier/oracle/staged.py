"""Rebalance at any size, one stage at a time, plus the cheap end-to-end lower bounds.

Stages (each solved by the oracle, not by the reference): pack the groups onto nodes (G/N per node,
by total load), give each node's experts the *optimal* replica counts for its slots, then pack each
node's replicas onto its GPUs. Every stage is optimal or certified on its own, but their composition
need not be jointly optimal, so the end-to-end claim is only "feasible" unless the placement meets a
lower bound that holds for *every* placement:

- the average: total / num_gpus;
- the replication optimum over all R slots (some replica carries at least that, and its GPU too);
- hierarchical only: the heaviest expert's load over the most replicas its node can give it, and the
  group-packing bound over the GPUs of one node (some node carries at least that much).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from verifier.model.objectives import rebalance_objective
from verifier.oracle.bounds import rational_packing_bound
from verifier.oracle.layout import Shape, phy2log_from_gpus
from verifier.oracle.packing import solve_packing
from verifier.oracle.replication import optimal_counts, optimal_max_per_replica


def rebalance_bounds(weights: Sequence[Fraction], shape: Shape) -> dict[str, Fraction]:
    """Every cheap certified lower bound on the best largest GPU load, by name."""
    total = sum(weights, Fraction(0))
    bounds = {
        "average": total / shape.num_gpus,
        "replication": optimal_max_per_replica(weights, shape.num_replicas),
    }
    if shape.num_nodes > 1:
        bounds["replica_cap"] = max(weights) / shape.max_replicas
        node_bound = rational_packing_bound(shape.group_loads(weights), shape.num_nodes)
        bounds["node_packing"] = node_bound / shape.gpus_per_node
    return bounds


@dataclass
class StagedPlacement:
    """A placement built stage by stage, its exact objective and what each stage achieved."""

    phy2log: list[int]
    objective: Fraction
    stages: dict[str, Any] = field(default_factory=dict)


def _stage_record(objective: Fraction, bound: Fraction) -> dict[str, Any]:
    return {
        "objective": objective,
        "bound": bound,
        "status": "optimal" if objective == bound else "feasible",
    }


def _nodes_of_groups(
    weights: Sequence[Fraction], shape: Shape, time_limit: float, seed: int
) -> tuple[list[list[int]], dict[str, Any]]:
    """Which groups each node holds (groups packed by total load, G/N per node)."""
    if shape.num_nodes == 1:
        return [list(range(shape.num_groups))], {}
    group_loads = shape.group_loads(weights)
    packing = solve_packing(group_loads, shape.num_nodes, time_limit=time_limit, seed=seed)
    nodes: list[list[int]] = [[] for _ in range(shape.num_nodes)]
    for group, node in enumerate(packing.assignment):
        nodes[node].append(group)
    return nodes, _stage_record(packing.objective, packing.bound)


def staged_placement(
    weights: Sequence[Fraction], shape: Shape, *, time_limit: float, seed: int
) -> StagedPlacement:
    """Groups onto nodes, optimal replica counts per node, replicas onto each node's GPUs."""
    share = time_limit / (shape.num_nodes + 1)
    nodes, group_stage = _nodes_of_groups(weights, shape, share, seed)
    stages: dict[str, Any] = {"group_packing": group_stage, "nodes": []}
    experts_per_gpu: list[list[int]] = []
    for groups in nodes:
        experts = [e for g in sorted(groups) for e in shape.experts_of_group(g)]
        node_weights = [weights[e] for e in experts]
        counts = optimal_counts(node_weights, shape.replicas_per_node)
        replicas = [e for e, c in zip(experts, counts, strict=True) for _ in range(c)]
        loads = [weights[e] / c for e, c in zip(experts, counts, strict=True) for _ in range(c)]
        packing = solve_packing(loads, shape.gpus_per_node, time_limit=share, seed=seed)
        gpus: list[list[int]] = [[] for _ in range(shape.gpus_per_node)]
        for replica, gpu in zip(replicas, packing.assignment, strict=True):
            gpus[gpu].append(replica)
        experts_per_gpu.extend(gpus)
        stages["nodes"].append(
            {
                "groups": sorted(groups),
                "replication_optimum": optimal_max_per_replica(node_weights, len(replicas)),
                "gpu_packing": _stage_record(packing.objective, packing.bound),
            }
        )
    phy2log = phy2log_from_gpus(experts_per_gpu)
    return StagedPlacement(phy2log, rebalance_objective(weights, phy2log, shape.num_gpus), stages)

"""How good a plan made with an old placement is, against the exact balance-vs-moves front.

On small cases (at most `MAX_EXPERTS` experts, `MAX_REPLICAS` replicas and `MAX_GPUS` GPUs, the
sizes the migration-aware oracle proves in well under a second per budget) every layer of a plan
that needs m moves is compared with OPT(m - 1), the least load any plan reaches with fewer moves.
When OPT(m - 1) is no higher than the plan's own load, some plan has both fewer moves and no
higher load: the observation `quality.migration_dominated`, with that plan. Each layer's metric
also gets OPT(m), the best load reachable with the same moves (`optimum_at_moves`, exact "p/q";
null when not proven within the budget).
"""

from __future__ import annotations

from typing import Any

from verifier.model.contract import Policy
from verifier.model.findings import Finding, observation
from verifier.model.instances import RebalanceInstance
from verifier.model.objectives import moves, rebalance_objective
from verifier.oracle import instance_shape
from verifier.oracle.migration import solve_budgeted

MIGRATION_QUALITY_CHECKS: dict[str, str] = {
    "quality.migration_dominated": "a plan with fewer moves and no higher load exists",
}
MAX_EXPERTS, MAX_REPLICAS, MAX_GPUS = 8, 12, 4
#: Deterministic CP-SAT seconds per budgeted solve.
TIME_LIMIT = 2.0


def judged_against_front(instance: RebalanceInstance) -> bool:
    """Whether a case is small enough for the exact front."""
    experts = len(instance.weights[0]) if instance.weights else 0
    return (
        experts <= MAX_EXPERTS
        and instance.num_replicas <= MAX_REPLICAS
        and instance.num_gpus <= MAX_GPUS
    )


def migration_against_front(
    instance: RebalanceInstance,
    old: list[list[int]],
    new: list[list[int]],
    details: dict[str, Any],
    policy: Policy = "auto",
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Observations of dominated layers, and per layer the plan's moves, load and OPT(moves)."""
    if not judged_against_front(instance):
        return [], []
    shape = instance_shape(instance, policy)
    found: list[Finding] = []
    layers: list[dict[str, Any]] = []
    for layer, (before, after) in enumerate(zip(old, new, strict=True)):
        weights = instance.weights[layer]
        used = moves(before, after, instance.num_gpus)
        load = rebalance_objective(weights, after, instance.num_gpus)
        same = solve_budgeted(weights, shape, before, used, time_limit=TIME_LIMIT, seed=0,
                              incumbents=[after])  # fmt: skip
        layers.append({
            "layer": layer, "moves": used, "load": str(load),
            "optimum_at_moves": str(same.objective) if same.status == "optimal" else None,
        })  # fmt: skip
        if used == 0:
            continue
        fewer = solve_budgeted(weights, shape, before, used - 1, time_limit=TIME_LIMIT, seed=0)
        if fewer.objective is not None and fewer.objective <= load:
            found.append(
                observation(
                    "quality.migration_dominated",
                    f"layer {layer}: the plan needs {used} moves for load {load}, but "
                    f"{fewer.moves} moves reach load {fewer.objective}",
                    function="rebalance_experts",
                    instance=instance,
                    layer=layer,
                    details={
                        **details,
                        "moves": used,
                        "load": str(load),
                        "dominating_plan": fewer.phy2log,
                        "dominating_moves": fewer.moves,
                        "dominating_load": str(fewer.objective),
                    },
                )
            )
    return found, layers

"""A declared move budget (`--max-moves K`): a plan made with an old placement may copy at most
K replicas per layer (`verifier.model.objectives.moves`: the sum over GPUs and experts of
max(0, n_new - n_old)); more is the violation `migration.budget`.

It is judged where the harness passes an old placement and knows it: the incremental call with
the candidate's own plan for perturbed loads (`verifier.judging.incremental`), and each call of a
sequence given the previous plan (`verifier.judging.sequence`). A plan made from scratch (a
function that takes no old placement) is never held to it.
"""

from __future__ import annotations

from typing import Any

from verifier.model.findings import Finding, violation
from verifier.model.instances import RebalanceInstance
from verifier.model.objectives import moves

MOVE_BUDGET_CHECKS: dict[str, str] = {
    "migration.budget": "a plan made with an old placement copies more replicas in a layer than "
    "the declared --max-moves",
}
Matrix = list[list[int]]


def budget_violation(
    instance: RebalanceInstance,
    old: Matrix,
    new: Matrix,
    max_moves: int | None,
    details: dict[str, Any],
) -> Finding | None:
    """The first layer whose moves from `old` to `new` exceed `max_moves` (None: no budget)."""
    if max_moves is None:
        return None
    for layer, (old_row, new_row) in enumerate(zip(old, new, strict=True)):
        count = moves(old_row, new_row, instance.num_gpus)
        if count > max_moves:
            return violation(
                "migration.budget",
                f"layer {layer}: {count} replica copies from the old placement, more than the "
                f"declared --max-moves {max_moves}",
                function="rebalance_experts",
                instance=instance,
                layer=layer,
                details={**details, "moves": count, "max_moves": max_moves},
            )
    return None

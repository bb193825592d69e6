"""Incremental rebalancing: calls with an old placement, vLLM's slot contract, migration.

A rebalance function that accepts an old placement (vLLM's `old_global_expert_indices`) is also
called with one: the candidate's own plan for seeded, perturbed loads (a plausible earlier plan).
Every invariant runs on that output too. Under the vllm profile its documented contract holds as
well: the old placement only reorders slots within each GPU (the per-GPU multiset of experts equals
the plan made without it), and experts that stay on a GPU keep their old slot where they can.

Migration is the weight-transfer cost of moving from the old plan to the new one: the replicas
whose GPU changes (per GPU, the new replicas not matched by an old replica of the same expert).
A declared move budget (`--max-moves`) is judged on the call with the old placement
(`verifier.judging.move_budget`). A function that requires an old placement is held to slot
preservation, not to the per-GPU multiset of a plan made without one (it has none).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from verifier.calling.sandbox import CallOutcome
from verifier.judging.case import JudgedCase
from verifier.judging.migration_quality import MIGRATION_QUALITY_CHECKS, migration_against_front
from verifier.judging.move_budget import MOVE_BUDGET_CHECKS, budget_violation
from verifier.model.findings import Finding, violation
from verifier.model.instances import Number, RebalanceInstance, instance_hash
from verifier.model.objectives import gpu_replica_counts, moves

INCREMENTAL_CHECKS: dict[str, str] = {
    "incremental.gpu_multiset": "with an old placement, a GPU holds other experts than without it",
    "incremental.slot_preservation": "an expert that stays on its GPU does not keep its old slot",
    **MIGRATION_QUALITY_CHECKS,
    **MOVE_BUDGET_CHECKS,
}
Matrix = list[list[int]]
OldCall = Callable[[RebalanceInstance, Matrix], CallOutcome]


def perturbed_instance(instance: RebalanceInstance) -> RebalanceInstance:
    """The same shape with every load scaled by a seeded factor in [0.5, 1.5]."""
    rng = random.Random(instance_hash(instance))
    rows: list[list[Number]] = []
    for row in instance.weights:
        factors = [rng.uniform(0.5, 1.5) for _ in row]
        if all(isinstance(value, int) for value in row):
            rows.append([round(value * f) for value, f in zip(row, factors, strict=True)])
        else:
            rows.append([float(value) * f for value, f in zip(row, factors, strict=True)])
    return replace(instance, weights=rows)


def migration(old: Matrix, new: Matrix, num_gpus: int) -> int:
    """Replicas whose GPU changes between two plans: `objectives.moves` summed over layers."""
    if not old or not old[0] or not num_gpus:
        return 0
    return sum(moves(a, b, num_gpus) for a, b in zip(old, new, strict=True))


def rewritten_slots(old: Matrix, new: Matrix) -> int:
    """Slots whose expert changes between two plans: the weight copies a rearrangement makes
    (moves within a GPU included; what slot preservation saves)."""
    return sum(a != b for old_row, new_row in zip(old, new, strict=True)
               for a, b in zip(old_row, new_row, strict=True))  # fmt: skip


def gpu_multiset_violation(
    instance: RebalanceInstance, plain: Matrix, with_old: Matrix, details: dict[str, Any]
) -> Finding | None:
    """vLLM: the old placement may only reorder slots within a GPU."""
    gpus = instance.num_gpus
    for layer, (left, right) in enumerate(zip(plain, with_old, strict=True)):
        for gpu, (a, b) in enumerate(
            zip(gpu_replica_counts(left, gpus), gpu_replica_counts(right, gpus), strict=True)
        ):
            if a != b:
                return violation(
                    "incremental.gpu_multiset",
                    f"layer {layer}: GPU {gpu} holds experts {sorted(b.elements())} with the old "
                    f"placement but {sorted(a.elements())} without it",
                    function="rebalance_experts",
                    instance=instance,
                    layer=layer,
                    details=details,
                )
    return None


def slot_preservation_violation(
    instance: RebalanceInstance, old: Matrix, new: Matrix, details: dict[str, Any]
) -> Finding | None:
    """vLLM: per GPU, as many old slots keep their expert as the two multisets share."""
    per_gpu = instance.num_replicas // instance.num_gpus
    for layer, (old_row, new_row) in enumerate(zip(old, new, strict=True)):
        for gpu in range(instance.num_gpus):
            span = slice(gpu * per_gpu, (gpu + 1) * per_gpu)
            shared = Counter(old_row[span]) & Counter(new_row[span])
            kept = sum(a == b for a, b in zip(old_row[span], new_row[span], strict=True))
            if kept < sum(shared.values()):
                return violation(
                    "incremental.slot_preservation",
                    f"layer {layer}: GPU {gpu} keeps {kept} experts in their old slots, but "
                    f"{sum(shared.values())} of its experts stay on it",
                    function="rebalance_experts",
                    instance=instance,
                    layer=layer,
                    details={**details, "gpu": gpu},
                )
    return None


def incremental_checks(
    case: JudgedCase,
    *,
    old_call: OldCall | None,
    vllm_contract: bool,
    requires_old: bool = False,
    max_moves: int | None = None,
) -> tuple[list[Finding], dict[str, Any]]:
    """Findings of the old-placement call (when `old_call` is given: the function accepts one)
    and the migration metric; `vllm_contract` adds vLLM's slot contract, `max_moves` a declared
    move budget (`migration.budget`). A function that `requires_old` never plans from scratch
    (its case's plan was made from the reference's old placement, see
    `verifier.calling.profiles.old_placement`), so it is held to slot preservation but not to
    the per-GPU multiset of a plan without one."""
    instance = case.instance
    assert isinstance(instance, RebalanceInstance)
    earlier = case.call_again(perturbed_instance(instance), role="incremental")
    found = list(earlier.findings)
    if earlier.outputs is None:
        return found, {}
    old = earlier.outputs["phy2log"]
    plain = new = case.outputs["phy2log"]
    if old_call is not None:
        details = {**case.context, "role": "incremental", "old_placement": old}
        more, outputs = case.checked(instance, old_call(instance, old), details)
        found += more
        if outputs is None:
            return found, {}
        new = outputs["phy2log"]
        checks = [budget_violation(instance, old, new, max_moves, details)]
        if vllm_contract and not requires_old:
            checks.append(gpu_multiset_violation(instance, plain, new, details))
        if vllm_contract or requires_old:
            checks.append(slot_preservation_violation(instance, old, new, details))
        found += [finding for finding in checks if finding]
    metric: dict[str, Any] = {
        "moved": migration(old, new, instance.num_gpus),
        "rewritten": rewritten_slots(old, new),
        "replicas": instance.num_replicas * len(plain),
        "with_old_placement": old_call is not None,
    }
    if old_call is not None:  # the plan was made knowing the old placement: judge its moves
        details = {**case.context, "role": "incremental", "old_placement": old}
        dominated, layers = migration_against_front(instance, old, new, details, case.policy)
        found += dominated
        if layers:
            metric["front"] = layers
    return found, metric

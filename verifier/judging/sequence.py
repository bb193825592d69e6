"""Judging one call of a sequence (one policy instance driven through consecutive calls).

Every call goes through the one judging path (`verifier.judging.judge`); a call given the previous
plan also keeps vLLM's slot contract (under the vllm profile) and a declared move budget. Two
identical sequences are compared call by call with the determinism check of single calls. Between
consecutive plans: how many layers changed, and the replica copies the change costs
(`objectives.moves`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise
from typing import Any

from verifier.calling.sandbox import CallOutcome
from verifier.judging.incremental import migration, slot_preservation_violation
from verifier.judging.invariants import check_determinism
from verifier.judging.judge import Verdict, judge
from verifier.judging.move_budget import budget_violation
from verifier.model.contract import Policy
from verifier.model.findings import Finding
from verifier.model.instances import RebalanceInstance

Plan = list[list[int]]  # phy2log, one row per layer
REBALANCE = "rebalance_experts"


def judged_step(
    instance: RebalanceInstance,
    outcome: CallOutcome,
    old: Plan | None,
    *,
    policy: Policy,
    vllm_contract: bool,
    context: dict[str, Any],
    max_moves: int | None = None,
) -> tuple[Verdict, list[Finding]]:
    """One call of the sequence through the invariant checker, and its violations; when the call
    was given the previous plan `old`: vLLM's slot contract under the vllm profile, and a
    declared move budget (`--max-moves`, `migration.budget`)."""
    verdict = judge(instance, outcome, policy=policy, context=context)
    found = list(verdict.violations)
    if old is not None and verdict.outputs is not None:
        new = verdict.outputs["phy2log"]
        kept = slot_preservation_violation(instance, old, new, context) if vllm_contract else None
        over = budget_violation(instance, old, new, max_moves, context)
        found += [finding for finding in (kept, over) if finding]
    return verdict, found


def diverged(
    instance: RebalanceInstance, first: CallOutcome, second: CallOutcome, context: dict[str, Any]
) -> list[Finding]:
    """`behaviour.nondeterministic` when the same call of two identical sequences differs."""
    return [
        replace(
            finding,
            message=f"two identical sequences differ at this call (first: {first.status}, "
            f"second: {second.status})",
        )
        for finding in check_determinism(REBALANCE, instance, first, second, context)
    ]


def layers_changed(old: Plan, new: Plan) -> int:
    """Layers whose plan differs between two consecutive calls."""
    return sum(a != b for a, b in zip(old, new, strict=True))


def replicas_moved(old: Plan, new: Plan, num_gpus: int) -> int:
    """Replica copies from one plan to the next (the one migration count)."""
    return migration(old, new, num_gpus)


def changes(plans: Sequence[Plan], num_gpus: int) -> list[tuple[int, int]]:
    """Per call after the first: (layers changed, replicas moved) since the call before."""
    return [
        (layers_changed(old, new), replicas_moved(old, new, num_gpus))
        for old, new in pairwise(plans)
    ]

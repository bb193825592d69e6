"""Elastic expert parallelism: what an active-ranks mask means for a rebalance plan.

SGLang's elastic EP (`sglang/srt/elastic_ep/elastic_ep.py`) keeps `active_ranks`, an int32
tensor with one entry per EP rank (1 live, 0 dead), and its `elasticity_aware` algorithm
(`eplb_algorithms/elasticity_aware.py`) takes it as the parameter `active_ranks`. With dead ranks
it plans over the survivors only, with the global policy (one group, one node), and writes the plan
back into the full slot layout: slot p is on GPU p // (num_replicas / num_gpus) as always, and
every slot of a dead GPU holds the **placeholder** expert 0 (SGLang fills them with
`torch.zeros_like`). The placeholder is no replica: logcnt counts live slots only and log2phy never
lists a dead slot, so no token is ever routed to it.

That is the one convention the harness accepts: a dead slot holds `PLACEHOLDER`, anything else is a
violation. Balance is judged over the live GPUs (`live_phy2log`, `live_instance`), and the oracle
solves `live_instance`, the same loads on the live GPUs' slots only, so the gap stays exact.
"""

from __future__ import annotations

from dataclasses import replace

from verifier.model.instances import Instance, RebalanceInstance

MASK_NAME = "active_ranks"  # SGLang's parameter (and the instance field)
PLACEHOLDER = 0  # what SGLang parks in a dead rank's slots


def mask_of(instance: Instance) -> list[int] | None:
    """The instance's active-ranks mask when it has one with at least one dead rank."""
    if not isinstance(instance, RebalanceInstance) or instance.active_ranks is None:
        return None
    return instance.active_ranks if 0 in instance.active_ranks else None


def has_dead_ranks(instance: Instance) -> bool:
    return mask_of(instance) is not None


def dead_ranks(instance: RebalanceInstance) -> list[int]:
    mask = instance.active_ranks or []
    return [rank for rank, live in enumerate(mask) if not live]


def live_ranks(instance: RebalanceInstance) -> list[int]:
    mask = instance.active_ranks or [1] * instance.num_gpus
    return [rank for rank, live in enumerate(mask) if live]


def slots_per_gpu(instance: RebalanceInstance) -> int:
    return instance.num_replicas // instance.num_gpus


def rank_of_slot(instance: RebalanceInstance, slot: int) -> int:
    return slot // slots_per_gpu(instance)


def live_slots(instance: RebalanceInstance) -> list[int]:
    """The slots of the live GPUs, in order."""
    per_gpu = slots_per_gpu(instance)
    return [g * per_gpu + i for g in live_ranks(instance) for i in range(per_gpu)]


def dead_slots(instance: RebalanceInstance) -> list[int]:
    per_gpu = slots_per_gpu(instance)
    return [g * per_gpu + i for g in dead_ranks(instance) for i in range(per_gpu)]


def live_phy2log(instance: RebalanceInstance, row: list[int]) -> list[int]:
    """One layer's phy2log restricted to the live GPUs' slots (a plan of `live_instance`)."""
    return [row[slot] for slot in live_slots(instance)]


def live_instance(instance: RebalanceInstance) -> RebalanceInstance:
    """The same loads on the live GPUs only, global policy (what SGLang plans with dead ranks):
    what the oracle solves and the balance is judged on. No mask: the instance itself."""
    if not has_dead_ranks(instance):
        return instance
    live = len(live_ranks(instance))
    return replace(
        instance,
        num_replicas=live * slots_per_gpu(instance),
        num_groups=1,
        num_nodes=1,
        num_gpus=live,
        active_ranks=None,
    )


def mask_value(instance: Instance) -> list[int] | None:
    """The mask a call passes (the instance's, or None when it has none)."""
    return instance.active_ranks if isinstance(instance, RebalanceInstance) else None

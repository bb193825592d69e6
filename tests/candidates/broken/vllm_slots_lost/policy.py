"""Bug: with an old placement, each GPU's experts are rotated by one slot instead of kept in
their old slots (the per-GPU multiset is right, the weight copies are not saved)."""

import torch

from .planning import plan


class SlotLosingPolicy:
    @classmethod
    def rebalance_experts(
        cls,
        weight: torch.Tensor,
        num_replicas: int,
        num_groups: int,
        num_nodes: int,
        num_ranks: int,
        old_global_expert_indices: torch.Tensor | None = None,
    ) -> torch.Tensor:
        phy2log = plan(weight, num_replicas, num_groups, num_nodes, num_ranks)
        if old_global_expert_indices is None:
            return phy2log
        per_gpu = num_replicas // num_ranks
        blocks = phy2log.view(phy2log.shape[0], num_ranks, per_gpu)
        return blocks.roll(1, dims=-1).reshape(phy2log.shape).clone()

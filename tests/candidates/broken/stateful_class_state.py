"""Bug (stateful policy class): its state lives on the class, so even a fresh instance per call
sees the loads of earlier calls: the same input gives different plans."""

from typing import ClassVar

import torch

from reference import rebalance_experts as reference_rebalance


class LeakyPolicy:
    seen: ClassVar[list[torch.Tensor]] = []  # shared by every instance

    def rebalance_experts(
        self,
        weight: torch.Tensor,
        num_replicas: int,
        num_groups: int,
        num_nodes: int,
        num_gpus: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loads = weight.double()
        if self.seen and self.seen[-1].shape == loads.shape:
            loads = 0.5 * loads + 0.5 * self.seen[-1]
        self.seen.append(loads)
        return reference_rebalance(loads, num_replicas, num_groups, num_nodes, num_gpus)

"""Bug: crashes on the global fallback (num_groups not divisible by num_nodes)."""

import torch

from reference import rebalance_experts as reference_rebalance


def rebalance_experts(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    groups_per_node = [num_groups // num_nodes] * num_nodes
    if sum(groups_per_node) != num_groups:
        raise IndexError("list index out of range")
    return reference_rebalance(weight, num_replicas, num_groups, num_nodes, num_gpus)

"""The reference greedy, except that it never returns for 256 or more experts."""

from __future__ import annotations

import time

import torch

from reference import rebalance_experts as reference_rebalance


def rebalance_experts(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    while weight.shape[-1] >= 256:
        time.sleep(3600)
    return reference_rebalance(weight, num_replicas, num_groups, num_nodes, num_gpus)

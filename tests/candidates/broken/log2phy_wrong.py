"""Bug: log2phy points every expert's first replica at the next slot."""

import torch

from reference import rebalance_experts as reference_rebalance


def rebalance_experts(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    phy2log, log2phy, logcnt = reference_rebalance(
        weight, num_replicas, num_groups, num_nodes, num_gpus
    )
    log2phy = log2phy.clone()
    log2phy[..., 0] = (log2phy[..., 0] + 1) % num_replicas
    return phy2log, log2phy, logcnt

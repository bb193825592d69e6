"""Bug: log2phy keeps only two columns, too few for experts with three or more replicas."""

import torch

from reference import rebalance_experts as reference_rebalance


def rebalance_experts(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    phy2log, log2phy, logcnt = reference_rebalance(
        weight, num_replicas, num_groups, num_nodes, num_gpus
    )
    return phy2log, log2phy[..., :2].contiguous(), logcnt

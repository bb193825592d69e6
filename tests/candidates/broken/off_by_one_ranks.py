"""Bug: numbers replicas from 1 instead of 0."""

import torch

from reference import replicate_experts as reference_replication


def replicate_experts(
    weight: torch.Tensor, num_phy: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    phy2log, rank, logcnt = reference_replication(weight, num_phy)
    return phy2log, rank + 1, logcnt

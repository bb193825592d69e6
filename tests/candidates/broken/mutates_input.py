"""Bug: sorts the caller's weight tensor in place."""

import torch

from reference import replicate_experts as reference_replication


def replicate_experts(
    weight: torch.Tensor, num_phy: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    result = reference_replication(weight, num_phy)
    weight.copy_(weight.sort(dim=-1, descending=True).values)
    return result

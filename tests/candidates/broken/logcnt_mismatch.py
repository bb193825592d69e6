"""Bug: moves one count of logcnt from the busiest expert to expert 0 (sum still right)."""

import torch

from reference import replicate_experts as reference_replication


def replicate_experts(
    weight: torch.Tensor, num_phy: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    phy2log, rank, logcnt = reference_replication(weight, num_phy)
    logcnt = logcnt.clone()
    busiest = logcnt.argmax(dim=-1)
    rows = torch.arange(logcnt.shape[0], device=logcnt.device)
    logcnt[rows, busiest] -= 1
    logcnt[:, 0] += 1
    return phy2log, rank, logcnt

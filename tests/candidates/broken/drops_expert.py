"""Bug: gives expert 0's only slot to expert 1 (expert 0 ends up with no replica)."""

import torch

from reference import replicate_experts as reference_replication


def replicate_experts(
    weight: torch.Tensor, num_phy: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    phy2log, rank, logcnt = reference_replication(weight, num_phy)
    if weight.shape[1] < 2:
        return phy2log, rank, logcnt
    phy2log, rank, logcnt = phy2log.clone(), rank.clone(), logcnt.clone()
    phy2log[phy2log == 0] = 1
    logcnt[:, 1] += logcnt[:, 0]
    logcnt[:, 0] = 0
    for layer in range(phy2log.shape[0]):
        slots = (phy2log[layer] == 1).nonzero().flatten()
        rank[layer, slots] = torch.arange(slots.numel())
    return phy2log, rank, logcnt

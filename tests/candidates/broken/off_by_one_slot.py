"""Bug: the greedy loop stops one slot early and the last slot goes to expert 0 regardless.

The output is structurally valid, but the max load per replica is above the optimum.
"""

import torch

from reference import replicate_experts as reference_replication


def replicate_experts(
    weight: torch.Tensor, num_phy: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    num_log = weight.shape[1]
    if num_phy == num_log:
        return reference_replication(weight, num_phy)
    phy2log, rank, logcnt = reference_replication(weight, num_phy - 1)
    logcnt = logcnt.clone()
    extra_rank = logcnt[:, :1].clone()
    logcnt[:, 0] += 1
    zeros = torch.zeros_like(extra_rank)
    return torch.cat([phy2log, zeros], dim=1), torch.cat([rank, extra_rank], dim=1), logcnt

"""Bug: compares loads per replica in float32, which is not exact above 2^24.

Large near-tied loads then get the redundant slot in the wrong order (a real balance loss).
"""

import torch


def replicate_experts(
    weight: torch.Tensor, num_phy: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    layers, num_log = weight.shape
    device = weight.device
    phy2log = torch.arange(num_phy, device=device).repeat(layers, 1)
    rank = torch.zeros(layers, num_phy, dtype=torch.int64, device=device)
    logcnt = torch.ones(layers, num_log, dtype=torch.int64, device=device)
    loads = weight.to(torch.float32)
    rows = torch.arange(layers, device=device)
    for slot in range(num_log, num_phy):
        chosen = (loads / logcnt).argmax(dim=-1)
        phy2log[:, slot] = chosen
        rank[:, slot] = logcnt[rows, chosen]
        logcnt[rows, chosen] += 1
    return phy2log, rank, logcnt

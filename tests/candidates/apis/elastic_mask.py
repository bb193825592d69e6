"""An elasticity-aware rebalance in SGLang's style (imitates the signature of
`eplb_algorithms/elasticity_aware.py`, written for these tests).

`active_ranks` is an int32 tensor [num_gpus], 1 live and 0 dead. With dead ranks it plans over the
survivors with the global policy, writes each live GPU's slots back in place and parks the
placeholder expert 0 in every dead GPU's slots: logcnt counts live replicas only and log2phy lists
live slots only.
"""

import torch

from reference import rebalance_experts as reference_rebalance


def rebalance_experts(
    weight: torch.Tensor,
    num_replicas: int,
    num_groups: int,
    num_nodes: int,
    num_gpus: int,
    enable_hierarchical: bool,
    active_ranks: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    live = [rank for rank, flag in enumerate(active_ranks.tolist()) if flag]
    per_gpu = num_replicas // num_gpus
    if len(live) == num_gpus:
        groups, nodes = (num_groups, num_nodes) if enable_hierarchical else (1, 1)
        return reference_rebalance(weight, num_replicas, groups, nodes, num_gpus)
    phy2log, log2phy, logcnt = reference_rebalance(weight, per_gpu * len(live), 1, 1, len(live))
    # survivor slot i is slot live[i // per_gpu] * per_gpu + i % per_gpu
    index = torch.arange(per_gpu * len(live), device=weight.device)
    ranks = torch.tensor(live, dtype=torch.int64, device=weight.device)
    where = ranks[index // per_gpu] * per_gpu + index % per_gpu
    full = torch.zeros((weight.shape[0], num_replicas), dtype=torch.int64, device=weight.device)
    full[:, where] = phy2log
    remapped = torch.where(log2phy >= 0, where[log2phy.clamp(min=0)], log2phy)
    return full, remapped, logcnt

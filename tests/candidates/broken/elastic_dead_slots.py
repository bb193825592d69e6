"""Bug (SGLang-style elastic EP): plans over the survivors, but writes their plan into the first
slots and the placeholders after them, wherever the dead ranks are. A dead rank before a live one
then holds real replicas that logcnt counts and log2phy routes to."""

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
    live = int(active_ranks.sum().item())
    per_gpu = num_replicas // num_gpus
    if live == num_gpus:
        groups, nodes = (num_groups, num_nodes) if enable_hierarchical else (1, 1)
        return reference_rebalance(weight, num_replicas, groups, nodes, num_gpus)
    phy2log, log2phy, logcnt = reference_rebalance(weight, per_gpu * live, 1, 1, live)
    full = torch.zeros((weight.shape[0], num_replicas), dtype=torch.int64, device=weight.device)
    full[:, : per_gpu * live] = phy2log
    return full, log2phy, logcnt

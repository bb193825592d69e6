"""Bug: a tensor created on the default device (`torch.arange` without `device=`) is added to
tensors on the input's device. On a CPU-only machine both are the CPU and every plan is right; on
a GPU deployment (loads on the GPU, the default device the host) every call fails on a device
mismatch. The default-device probe flags it on CPU (`device.default_device`)."""

import torch

from reference import balanced_packing, replicate_experts


def _inverse(perm: torch.Tensor) -> torch.Tensor:
    positions = torch.arange(perm.size(1), dtype=torch.int64, device=perm.device)
    return torch.empty_like(perm).scatter_(1, perm, positions.expand(perm.shape))


def rebalance_experts(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if num_groups % num_nodes:
        num_groups = num_nodes = 1  # the global policy: one group on one node
    layers, num_log = weight.shape
    group_size = num_log // num_groups
    per_gpu = num_replicas // num_gpus
    group_loads = weight.unflatten(-1, (num_groups, group_size)).sum(-1)
    node_of_group, rank_of_group = balanced_packing(group_loads, num_nodes)
    first = (node_of_group * (num_groups // num_nodes) + rank_of_group) * group_size
    log2mlog = (first.unsqueeze(-1) + torch.arange(group_size, dtype=torch.int64)).flatten(-2)
    mlog2log = _inverse(log2mlog)
    node_loads = weight.gather(-1, mlog2log).view(-1, num_log // num_nodes)
    phy2mlog, phyrank, mlogcnt = replicate_experts(node_loads, num_replicas // num_nodes)
    replica_loads = (node_loads / mlogcnt).gather(-1, phy2mlog)
    gpu_of, slot_of = balanced_packing(replica_loads, num_gpus // num_nodes)
    pphy2phy = _inverse(gpu_of * per_gpu + slot_of)
    offsets = torch.arange(0, num_log, num_log // num_nodes, device=weight.device)
    pphy2mlog = phy2mlog.gather(-1, pphy2phy).view(layers, num_nodes, -1) + offsets.view(1, -1, 1)
    phy2log = mlog2log.gather(-1, pphy2mlog.flatten(-2))
    rank = phyrank.gather(-1, pphy2phy).view(layers, -1)
    logcnt = mlogcnt.view(layers, -1).gather(-1, log2mlog)
    width = int(logcnt.max()) if logcnt.numel() else 1
    log2phy = torch.full((layers, num_log, width), -1, dtype=torch.int64, device=weight.device)
    slots = torch.arange(num_replicas, dtype=torch.int64, device=weight.device)
    log2phy.view(layers, -1).scatter_(-1, phy2log * width + rank, slots.expand(layers, -1))
    return phy2log, log2phy, logcnt

"""DeepSeek-style EPLB as its current `eplb.py` writes it (written for these tests, not copied).

Device handling as that file does it: every factory names its device (`device=weight.device`,
`device="cpu"`), the greedy packing loops on a host copy (`.cpu()`) and returns host tensors,
`rebalance_experts` plans on `weight.float().cpu()` and reads `.item()` off host tensors. The
default-device probe must pass it on every case (no violation, nothing inconclusive).
"""

import torch


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    layers, items = weight.shape
    per_pack = items // num_packs
    if per_pack == 1:
        pack_index = torch.arange(items, dtype=torch.int64, device=weight.device)
        return pack_index.expand(layers, items), torch.zeros_like(weight, dtype=torch.int64)
    order = weight.float().sort(dim=-1, descending=True, stable=True).indices.cpu()
    pack_index = torch.full_like(weight, fill_value=-1, dtype=torch.int64, device="cpu")
    rank_in_pack = torch.full_like(pack_index, fill_value=-1)
    for layer in range(layers):
        loads = [0.0] * num_packs
        counts = [0] * num_packs
        for item in order[layer].tolist():
            pack = min((p for p in range(num_packs) if counts[p] < per_pack), key=loads.__getitem__)
            pack_index[layer, item] = pack
            rank_in_pack[layer, item] = counts[pack]
            loads[pack] += float(weight[layer, item])
            counts[pack] += 1
    return pack_index, rank_in_pack


def replicate_experts(
    weight: torch.Tensor, num_phy: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    layers, num_log = weight.shape
    device = weight.device
    phy2log = torch.arange(num_phy, dtype=torch.int64, device=device).repeat(layers, 1)
    rank = torch.zeros(layers, num_phy, dtype=torch.int64, device=device)
    logcnt = torch.ones(layers, num_log, dtype=torch.int64, device=device)
    rows = torch.arange(layers, dtype=torch.int64, device=device)
    for slot in range(num_log, num_phy):
        best = (weight / logcnt).max(dim=-1).indices
        phy2log[:, slot] = best
        rank[:, slot] = logcnt[rows, best]
        logcnt[rows, best] += 1
    return phy2log, rank, logcnt


def _inverse(perm: torch.Tensor) -> torch.Tensor:
    inverse = torch.empty_like(perm)
    positions = torch.arange(perm.size(1), dtype=torch.int64, device=perm.device)
    return inverse.scatter_(1, perm, positions.expand(perm.shape))


def _hierarchical(
    weight: torch.Tensor, num_phy: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    layers, num_log = weight.shape
    group_size = num_log // num_groups
    groups_per_node = num_groups // num_nodes
    per_gpu = num_phy // num_gpus
    group_loads = weight.unflatten(-1, (num_groups, group_size)).sum(-1)
    node_of_group, rank_of_group = balanced_packing(group_loads, num_nodes)
    within = torch.arange(group_size, dtype=torch.int64, device=node_of_group.device)
    first = (node_of_group * groups_per_node + rank_of_group) * group_size
    log2mlog = (first.unsqueeze(-1) + within).flatten(-2)
    mlog2log = _inverse(log2mlog)
    node_loads = weight.gather(-1, mlog2log).view(-1, num_log // num_nodes)
    phy2mlog, phyrank, mlogcnt = replicate_experts(node_loads, num_phy // num_nodes)
    replica_loads = (node_loads / mlogcnt).gather(-1, phy2mlog)
    gpu_of, slot_of = balanced_packing(replica_loads, num_gpus // num_nodes)
    pphy2phy = _inverse(gpu_of * per_gpu + slot_of)
    pphy2mlog = phy2mlog.gather(-1, pphy2phy)
    offsets = torch.arange(
        0, num_log, num_log // num_nodes, dtype=torch.int64, device=node_of_group.device
    )
    pphy2mlog = (pphy2mlog.view(layers, num_nodes, -1) + offsets.view(1, -1, 1)).flatten(-2)
    phy2log = mlog2log.gather(-1, pphy2mlog)
    rank = phyrank.gather(-1, pphy2phy).view(layers, -1)
    logcnt = mlogcnt.view(layers, -1).gather(-1, log2mlog)
    return phy2log, rank, logcnt


def rebalance_experts(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    layers, num_log = weight.shape
    weight = weight.float().cpu()
    if num_groups % num_nodes == 0:
        phy2log, rank, logcnt = _hierarchical(weight, num_replicas, num_groups, num_nodes, num_gpus)
    else:
        phy2log, rank, logcnt = _hierarchical(weight, num_replicas, 1, 1, num_gpus)
    width = int(logcnt.max().item())
    log2phy = torch.full((layers, num_log, width), -1, dtype=torch.int64, device=logcnt.device)
    slots = torch.arange(num_replicas, dtype=torch.int64, device=log2phy.device)
    log2phy.view(layers, -1).scatter_(-1, phy2log * width + rank, slots.expand(layers, -1))
    return phy2log, log2phy, logcnt

"""A numpy port of DeepSeek's EPLB with DeepSeek's own names: numpy arrays in, numpy int32 maps
out, and an extra optional keyword (`kind`, the sort of the greedy packing).

Written for these tests in the style of such ports (not copied): `--api auto` must call it with
numpy loads and accept its int32 maps, which its source declares (`astype(np.int32)`).
"""

from typing import Literal

import numpy as np

SortKind = Literal["stable", "quicksort", "mergesort", "heapsort"]


def balanced_packing(
    weight: np.ndarray, num_packs: int, *, kind: SortKind = "stable"
) -> tuple[np.ndarray, np.ndarray]:
    """Heaviest item first into the lightest pack that is not full."""
    layers, items = weight.shape
    per_pack = items // num_packs
    pack_index = np.full((layers, items), -1, dtype=np.int64)
    rank_in_pack = np.full((layers, items), -1, dtype=np.int64)
    for layer in range(layers):
        loads = np.zeros(num_packs, dtype=np.float64)
        counts = np.zeros(num_packs, dtype=np.int64)
        for item in np.argsort(-weight[layer].astype(np.float64), kind=kind):
            open_loads = np.where(counts < per_pack, loads, np.inf)
            pack = int(np.argmin(open_loads))
            pack_index[layer, item] = pack
            rank_in_pack[layer, item] = counts[pack]
            loads[pack] += float(weight[layer, item])
            counts[pack] += 1
    return pack_index.astype(np.int32), rank_in_pack.astype(np.int32)


def replicate_experts(
    weight: np.ndarray, num_phy: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each redundant slot to the expert with the most load per replica."""
    layers, num_log = weight.shape
    phy2log = np.tile(np.arange(num_phy, dtype=np.int64) % max(num_log, 1), (layers, 1))
    rank = np.zeros((layers, num_phy), dtype=np.int64)
    logcnt = np.ones((layers, num_log), dtype=np.int64)
    loads = weight.astype(np.float64)
    for slot in range(num_log, num_phy):
        best = np.argmax(loads / logcnt, axis=-1)
        rows = np.arange(layers)
        phy2log[:, slot] = best
        rank[:, slot] = logcnt[rows, best]
        logcnt[rows, best] += 1
    return phy2log.astype(np.int32), rank.astype(np.int32), logcnt.astype(np.int32)


def _inverse(perm: np.ndarray) -> np.ndarray:
    inverse = np.empty_like(perm)
    rows = np.arange(perm.shape[0])[:, None]
    inverse[rows, perm] = np.arange(perm.shape[1])[None, :]
    return inverse


def _hierarchical(
    weight: np.ndarray, num_phy: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups to nodes, replicas within each node, replicas to the node's GPUs."""
    layers, num_log = weight.shape
    group_size, groups_per_node = num_log // num_groups, num_groups // num_nodes
    per_gpu, log_per_node = num_phy // num_gpus, num_log // num_nodes
    group_loads = weight.reshape(layers, num_groups, group_size).sum(axis=-1)
    group_pack, group_rank = (a.astype(np.int64) for a in balanced_packing(group_loads, num_nodes))
    first = (group_pack * groups_per_node + group_rank) * group_size
    log2mlog = (first[:, :, None] + np.arange(group_size)).reshape(layers, num_log)
    mlog2log = _inverse(log2mlog)
    mlog_loads = np.take_along_axis(weight, mlog2log, axis=-1).reshape(-1, log_per_node)
    phy2mlog, phyrank, mlogcnt = (
        a.astype(np.int64) for a in replicate_experts(mlog_loads, num_phy // num_nodes)
    )
    phy_loads = np.take_along_axis(mlog_loads.astype(np.float64) / mlogcnt, phy2mlog, axis=-1)
    pack, rank_in_pack = (
        a.astype(np.int64) for a in balanced_packing(phy_loads, num_gpus // num_nodes)
    )
    pphy2phy = _inverse(pack * per_gpu + rank_in_pack)
    pphy2mlog = np.take_along_axis(phy2mlog, pphy2phy, axis=-1).reshape(layers, num_nodes, -1)
    pphy2mlog = (pphy2mlog + (np.arange(num_nodes) * log_per_node)[None, :, None]).reshape(
        layers, -1
    )
    pphy2log = np.take_along_axis(mlog2log, pphy2mlog, axis=-1)
    pphyrank = np.take_along_axis(phyrank, pphy2phy, axis=-1).reshape(layers, -1)
    logcnt = np.take_along_axis(mlogcnt.reshape(layers, -1), log2mlog, axis=-1)
    return pphy2log, pphyrank, logcnt


def rebalance_experts(
    weight: np.ndarray, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DeepSeek's hierarchical plan where groups divide into nodes, else the global one."""
    layers, num_log = weight.shape
    loads = weight.astype(np.float64)
    if num_groups % num_nodes == 0:
        phy2log, rank, logcnt = _hierarchical(loads, num_replicas, num_groups, num_nodes, num_gpus)
    else:
        phy2log, rank, logcnt = _hierarchical(loads, num_replicas, 1, 1, num_gpus)
    width = num_replicas - num_log + 1
    log2phy = np.full((layers, num_log, width), -1, dtype=np.int64)
    rows = np.arange(layers)[:, None]
    log2phy[rows, phy2log, rank] = np.arange(num_replicas)[None, :]
    return phy2log.astype(np.int32), log2phy.astype(np.int32), logcnt.astype(np.int32)

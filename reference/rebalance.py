"""The full EPLB: replicate experts and place the replicas on GPUs.

Hierarchical when the expert groups divide evenly into nodes: pack whole groups onto nodes by their
total load, replicate within each node, then pack each node's replicas (load w/c) onto its GPUs.
Otherwise the global policy: the same with one group and one node. All stages are batched over
layers (and nodes).
"""

from __future__ import annotations

import torch

from reference._validation import (
    as_float64,
    check_divides,
    check_int,
    check_method,
    check_positive,
    check_weight,
)
from reference.fast import fixed_order_sum, place_replicas
from reference.packing import PACKING_METHODS, pack
from reference.replication import MAX_SLOTS, REPLICATION_METHODS, replicate

Rebalance = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def rebalance_experts(
    weight: torch.Tensor,
    num_replicas: int,
    num_groups: int,
    num_nodes: int,
    num_gpus: int,
    *,
    packing: str = "greedy",
    replication: str = "vectorized",
    seed: int = 0,
) -> Rebalance:
    """Place `num_replicas` replicas of `[layers, num_log]` experts on `num_gpus` GPUs.

    Returns `(phy2log [L, R], log2phy [L, num_log, R - num_log + 1], logcnt [L, num_log])`, int64
    on `weight`'s device; physical slot p lives on GPU p // (R / num_gpus), and unused `log2phy`
    entries are -1.
    """
    loads, num_groups, num_nodes = _checked_loads(
        weight, num_replicas, num_groups, num_nodes, num_gpus, packing, replication, seed
    )
    if packing == "fast":
        from reference import fast_kernels  # numba is imported on the first fast call only

        if fast_kernels.use_kernels(loads):
            phy2log, _, logcnt, log2phy = fast_kernels.rebalance(
                loads.detach(), num_replicas, num_groups, num_nodes, num_gpus
            )
            return phy2log, log2phy, logcnt
    phy2log, rank, logcnt = _hierarchical(
        loads, num_replicas, num_groups, num_nodes, num_gpus, packing, replication, seed
    )
    return phy2log, _log2phy(phy2log, rank, loads.shape[1]), logcnt


def rebalance_phy2log(
    weight: torch.Tensor,
    num_replicas: int,
    num_groups: int,
    num_nodes: int,
    num_gpus: int,
    *,
    packing: str = "greedy",
    replication: str = "vectorized",
    seed: int = 0,
) -> torch.Tensor:
    """`rebalance_experts(...)[0]`, the placement alone (what a vLLM policy returns): the
    compiled `fast` path then skips building `log2phy` (a large, mostly -1 table)."""
    loads, groups, nodes = _checked_loads(
        weight, num_replicas, num_groups, num_nodes, num_gpus, packing, replication, seed
    )
    if packing == "fast":
        from reference import fast_kernels

        if fast_kernels.use_kernels(loads):
            return fast_kernels.rebalance_phy2log(
                loads.detach(), num_replicas, groups, nodes, num_gpus
            )
    return _hierarchical(loads, num_replicas, groups, nodes, num_gpus, packing, replication, seed)[
        0
    ]


def _checked_loads(
    weight: torch.Tensor,
    num_replicas: int,
    num_groups: int,
    num_nodes: int,
    num_gpus: int,
    packing: str,
    replication: str,
    seed: int,
) -> tuple[torch.Tensor, int, int]:
    """The validated float64 loads, and the groups and nodes (1 and 1 where the groups do not
    divide into the nodes: the global policy). Bad input raises `ValueError` naming it."""
    weight = check_weight(weight)
    for value, name in (
        (num_replicas, "num_replicas"),
        (num_groups, "num_groups"),
        (num_nodes, "num_nodes"),
        (num_gpus, "num_gpus"),
    ):
        check_positive(value, name)
    check_method(packing, "packing", PACKING_METHODS)
    check_method(replication, "replication", REPLICATION_METHODS)
    num_log = weight.shape[1]
    if num_log == 0:
        raise ValueError("weight must have at least one expert per layer")
    check_divides(num_log, num_groups, "weight: experts per layer must divide into num_groups")
    check_divides(num_gpus, num_nodes, "num_gpus must divide into num_nodes")
    check_divides(num_replicas, num_gpus, "num_replicas must divide into num_gpus")
    if num_replicas < num_log:
        raise ValueError(f"num_replicas ({num_replicas}) must be at least the experts ({num_log})")
    if num_replicas > MAX_SLOTS:
        raise ValueError(
            f"num_replicas ({num_replicas}) is above the supported maximum {MAX_SLOTS}"
        )
    check_int(seed, "seed")
    if num_groups % num_nodes:
        num_groups, num_nodes = 1, 1
    return as_float64(weight), num_groups, num_nodes


def _inverse(permutation: torch.Tensor) -> torch.Tensor:
    """Row-wise inverse of a batch of permutations."""
    positions = torch.arange(permutation.shape[1], device=permutation.device)
    return torch.empty_like(permutation).scatter_(1, permutation, positions.expand_as(permutation))


def _hierarchical(
    loads: torch.Tensor,
    num_replicas: int,
    num_groups: int,
    num_nodes: int,
    num_gpus: int,
    packing: str,
    replication: str,
    seed: int,
) -> Rebalance:
    """The three stages; returns (phy2log, replica rank of each slot, logcnt)."""
    layers, num_log = loads.shape
    group_size = num_log // num_groups
    groups_per_node = num_groups // num_nodes
    experts_per_node = num_log // num_nodes
    slots_per_gpu = num_replicas // num_gpus
    slots_per_node = num_replicas // num_nodes
    device = loads.device

    # Stage 1: whole groups onto nodes. log2ordered[e]: e's position in node-major order. With
    # one group (and so one node) there is nothing to place: that order is the expert order.
    grouped = num_groups > 1
    node_loads = loads
    if grouped:
        if packing == "fast":  # the compiled kernels' order of adds (and every device's)
            group_load = fixed_order_sum(loads.view(-1, group_size)).view(layers, num_groups)
        else:
            group_load = loads.view(layers, num_groups, group_size).sum(-1)
        group_pack, group_rank = pack(group_load, num_nodes, packing, seed)
        group_start = (group_pack * groups_per_node + group_rank) * group_size
        in_group = torch.arange(group_size, device=device)
        log2ordered = (group_start.unsqueeze(-1) + in_group).flatten(1)
        ordered2log = _inverse(log2ordered)
        node_loads = loads.gather(1, ordered2log)

    # Stages 2 and 3: replicate within each node (rows: layer-major, then node), then place each
    # node's replicas (load w/c) on that node's GPUs.
    node_loads = node_loads.view(layers * num_nodes, experts_per_node)
    gpus_per_node = num_gpus // num_nodes
    if packing == "fast":
        slot2local, slot_rank, local_count = place_replicas(
            node_loads, slots_per_node, gpus_per_node, rows_per_layer=num_nodes
        )
    else:
        phy2local, phy_rank, local_count = replicate(node_loads, slots_per_node, replication)
        replica_load = (node_loads / local_count).gather(1, phy2local)
        gpu_pack, gpu_rank = pack(replica_load, gpus_per_node, packing, seed)
        replica_of_slot = _inverse(gpu_pack * slots_per_gpu + gpu_rank)
        slot2local = phy2local.gather(1, replica_of_slot)
        slot_rank = phy_rank.gather(1, replica_of_slot)

    node_offset = torch.arange(num_nodes, device=device).view(1, -1, 1) * experts_per_node
    slot2ordered = (slot2local.view(layers, num_nodes, slots_per_node) + node_offset).flatten(1)
    rank = slot_rank.view(layers, num_replicas)
    logcnt = local_count.view(layers, num_log)
    if not grouped:
        return slot2ordered, rank, logcnt
    return ordered2log.gather(1, slot2ordered), rank, logcnt.gather(1, log2ordered)


def _log2phy(phy2log: torch.Tensor, rank: torch.Tensor, num_log: int) -> torch.Tensor:
    """`log2phy[l, e, r]`: the slot of replica r of expert e; -1 where e has fewer replicas."""
    layers, num_replicas = phy2log.shape
    width = num_replicas - num_log + 1
    log2phy = torch.full((layers, num_log * width), -1, dtype=torch.int64, device=phy2log.device)
    slots = torch.arange(num_replicas, device=phy2log.device).expand(layers, num_replicas)
    log2phy.scatter_(1, phy2log * width + rank, slots)
    return log2phy.view(layers, num_log, width)

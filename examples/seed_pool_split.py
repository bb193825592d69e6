"""A seed program for evolutionary search: hierarchical EPLB with pool-and-split packing.

The kind of program an LLM-driven search (OpenEvolve, ShinkaEvolve, ...) starts from: plain,
self-contained Python over torch tensors with DeepSeek's three functions and signatures, written
for readability rather than speed (a Python loop over layers and items). The search rewrites the
code between the EVOLVE-BLOCK markers; `eplb-verify score` (or `examples/openevolve_evaluator.py`)
scores each rewrite.

- replication: every extra slot goes to the expert with the highest load per replica;
- packing: longest-processing-time greedy into packs of equal size, then "pool and split": pool
  the items of the heaviest and the lightest pack and split them again (greedy, then pairwise
  swaps), while that lowers the heavier of the two;
- rebalance: DeepSeek's hierarchy: expert groups packed onto nodes, then per node replication and
  packing of the replicas onto its GPUs; a global plan when the groups do not divide into nodes.
"""

from __future__ import annotations

import heapq

import torch

# EVOLVE-BLOCK-START

REFINE_STEPS = 32  # pool-and-split moves per packing
SWAP_STEPS = 16  # pairwise swaps per split
SWAP_ITEMS = 32  # larger halves are split greedily only (the swap search is quadratic)


def _greedy(loads: list[float], items: list[int], num_packs: int) -> list[list[int]]:
    """Heaviest item first onto the lightest pack that still has room (ties: lower index)."""
    capacity = len(items) // num_packs
    packs: list[list[int]] = [[] for _ in range(num_packs)]
    totals = [0.0] * num_packs
    for item in sorted(items, key=lambda i: (-loads[i], i)):
        open_packs = [p for p in range(num_packs) if len(packs[p]) < capacity]
        chosen = min(open_packs, key=lambda p: (totals[p], p))
        packs[chosen].append(item)
        totals[chosen] += loads[item]
    return packs


def _split_two(loads: list[float], pooled: list[int]) -> tuple[list[int], list[int]]:
    """Split `pooled` into two equal halves: greedy, then the best swap while one helps."""
    first, second = _greedy(loads, pooled, 2)
    if len(first) > SWAP_ITEMS:
        return first, second
    for _ in range(SWAP_STEPS):
        total_first = sum(loads[i] for i in first)
        total_second = sum(loads[i] for i in second)
        best, best_max = None, max(total_first, total_second)
        for a, item_a in enumerate(first):
            for b, item_b in enumerate(second):
                delta = loads[item_b] - loads[item_a]
                new_max = max(total_first + delta, total_second - delta)
                if new_max < best_max:
                    best, best_max = (a, b), new_max
        if best is None:
            break
        a, b = best
        first[a], second[b] = second[b], first[a]
    return first, second


def pack_layer(loads: list[float], num_packs: int) -> list[list[int]]:
    """Greedy packing, then pool-and-split moves between the heaviest and lightest pack."""
    packs = _greedy(loads, list(range(len(loads))), num_packs)
    for _ in range(REFINE_STEPS):
        totals = [sum(loads[i] for i in pack) for pack in packs]
        heavy = max(range(num_packs), key=lambda p: (totals[p], -p))
        light = min(range(num_packs), key=lambda p: (totals[p], p))
        if heavy == light:
            break
        pooled = packs[heavy] + packs[light]
        first, second = _split_two(loads, pooled)
        new_max = max(sum(loads[i] for i in first), sum(loads[i] for i in second))
        if new_max >= totals[heavy]:
            break
        packs[heavy], packs[light] = first, second
    return packs


def replicate_layer(loads: list[float], num_phy: int) -> list[int]:
    """Replica counts: each extra slot to the expert with the highest load per replica."""
    counts = [1] * len(loads)
    heap = [(-load, expert) for expert, load in enumerate(loads)]
    heapq.heapify(heap)
    for _ in range(num_phy - len(loads)):
        _, expert = heapq.heappop(heap)
        counts[expert] += 1
        heapq.heappush(heap, (-loads[expert] / counts[expert], expert))
    return counts


def plan_layer(
    loads: list[float], num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> list[int]:
    """phy2log of one layer: groups onto nodes, then replicas onto each node's GPUs."""
    experts = len(loads)
    group_size = experts // num_groups
    group_loads = [sum(loads[g * group_size : (g + 1) * group_size]) for g in range(num_groups)]
    plan: list[int] = []
    for node_groups in pack_layer(group_loads, num_nodes):
        members = [g * group_size + k for g in sorted(node_groups) for k in range(group_size)]
        counts = replicate_layer([loads[e] for e in members], num_replicas // num_nodes)
        replicas = [e for e, count in zip(members, counts, strict=True) for _ in range(count)]
        per_replica = [
            loads[e] / count for e, count in zip(members, counts, strict=True) for _ in range(count)
        ]
        for gpu in pack_layer(per_replica, num_gpus // num_nodes):
            plan += [replicas[i] for i in sorted(gpu)]
    return plan


# EVOLVE-BLOCK-END


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`(pack_index, rank_in_pack)`, both `[layers, items]` int64 on `weight`'s device."""
    rows = weight.detach().to(torch.float64).cpu().tolist()
    pack_index = torch.zeros(weight.shape, dtype=torch.int64)
    rank_in_pack = torch.zeros(weight.shape, dtype=torch.int64)
    for layer, row in enumerate(rows):
        for pack, items in enumerate(pack_layer(row, num_packs)):
            for rank, item in enumerate(sorted(items)):
                pack_index[layer, item] = pack
                rank_in_pack[layer, item] = rank
    return pack_index.to(weight.device), rank_in_pack.to(weight.device)


def replicate_experts(
    weight: torch.Tensor, num_phy: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`(phy2log, rank, logcnt)`: slot e holds expert e, the extra slots follow in order."""
    rows = weight.detach().to(torch.float64).cpu().tolist()
    phy2log, ranks, logcnts = [], [], []
    for row in rows:
        counts = replicate_layer(row, num_phy)
        slots = list(range(len(row)))
        slot_ranks = [0] * len(row)
        for expert, count in enumerate(counts):
            slots += [expert] * (count - 1)
            slot_ranks += list(range(1, count))
        phy2log.append(slots)
        ranks.append(slot_ranks)
        logcnts.append(counts)
    device = weight.device
    as_tensor = lambda rows_: torch.tensor(rows_, dtype=torch.int64, device=device)  # noqa: E731
    return as_tensor(phy2log), as_tensor(ranks), as_tensor(logcnts)


def rebalance_experts(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`(phy2log, log2phy, logcnt)`; hierarchical when the groups divide into the nodes."""
    layers, experts = weight.shape
    if num_groups % num_nodes != 0:
        num_groups, num_nodes = 1, 1
    rows = weight.detach().to(torch.float64).cpu().tolist()
    plans = [plan_layer(row, num_replicas, num_groups, num_nodes, num_gpus) for row in rows]
    logcnt = [[0] * experts for _ in range(layers)]
    slots: list[list[list[int]]] = [[[] for _ in range(experts)] for _ in range(layers)]
    for layer, plan in enumerate(plans):
        for slot, expert in enumerate(plan):
            logcnt[layer][expert] += 1
            slots[layer][expert].append(slot)
    width = max(max(row) for row in logcnt)
    log2phy = [[listed + [-1] * (width - len(listed)) for listed in layer] for layer in slots]
    device = weight.device
    return (
        torch.tensor(plans, dtype=torch.int64, device=device),
        torch.tensor(log2phy, dtype=torch.int64, device=device),
        torch.tensor(logcnt, dtype=torch.int64, device=device),
    )

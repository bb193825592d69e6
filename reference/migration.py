"""A baseline that plans with a move budget: greedy from scratch, then undo copies until within it.

The moves of a new placement are the replica weight copies it needs from the old one: per GPU, the
replicas of each expert it gains (order inside a GPU is free). The plan is made in three steps:

1. plan from scratch (`rebalance_experts`, greedy packing);
2. rename the new plan's nodes and GPUs greedily so that they keep as much of the old placement as
   they can (largest overlap first), which changes no load;
3. while the plan needs more than `max_moves` copies, undo one: on a GPU that gained a replica of e
   where it held f before, put f back. Each undo saves exactly one copy; the one chosen leaves the
   smallest largest GPU load (the copy of least balance gain). An undo never removes an expert's
   last replica and, under the hierarchical contract, only brings back an expert whose group the
   new plan put on that node. When no undo is possible the old placement itself is returned.

It exists as a baseline for the migration-aware oracle's front, not as a good balancer.
"""

from __future__ import annotations

from collections import Counter

import torch

from reference.rebalance import rebalance_experts


def rebalance_with_budget(
    weight: torch.Tensor,
    num_replicas: int,
    num_groups: int,
    num_nodes: int,
    num_gpus: int,
    old_phy2log: torch.Tensor,
    max_moves: int | list[int],
) -> torch.Tensor:
    """`phy2log [layers, num_replicas]` (int64) within `max_moves` copies of `old_phy2log` per layer
    (one budget for every layer, or a list with one per layer)."""
    phy2log, _, _ = rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus)
    layers = weight.shape[0]
    budgets = max_moves if isinstance(max_moves, list) else [max_moves] * layers
    if len(budgets) != layers or any(b < 0 for b in budgets):
        raise ValueError(f"max_moves must be >= 0, one for every layer or one per layer: {budgets}")
    if tuple(old_phy2log.shape) != tuple(phy2log.shape):
        raise ValueError(f"old_phy2log must have shape {tuple(phy2log.shape)}")
    hierarchical = num_groups % num_nodes == 0 and num_nodes > 1
    shape = _Shape(num_gpus, num_nodes if hierarchical else 1, num_groups if hierarchical else 1)
    rows = []
    for layer in range(layers):
        loads = [float(w) for w in weight[layer].tolist()]
        old = [int(e) for e in old_phy2log[layer].tolist()]
        new = _rename_nearest(old, [int(e) for e in phy2log[layer].tolist()], shape)
        rows.append(_undo_to_budget(loads, old, new, shape, budgets[layer]))
    return torch.tensor(rows, dtype=torch.int64, device=weight.device)


class _Shape:
    def __init__(self, gpus: int, nodes: int, groups: int) -> None:
        self.gpus, self.nodes, self.groups = gpus, nodes, groups
        self.gpus_per_node = gpus // nodes


def _gpu_counts(row: list[int], gpus: int) -> list[Counter[int]]:
    slots = len(row) // gpus
    return [Counter(row[g * slots : (g + 1) * slots]) for g in range(gpus)]


def _overlap(a: Counter[int], b: Counter[int]) -> int:
    return sum((a & b).values())


def _rename_nearest(old: list[int], new: list[int], shape: _Shape) -> list[int]:
    """`new` with nodes, then GPUs within nodes, renamed greedily to overlap `old` the most."""
    before, after = _gpu_counts(old, shape.gpus), _gpu_counts(new, shape.gpus)
    per = shape.gpus_per_node

    def node_counts(counts: list[Counter[int]], node: int) -> Counter[int]:
        return sum(counts[node * per : (node + 1) * per], Counter())

    node_of = _greedy_match(
        [[_overlap(node_counts(before, i), node_counts(after, j)) for j in range(shape.nodes)]
         for i in range(shape.nodes)]
    )  # fmt: skip
    order: list[int] = []
    for node in range(shape.nodes):
        olds = range(node * per, (node + 1) * per)
        news = range(node_of[node] * per, (node_of[node] + 1) * per)
        match = _greedy_match([[_overlap(before[i], after[j]) for j in news] for i in olds])
        order += [news[j] for j in match]
    slots = len(new) // shape.gpus
    return [e for j in order for e in sorted(new[j * slots : (j + 1) * slots])]


def _greedy_match(overlap: list[list[int]]) -> list[int]:
    """match[i]: the column given to row i, largest overlap first (ties by index)."""
    pairs = sorted(((-value, i, j) for i, row in enumerate(overlap) for j, value in enumerate(row)))
    match: dict[int, int] = {}
    taken: set[int] = set()
    for _, i, j in pairs:
        if i not in match and j not in taken:
            match[i] = j
            taken.add(j)
    return [match[i] for i in range(len(overlap))]


def _undo_to_budget(
    loads: list[float], old: list[int], new: list[int], shape: _Shape, budget: int
) -> list[int]:
    """Undo copies of least balance gain until `new` needs at most `budget` from `old`."""
    before, plan = _gpu_counts(old, shape.gpus), _gpu_counts(new, shape.gpus)
    num_log = len(loads)
    per_group = num_log // shape.groups
    group_node = {e // per_group: g // shape.gpus_per_node for g, c in enumerate(plan) for e in c}
    counts = [sum(c[e] for c in plan) for e in range(num_log)]

    def copies() -> int:
        return sum(sum((after - was).values()) for after, was in zip(plan, before, strict=True))

    while copies() > budget:
        best: tuple[float, int, int, int] | None = None
        for g, (after, was) in enumerate(zip(plan, before, strict=True)):
            node = g // shape.gpus_per_node
            for e in sorted((after - was).keys()):
                for f in sorted((was - after).keys()):
                    if counts[e] == 1 or group_node.get(f // per_group) != node:
                        continue
                    peak = _peak_after(loads, plan, counts, g, e, f)
                    if best is None or (peak, g, e, f) < best:
                        best = (peak, g, e, f)
        if best is None:
            return list(old)
        _, g, e, f = best
        plan[g][e] -= 1
        plan[g][f] += 1
        counts[e] -= 1
        counts[f] += 1
    return [e for c in plan for e in sorted(c.elements())]


def _peak_after(
    loads: list[float], plan: list[Counter[int]], counts: list[int], gpu: int, e: int, f: int
) -> float:
    """The largest GPU load once GPU `gpu` holds f again instead of one replica of e."""
    changed = list(counts)
    changed[e] -= 1
    changed[f] += 1
    peak = 0.0
    for g, held in enumerate(plan):
        extra = {e: -1, f: 1} if g == gpu else {}
        load = sum(loads[x] * (n + extra.get(x, 0)) / changed[x] for x, n in held.items())
        load += loads[f] / changed[f] if g == gpu and f not in held else 0.0
        peak = max(peak, load)
    return peak

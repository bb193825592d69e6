"""Valid but naive: greedy replica counts, replicas laid out in expert order (no balancing)."""

from __future__ import annotations

import torch


def _counts(row: list[float], slots: int) -> list[int]:
    counts = [1] * len(row)
    for _ in range(slots - len(row)):
        chosen = max(range(len(row)), key=lambda e: (row[e] / counts[e], -e))
        counts[chosen] += 1
    return counts


def _layer(row: list[float], replicas: int, groups: int, nodes: int) -> list[int]:
    """Group g goes to node g // (groups / nodes); each node's replicas in expert order."""
    size = len(row) // groups
    per_node = groups // nodes
    plan: list[int] = []
    for node in range(nodes):
        members = list(range(node * per_node * size, (node + 1) * per_node * size))
        counts = _counts([row[e] for e in members], replicas // nodes)
        plan += [e for e, count in zip(members, counts, strict=True) for _ in range(count)]
    return plan


def rebalance_experts(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    experts = weight.shape[1]
    if num_groups % num_nodes != 0:
        num_groups, num_nodes = 1, 1
    rows = weight.detach().to(torch.float64).tolist()
    plans = [_layer(row, num_replicas, num_groups, num_nodes) for row in rows]
    logcnt = [[plan.count(e) for e in range(experts)] for plan in plans]
    width = max(max(row) for row in logcnt)
    log2phy = [
        [
            [s for s, x in enumerate(plan) if x == e] + [-1] * (width - counts[e])
            for e in range(experts)
        ]
        for plan, counts in zip(plans, logcnt, strict=True)
    ]
    as_tensor = lambda rows_: torch.tensor(rows_, dtype=torch.int64, device=weight.device)  # noqa: E731
    return as_tensor(plans), as_tensor(log2phy), as_tensor(logcnt)

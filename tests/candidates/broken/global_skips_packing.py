"""Bug: the global path never packs replicas onto GPUs. It keeps one replica of every expert in
logical order and appends the redundant replicas in logical order too, so several copies of the
hottest expert land on one GPU. Every invariant holds; the max GPU load is far above greedy's.
The hierarchical path over several nodes is the reference's (on one node the bad global path is
valid too).
"""

import torch

from reference import rebalance_experts as reference_rebalance
from reference import replicate_experts as _replicate


def rebalance_experts(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if num_groups % num_nodes == 0 and num_nodes > 1:
        return reference_rebalance(weight, num_replicas, num_groups, num_nodes, num_gpus)
    layers, num_log = weight.shape
    _, _, logcnt = _replicate(weight, num_replicas)
    width = num_replicas - num_log + 1
    phy2log = torch.empty(layers, num_replicas, dtype=torch.int64, device=weight.device)
    log2phy = torch.full((layers, num_log, width), -1, dtype=torch.int64, device=weight.device)
    for layer in range(layers):
        counts = logcnt[layer].tolist()
        order = list(range(num_log)) + [e for e in range(num_log) for _ in range(counts[e] - 1)]
        seen = [0] * num_log
        for slot, expert in enumerate(order):
            phy2log[layer, slot] = expert
            log2phy[layer, expert, seen[expert]] = slot
            seen[expert] += 1
    return phy2log, log2phy, logcnt.to(torch.int64)

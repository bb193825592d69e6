"""DeepSeek's published EPLB example: the one copy the edge cases, the corpus and the tests use.

The example in the README of DeepSeek's EPLB repository: two MoE layers of 12 logical experts,
balanced onto 16 physical replicas in 4 expert groups, 2 nodes and 8 GPUs, with the placement
DeepSeek's `rebalance_experts` prints for it. Kept as plain data (no torch), so anything may import
it; `reference/` does not (it knows nothing of the verifier), its tests do.
"""

from __future__ import annotations

from verifier.model.instances import Number, RebalanceInstance

#: The expert loads of the example: 2 layers x 12 logical experts.
DEEPSEEK_WEIGHTS: list[list[Number]] = [
    [90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86],
    [20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27],
]

#: The cluster of the example: (num_replicas, num_groups, num_nodes, num_gpus).
DEEPSEEK_CLUSTER = (16, 4, 2, 8)

#: DeepSeek's published output for the example: physical slot -> logical expert, per layer.
DEEPSEEK_PHY2LOG: list[list[int]] = [
    [5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1],
    [7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1],
]

#: DeepSeek's published output for the example: replicas of each logical expert, per layer.
DEEPSEEK_LOGCNT: list[list[int]] = [
    [1, 2, 1, 1, 2, 2, 1, 1, 1, 1, 2, 1],
    [1, 2, 1, 1, 1, 2, 2, 1, 2, 1, 1, 1],
]


def deepseek_example(num_nodes: int = DEEPSEEK_CLUSTER[2]) -> RebalanceInstance:
    """The published example as a rebalance instance (`num_nodes=1`: its global-policy twin)."""
    num_replicas, num_groups, _, num_gpus = DEEPSEEK_CLUSTER
    weights = [list(row) for row in DEEPSEEK_WEIGHTS]
    return RebalanceInstance(weights, num_replicas, num_groups, num_nodes, num_gpus)

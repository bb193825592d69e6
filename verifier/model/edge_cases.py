"""The fixed edge-case suite: DeepSeek's published example and the shapes that break EPLB code.

`check` and `fuzz` run it before any generated case; `verifier.model.contract` names each function's
suite. DeepSeek's published example comes from `verifier.model.examples`, its one copy.
"""

from __future__ import annotations

import random

from verifier.model.examples import DEEPSEEK_WEIGHTS
from verifier.model.instances import (
    Instance,
    Number,
    PackingInstance,
    RebalanceInstance,
    ReplicationInstance,
)

EdgeCases = list[tuple[str, Instance]]


def _zipf_layers(layers: int, n: int, seed: int) -> list[list[Number]]:
    """Deterministic skewed loads (a few hot experts), as in real MoE traffic."""
    rng = random.Random(seed)
    rows: list[list[Number]] = []
    for _ in range(layers):
        ranks = rng.sample(range(n), n)
        rows.append([int(10_000 / (rank + 1) ** 1.2) + rng.randrange(8) for rank in ranks])
    return rows


def _float_loads() -> list[list[Number]]:
    return [[w / 8 for w in row] for row in DEEPSEEK_WEIGHTS]


def packing_edge_cases() -> EdgeCases:
    ds = DEEPSEEK_WEIGHTS
    zero_row: list[Number] = [0] * 12
    return [
        ("deepseek example", PackingInstance(ds, 4)),
        ("all-zero layer", PackingInstance([zero_row, ds[0]], 4)),
        ("all-equal layer", PackingInstance([[5] * 12], 3)),
        ("one item per pack", PackingInstance(ds, 12)),
        ("a single pack", PackingInstance(ds, 1)),
        ("float loads", PackingInstance(_float_loads(), 4)),
        ("many layers", PackingInstance(_zipf_layers(64, 32, seed=1), 8)),
    ]


def replication_edge_cases() -> EdgeCases:
    ds = DEEPSEEK_WEIGHTS
    zero_row: list[Number] = [0] * 12
    return [
        ("deepseek example", ReplicationInstance(ds, 16)),
        ("all-zero layer", ReplicationInstance([zero_row, ds[0]], 16)),
        ("all-equal layer", ReplicationInstance([[7] * 12], 20)),
        ("no redundant slots", ReplicationInstance(ds, 12)),
        ("a single expert", ReplicationInstance([[5], [0]], 4)),
        ("float loads", ReplicationInstance(_float_loads(), 16)),
        ("many layers", ReplicationInstance(_zipf_layers(64, 32, seed=2), 48)),
    ]


def rebalance_edge_cases() -> EdgeCases:
    ds = DEEPSEEK_WEIGHTS
    zero_row: list[Number] = [0] * 12
    return [
        ("deepseek example", RebalanceInstance(ds, 16, 4, 2, 8)),
        ("all-zero layer", RebalanceInstance([zero_row, ds[0]], 16, 4, 2, 8)),
        ("all-equal layer", RebalanceInstance([[10] * 12], 16, 4, 2, 8)),
        ("no redundant slots", RebalanceInstance(ds, 12, 4, 2, 4)),
        ("one replica per GPU", RebalanceInstance(ds, 12, 4, 2, 12)),
        ("global fallback", RebalanceInstance(ds, 16, 3, 2, 8)),
        ("float loads", RebalanceInstance(_float_loads(), 16, 4, 2, 8)),
        ("many layers", RebalanceInstance(_zipf_layers(64, 32, seed=3), 48, 8, 4, 16)),
    ]

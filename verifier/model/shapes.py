"""Production MoE shapes and the synthetic token loads that `bench` and the corpus generator use.

One home for both: the shapes (DeepSeek-V3, Qwen-MoE-like, Mixtral-like and a tiny smoke-test
shape: layers, experts and cluster) and the load model (a few hot experts per layer over a
log-normal tail, integer token counts with sampling noise; or one layer drifting over time
windows). Randomness uses Python's `random.Random` seeded with a string, whose stream is stable
across Python versions and platforms (unlike numpy's distribution methods), so a seed names the
same loads everywhere.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from verifier.model.instances import (
    Instance,
    Number,
    PackingInstance,
    RebalanceInstance,
    ReplicationInstance,
    Weights,
)


def rng_for(name: str, seed: int) -> random.Random:
    """A stream determined by a name and a seed (string seeds hash with SHA-512)."""
    return random.Random(f"eplb-corpus/{name}/{seed}")


# --------------------------------------------------------------------------- the load model


def popularity(
    rng: random.Random, experts: int, *, sigma: float, hot: int, heat: float
) -> list[float]:
    """Log-popularity of each expert: a log-normal tail plus `hot` experts boosted by ~`heat`x."""
    logs = [rng.gauss(0.0, sigma) for _ in range(experts)]
    for expert in rng.sample(range(experts), min(hot, experts)):
        logs[expert] += math.log(heat * rng.uniform(0.5, 1.5))
    return logs


def token_counts(rng: random.Random, logs: list[float], tokens: int) -> list[int]:
    """Integer loads: expected tokens per expert plus binomial-like sampling noise."""
    top = max(logs)
    shares = [math.exp(value - top) for value in logs]
    total = sum(shares)
    counts = []
    for share in shares:
        p = share / total
        mean = tokens * p
        noise = rng.gauss(0.0, math.sqrt(mean * (1.0 - p))) if mean > 0 else 0.0
        counts.append(max(0, round(mean + noise)))
    return counts


def moe_layers(
    rng: random.Random,
    experts: int,
    layers: int,
    tokens: int,
    *,
    sigma: float = 1.0,
    hot: int = 4,
    heat: float = 8.0,
) -> Weights:
    """Independent MoE layers: each layer has its own hot experts and tail."""
    return [
        list(token_counts(rng, popularity(rng, experts, sigma=sigma, hot=hot, heat=heat), tokens))
        for _ in range(layers)
    ]


def drift_windows(
    rng: random.Random,
    experts: int,
    windows: int,
    tokens: int,
    *,
    sigma: float = 1.0,
    hot: int = 4,
    heat: float = 8.0,
    step: float = 0.15,
    turnover: float = 0.2,
) -> Weights:
    """One layer over consecutive windows: a mean-reverting walk of log-popularity.

    Each window every expert's log-popularity moves by N(0, step) and is pulled 10% back to its
    long-run level; with probability `turnover` one hot expert cools and a cold one heats up.
    """
    base = popularity(rng, experts, sigma=sigma, hot=hot, heat=heat)
    current = list(base)
    rows: Weights = []
    for _ in range(windows):
        rows.append(list(token_counts(rng, current, tokens)))
        current = [
            value + 0.1 * (level - value) + rng.gauss(0.0, step)
            for value, level in zip(current, base, strict=True)
        ]
        if rng.random() < turnover:
            hottest = max(range(experts), key=lambda expert: base[expert])
            coldest = min(range(experts), key=lambda expert: base[expert])
            base[hottest], base[coldest] = base[coldest], base[hottest]
    return rows


def replica_loads(row: Sequence[Number], slots: int) -> list[Number]:
    """Per-replica loads (rounded) after giving each extra slot to the highest load per replica.

    Written here from the definition (not the reference) so a packing input built from it does not
    depend on the code under test. Ties go to the lower expert.
    """
    counts = [1] * len(row)
    for _ in range(slots - len(row)):
        chosen = max(range(len(row)), key=lambda e: (Fraction(row[e]) / counts[e], -e))
        counts[chosen] += 1
    return [round(row[e] / counts[e]) for e in range(len(row)) for _ in range(counts[e])]


# --------------------------------------------------------------------------- the shapes


@dataclass(frozen=True)
class ModelShape:
    """A production shape: one model's MoE layers, its token scale and its cluster."""

    name: str
    description: str
    layers: int
    experts: int
    tokens: int  # tokens per layer and batch (sets the load scale)
    num_replicas: int
    num_groups: int
    num_nodes: int
    num_gpus: int

    def load_params(self) -> dict[str, int]:
        """The load model's parameters, as the corpus generator's MoE builders take them."""
        return {"experts": self.experts, "model_layers": self.layers, "tokens": self.tokens}

    def cluster(self) -> dict[str, int]:
        """The rebalance sizes: replicas, groups, nodes and GPUs."""
        return {
            "num_replicas": self.num_replicas,
            "num_groups": self.num_groups,
            "num_nodes": self.num_nodes,
            "num_gpus": self.num_gpus,
        }

    def loads(self, seed: int) -> Weights:
        """Seeded synthetic MoE token counts: a few hot experts per layer over a heavy tail."""
        return moe_layers(
            rng_for(f"bench/{self.name}", seed), self.experts, self.layers, self.tokens
        )

    def instances(self, seed: int) -> dict[str, Instance]:
        """The instance each EPLB function is benchmarked on, by function name.

        rebalance: the whole shape; replication: every expert into `num_replicas` slots (the
        global stage); packing: the replica loads of that replication onto the GPUs.
        """
        weights = self.loads(seed)
        return {
            "rebalance_experts": RebalanceInstance(
                weights, self.num_replicas, self.num_groups, self.num_nodes, self.num_gpus
            ),
            "replicate_experts": ReplicationInstance(weights, self.num_replicas),
            "balanced_packing": PackingInstance(
                [replica_loads(row, self.num_replicas) for row in weights], self.num_gpus
            ),
        }


DEEPSEEK_V3 = ModelShape(
    "deepseek-v3",
    "DeepSeek-V3: 58 MoE layers x 256 experts -> 288 replicas, 8 groups, 4 nodes, 32 GPUs",
    layers=58,
    experts=256,
    tokens=65536,
    num_replicas=288,
    num_groups=8,
    num_nodes=4,
    num_gpus=32,
)
QWEN_MOE = ModelShape(
    "qwen-moe",
    "Qwen-MoE-like: 48 layers x 128 experts -> 144 replicas, 8 groups, 1 node, 8 GPUs",
    layers=48,
    experts=128,
    tokens=32768,
    num_replicas=144,
    num_groups=8,
    num_nodes=1,
    num_gpus=8,
)
MIXTRAL = ModelShape(
    "mixtral",
    "Mixtral-like: 32 layers x 8 experts -> 16 replicas, 1 group, 1 node, 8 GPUs",
    layers=32,
    experts=8,
    tokens=8192,
    num_replicas=16,
    num_groups=1,
    num_nodes=1,
    num_gpus=8,
)
TINY = ModelShape(
    "tiny",
    "a tiny smoke-test shape: 4 layers x 16 experts -> 24 replicas, 4 groups, 2 nodes, 4 GPUs",
    layers=4,
    experts=16,
    tokens=4096,
    num_replicas=24,
    num_groups=4,
    num_nodes=2,
    num_gpus=4,
)

SHAPES: dict[str, ModelShape] = {
    shape.name: shape for shape in (DEEPSEEK_V3, QWEN_MOE, MIXTRAL, TINY)
}
PRODUCTION_SHAPES = (DEEPSEEK_V3.name, QWEN_MOE.name, MIXTRAL.name)

"""The deterministic corpus generator: every shipped instance, rebuilt from (builder, seed, params).

Every instance comes from a *builder* (a function of a seeded `random.Random` and keyword
parameters). The builder's name, seed and parameters go into the record's provenance, so
`build(provenance)` rebuilds the exact instance (the tests check that for the shipped corpus).
The seeded streams, the MoE load model and the production shapes come from `verifier.model.shapes`
(shared with `eplb-verify bench`); DeepSeek's published example from `verifier.model.examples`.

Families (the `family` field of a record's provenance):

- deepseek-example: the example from DeepSeek's EPLB README (2 layers x 12 experts -> 16 replicas,
  4 groups, 2 nodes, 8 GPUs), and its global-policy twin (1 node).
- fixed-small: the small fixed cases EPLB projects test: equal loads, one extreme expert, a single
  GPU, groups that do not divide nodes, no redundancy, a single expert, real-valued loads.
- ties-zeros: ties, zeros and all-zero layers, in every problem.
- worst-case-2g: loads (1, 0, ..., 0) with num_phy = num_log + G on G GPUs; the end-to-end
  optimum is 1/G, while greedy replication then any packing reaches 2/(G+1) (ratio 2G/(G+1));
  the closed form is in provenance.extra.closed_form and replay checks the oracle against it.
- proven-small: small random skewed instances of every problem that the oracle proves optimal;
  these carry the exact-gap baselines.
- phase-transition: packing with about n bits per weight for n items, the hardest regime of
  number partitioning.
- moe-deepseek-v3 / moe-qwen / moe-mixtral: synthetic MoE token loads at real shapes (DeepSeek-V3
  58 x 256 -> 288 replicas, 8 groups, 4 nodes, 32 GPUs; Qwen-MoE-like 48 x 128 -> 8 GPUs;
  Mixtral-like 32 x 8), a few hot experts per layer over a log-normal heavy tail. Large shapes
  ship a subset of the model's layers (provenance.extra.params.layers) to keep replay fast; the
  stage problems at the same scale (replication 256 -> 288, per-node packing 72 -> 8 GPUs) too.
- migration-budget: small rebalance instances with an old placement (`old_phy2log`) and a move
  budget (`max_moves`), flat and hierarchical, whose OPT(K) the migration-aware oracle proves;
  replay re-proves them, so a regression of that oracle fails `corpus verify` (they carry no
  variant baselines: the variants plan from scratch).
- drift-trace: ONE MoE layer observed over consecutive time windows: row t of `weights` is the
  load of window t (not a different layer). Popularity follows a mean-reverting random walk with
  occasional hot-expert turnover; provenance.extra.rows is "time-windows". This is what the
  report's generalisation-over-time measure reads: plan on row t, score the plan on row t + 1.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from verifier.corpus.schema import Provenance
from verifier.model.examples import deepseek_example
from verifier.model.instances import (
    Instance,
    Number,
    PackingInstance,
    RebalanceInstance,
    ReplicationInstance,
    Weights,
    instance_to_dict,
)
from verifier.model.shapes import (
    DEEPSEEK_V3,
    MIXTRAL,
    QWEN_MOE,
    drift_windows,
    moe_layers,
    replica_loads,
    rng_for,
)

GENERATOR = "verifier.corpus.generate v1"

Builder = Callable[..., Instance]
BUILDERS: dict[str, Builder] = {}


def builder(function: Builder) -> Builder:
    """Register a builder under its function name (the name recorded in provenance)."""
    BUILDERS[function.__name__] = function
    return function


# --------------------------------------------------------------------------- corpus-only loads


def skewed_ints(rng: random.Random, n: int, maximum: int) -> list[Number]:
    """Small skewed integer loads in [0, maximum]: a few large values, many small ones."""
    return [min(maximum, int(maximum * rng.random() ** 3)) for _ in range(n)]


def uniform_ints(rng: random.Random, n: int, bits: int) -> list[Number]:
    """Uniform integer loads in [1, 2^bits - 1]."""
    return [rng.randint(1, 2**bits - 1) for _ in range(n)]


def _select(rows: Weights, layers: list[int] | None) -> Weights:
    return rows if layers is None else [rows[index] for index in layers]


# --------------------------------------------------------------------------- builders


@builder
def literal(_rng: random.Random, *, instance: dict[str, Any]) -> Instance:
    """A fixed instance given in full (the parameters are the instance)."""
    from verifier.model.instances import instance_from_dict

    return instance_from_dict(instance)


@builder
def moe_rebalance(
    rng: random.Random,
    *,
    experts: int,
    model_layers: int,
    tokens: int,
    num_replicas: int,
    num_groups: int,
    num_nodes: int,
    num_gpus: int,
    layers: list[int] | None = None,
    sigma: float = 1.0,
    hot: int = 4,
    heat: float = 8.0,
) -> Instance:
    """Synthetic MoE loads of a whole model (optionally a subset of its layers) for rebalance."""
    rows = moe_layers(rng, experts, model_layers, tokens, sigma=sigma, hot=hot, heat=heat)
    return RebalanceInstance(_select(rows, layers), num_replicas, num_groups, num_nodes, num_gpus)


@builder
def moe_replication(
    rng: random.Random,
    *,
    experts: int,
    model_layers: int,
    tokens: int,
    num_phy: int,
    layers: list[int] | None = None,
) -> Instance:
    """Synthetic MoE loads for the replication stage."""
    return ReplicationInstance(
        _select(moe_layers(rng, experts, model_layers, tokens), layers), num_phy
    )


@builder
def moe_node_packing(
    rng: random.Random, *, experts: int, tokens: int, replicas: int, num_packs: int, layers: int
) -> Instance:
    """Per-node packing at production scale: `replicas` replica loads (experts split over their
    copies, most-loaded first) onto `num_packs` GPUs, integer-rounded."""
    rows = [replica_loads(row, replicas) for row in moe_layers(rng, experts, layers, tokens)]
    return PackingInstance(rows, num_packs)


@builder
def drift_rebalance(
    rng: random.Random,
    *,
    experts: int,
    windows: int,
    tokens: int,
    num_replicas: int,
    num_groups: int,
    num_nodes: int,
    num_gpus: int,
    step: float = 0.15,
    turnover: float = 0.2,
) -> Instance:
    """One MoE layer over `windows` consecutive time windows (row t = window t)."""
    rows = drift_windows(rng, experts, windows, tokens, step=step, turnover=turnover)
    return RebalanceInstance(rows, num_replicas, num_groups, num_nodes, num_gpus)


@builder
def random_packing(
    rng: random.Random, *, n: int, num_packs: int, layers: int, maximum: int
) -> Instance:
    """Small skewed packing instances."""
    return PackingInstance([skewed_ints(rng, n, maximum) for _ in range(layers)], num_packs)


@builder
def random_replication(
    rng: random.Random, *, n: int, num_phy: int, layers: int, maximum: int
) -> Instance:
    """Small skewed replication instances."""
    return ReplicationInstance([skewed_ints(rng, n, maximum) for _ in range(layers)], num_phy)


@builder
def random_rebalance(
    rng: random.Random,
    *,
    n: int,
    num_replicas: int,
    num_groups: int,
    num_nodes: int,
    num_gpus: int,
    layers: int,
    maximum: int,
) -> Instance:
    """Small skewed rebalance instances (end-to-end oracle territory)."""
    rows = [skewed_ints(rng, n, maximum) for _ in range(layers)]
    return RebalanceInstance(rows, num_replicas, num_groups, num_nodes, num_gpus)


@builder
def phase_transition_packing(
    rng: random.Random, *, n: int, num_packs: int, bits: int, layers: int
) -> Instance:
    """Uniform weights of `bits` bits: with bits close to n, partitioning is hardest."""
    return PackingInstance([uniform_ints(rng, n, bits) for _ in range(layers)], num_packs)


@builder
def one_hot_rebalance(_rng: random.Random, *, num_log: int, num_gpus: int) -> Instance:
    """Loads (1, 0, ..., 0), num_replicas = num_log + num_gpus, one group, one node."""
    row: list[Number] = [1, *([0] * (num_log - 1))]
    weights: Weights = [row]
    return RebalanceInstance(weights, num_log + num_gpus, 1, 1, num_gpus)


# --------------------------------------------------------------------------- the corpus plan


@dataclass(frozen=True)
class Spec:
    """One instance of the shipped corpus: which builder, seed and parameters, and its family."""

    family: str
    builder: str
    seed: int
    params: dict[str, Any]
    description: str
    extra: dict[str, Any] = field(default_factory=dict)

    def provenance(self, date: str = "") -> Provenance:
        return Provenance(
            family=self.family,
            source="generator",
            date=date,
            description=self.description,
            generator=GENERATOR,
            seed=self.seed,
            extra={"builder": self.builder, "params": self.params, **self.extra},
        )

    def build(self) -> Instance:
        return BUILDERS[self.builder](rng_for(self.builder, self.seed), **self.params)


def build(provenance: Provenance) -> Instance:
    """Rebuild the instance a generator provenance describes (KeyError if it is not one)."""
    extra = provenance.extra
    name = extra["builder"]
    return BUILDERS[name](rng_for(name, provenance.seed or 0), **extra["params"])


def _literal(family: str, description: str, instance: dict[str, Any], **extra: Any) -> Spec:
    return Spec(family, "literal", 0, {"instance": instance}, description, dict(extra))


def _rebalance(weights: Weights, r: int, g: int, n: int, k: int) -> dict[str, Any]:
    return {
        "problem": "rebalance",
        "weights": weights,
        "num_replicas": r,
        "num_groups": g,
        "num_nodes": n,
        "num_gpus": k,
    }


def deepseek_example_specs() -> list[Spec]:
    return [
        _literal(
            "deepseek-example",
            "DeepSeek EPLB README example: hierarchical (4 groups onto 2 nodes, 8 GPUs)",
            instance_to_dict(deepseek_example()),
        ),
        _literal(
            "deepseek-example",
            "DeepSeek EPLB README example under the global policy (1 node)",
            instance_to_dict(deepseek_example(num_nodes=1)),
        ),
    ]


def fixed_small_specs() -> list[Spec]:
    equal: Weights = [[10] * 8]
    extreme: Weights = [[1000, 1, 2, 3, 4, 5, 6, 7]]
    mixed: Weights = [[5, 1, 9, 3, 7, 2, 8, 4, 6, 1, 3, 5]]
    cases = [
        ("equal loads, hierarchical", _rebalance(equal, 12, 4, 2, 4)),
        ("one extreme expert, hierarchical", _rebalance(extreme, 12, 4, 2, 4)),
        ("one extreme expert, global", _rebalance(extreme, 16, 2, 1, 8)),
        ("a single GPU", _rebalance(mixed, 16, 4, 1, 1)),
        (
            "groups that do not divide nodes (3 groups, 2 nodes: global)",
            _rebalance(mixed, 16, 3, 2, 4),
        ),
        ("no redundancy (num_replicas == experts)", _rebalance(mixed, 12, 4, 2, 4)),
        ("a single expert replicated on every GPU", _rebalance([[7], [0]], 4, 1, 1, 4)),
        ("one GPU per node", _rebalance(mixed, 16, 4, 4, 4)),
        (
            "real-valued loads",
            _rebalance([[0.5, 1.25, 3.0, 0.125, 2.5, 0.75, 1.0, 0.3]], 12, 2, 2, 4),
        ),
        ("packing: equal loads", {"problem": "packing", "weights": equal, "num_packs": 4}),
        ("packing: one extreme item", {"problem": "packing", "weights": extreme, "num_packs": 2}),
        ("packing: one pack", {"problem": "packing", "weights": mixed, "num_packs": 1}),
        ("packing: one item per pack", {"problem": "packing", "weights": mixed, "num_packs": 12}),
        (
            "packing: real-valued loads",
            {"problem": "packing", "weights": [[0.1, 0.7, 0.2, 0.9, 0.4, 0.6]], "num_packs": 3},
        ),
        ("replication: equal loads", {"problem": "replication", "weights": equal, "num_phy": 12}),
        (
            "replication: one extreme expert",
            {"problem": "replication", "weights": extreme, "num_phy": 16},
        ),
        ("replication: no redundancy", {"problem": "replication", "weights": mixed, "num_phy": 12}),
        (
            "replication: a single expert",
            {"problem": "replication", "weights": [[9]], "num_phy": 5},
        ),
        (
            "replication: real-valued loads",
            {"problem": "replication", "weights": [[0.3, 2.7, 1.1, 0.05]], "num_phy": 7},
        ),
    ]
    return [_literal("fixed-small", description, data) for description, data in cases]


def ties_zeros_specs() -> list[Spec]:
    cases = [
        (
            "all-zero layer between loaded ones",
            _rebalance([[3, 1, 4, 1, 5, 9, 2, 6], [0] * 8, [1] * 8], 12, 4, 2, 4),
        ),
        ("all-zero layers only", _rebalance([[0] * 8, [0] * 8], 16, 2, 2, 8)),
        ("mostly zeros, tied hot experts", _rebalance([[0, 5, 0, 0, 5, 0, 5, 0]], 12, 2, 1, 4)),
        ("all ties with redundancy", _rebalance([[4] * 12], 16, 4, 2, 8)),
        (
            "packing: all-zero layer",
            {"problem": "packing", "weights": [[0] * 8, [2, 2, 1, 1, 0, 0, 3, 3]], "num_packs": 4},
        ),
        (
            "packing: pairs of ties",
            {
                "problem": "packing",
                "weights": [[7, 7, 5, 5, 3, 3, 1, 1, 2, 2, 4, 4]],
                "num_packs": 3,
            },
        ),
        (
            "replication: all-zero layer",
            {"problem": "replication", "weights": [[0] * 6, [1, 0, 0, 0, 0, 1]], "num_phy": 9},
        ),
        (
            "replication: tied maxima",
            {"problem": "replication", "weights": [[6, 6, 6, 1, 1, 1]], "num_phy": 10},
        ),
    ]
    return [_literal("ties-zeros", description, data) for description, data in cases]


def worst_case_specs() -> list[Spec]:
    specs = []
    for gpus, experts in ((2, 4), (3, 6), (4, 8), (6, 6), (8, 8)):
        optimum, greedy = Fraction(1, gpus), Fraction(2, gpus + 1)
        specs.append(
            Spec(
                "worst-case-2g",
                "one_hot_rebalance",
                0,
                {"num_log": experts, "num_gpus": gpus},
                f"loads (1, 0, ...), {experts} experts on G = {gpus} GPUs: optimum {optimum}, "
                f"greedy replication {greedy} (ratio 2G/(G+1) = {greedy / optimum})",
                {"closed_form": {"optimum": str(optimum), "greedy_replication": str(greedy)}},
            )
        )
    return specs


def proven_small_specs() -> list[Spec]:
    specs = []
    for seed, (n, packs) in enumerate(((6, 2), (8, 2), (8, 4), (9, 3), (12, 3), (12, 4), (16, 4))):
        params = {"n": n, "num_packs": packs, "layers": 3, "maximum": 1000}
        specs.append(
            Spec(
                "proven-small",
                "random_packing",
                seed,
                params,
                f"packing {n} items -> {packs} packs",
            )
        )
    for seed, (n, phy) in enumerate(((4, 5), (4, 8), (6, 9), (8, 12), (8, 16), (12, 20))):
        params = {"n": n, "num_phy": phy, "layers": 3, "maximum": 1000}
        specs.append(
            Spec("proven-small", "random_replication", seed, params, f"replication {n} -> {phy}")
        )
    shapes = ((4, 6, 2, 1, 2), (6, 8, 2, 2, 4), (8, 12, 4, 2, 4), (6, 8, 3, 2, 4), (8, 16, 2, 2, 8))
    for seed, (n, r, g, nodes, k) in enumerate(shapes):
        params = {"n": n, "num_replicas": r, "num_groups": g, "num_nodes": nodes, "num_gpus": k}
        specs.append(
            Spec(
                "proven-small",
                "random_rebalance",
                seed,
                {**params, "layers": 2, "maximum": 100},
                f"rebalance {n} experts -> {r} replicas, {g} groups, {nodes} nodes, {k} GPUs",
            )
        )
    return specs


def phase_transition_specs() -> list[Spec]:
    return [
        Spec(
            "phase-transition",
            "phase_transition_packing",
            seed,
            {"n": n, "num_packs": packs, "bits": n, "layers": 2},
            f"packing {n} items of {n} bits -> {packs} packs",
        )
        for seed, (n, packs) in enumerate(
            ((8, 2), (12, 2), (12, 4), (16, 2), (16, 4), (20, 4), (24, 4), (24, 8))
        )
    ]


def moe_specs() -> list[Spec]:
    deepseek = {**DEEPSEEK_V3.load_params(), **DEEPSEEK_V3.cluster()}
    return [
        Spec(
            "moe-deepseek-v3",
            "moe_rebalance",
            0,
            deepseek,
            "DeepSeek-V3 shape: 58 layers, 256 experts -> 288 replicas, 8 groups, 4 nodes, 32 GPUs",
        ),
        Spec(
            "moe-deepseek-v3",
            "moe_rebalance",
            1,
            {**deepseek, "layers": [0, 1, 2, 3], "hot": 2, "heat": 30.0},
            "DeepSeek-V3 shape, layers 0-3 of 58, two very hot experts per layer",
        ),
        Spec(
            "moe-deepseek-v3",
            "moe_replication",
            2,
            {**DEEPSEEK_V3.load_params(), "num_phy": DEEPSEEK_V3.num_replicas},
            "DeepSeek-V3 replication stage: 58 layers, 256 experts -> 288 slots",
        ),
        Spec(
            "moe-deepseek-v3",
            "moe_node_packing",
            3,
            {"experts": 64, "tokens": 16384, "replicas": 72, "num_packs": 8, "layers": 4},
            "DeepSeek-V3 per-node packing: 72 replica loads onto 8 GPUs",
        ),
        Spec(
            "moe-qwen",
            "moe_rebalance",
            0,
            {**QWEN_MOE.load_params(), **QWEN_MOE.cluster()},
            "Qwen-MoE-like shape: 48 layers, 128 experts -> 144 replicas on 8 GPUs",
        ),
        Spec(
            "moe-mixtral",
            "moe_rebalance",
            0,
            {**MIXTRAL.load_params(), **MIXTRAL.cluster()},
            "Mixtral-like shape: 32 layers x 8 experts -> 16 replicas on 8 GPUs",
        ),
    ]


#: provenance.extra of a drift trace: its rows are consecutive time windows of one layer.
TRACE = {"rows": "time-windows"}


def drift_specs() -> list[Spec]:
    return [
        Spec(
            "drift-trace",
            "drift_rebalance",
            0,
            {
                "experts": DEEPSEEK_V3.experts,
                "windows": 8,
                "tokens": DEEPSEEK_V3.tokens,
                **DEEPSEEK_V3.cluster(),
            },
            "one DeepSeek-V3-shaped layer over 8 consecutive windows (row t = window t)",
            dict(TRACE),
        ),
        Spec(
            "drift-trace",
            "drift_rebalance",
            1,
            {
                "experts": 8,
                "windows": 24,
                "tokens": 8192,
                "num_replicas": 12,
                "num_groups": 1,
                "num_nodes": 1,
                "num_gpus": 4,
            },
            "one Mixtral-shaped layer over 24 consecutive windows (row t = window t), oracle-sized",
            dict(TRACE),
        ),
    ]


def migration_specs() -> list[Spec]:
    flat = _rebalance([[90, 132, 40, 61, 104, 165, 39, 4], [20, 107, 104, 64, 19, 197, 187, 157]],
                      12, 1, 1, 4)  # fmt: skip
    hierarchical = _rebalance([[90, 132, 40, 61, 104, 165, 39, 4]], 12, 4, 2, 4)
    tiny = _rebalance([[8, 5, 3, 0]], 6, 1, 1, 2)
    return [
        _literal(
            "migration-budget",
            "two layers, 8 experts -> 12 replicas on 4 GPUs (global), 3 and 2 moves allowed",
            {
                **flat,
                "old_phy2log": [[0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3]] * 2,
                "max_moves": [3, 2],
            },
        ),
        _literal(
            "migration-budget",
            "8 experts in 4 groups on 2 nodes, 4 GPUs (hierarchical), old plan keeps the groups, "
            "2 moves allowed",
            {**hierarchical, "old_phy2log": [[0, 1, 2, 3, 0, 1, 4, 5, 6, 7, 4, 5]], "max_moves": 2},
        ),
        _literal(
            "migration-budget",
            "4 experts -> 6 replicas on 2 GPUs, one move allowed (small enough to enumerate)",
            {**tiny, "old_phy2log": [[3, 2, 1, 0, 1, 2]], "max_moves": 1},
        ),
    ]


def corpus_specs() -> list[Spec]:
    """Every instance the shipped corpus is generated from, in a fixed order."""
    return [
        *deepseek_example_specs(),
        *fixed_small_specs(),
        *ties_zeros_specs(),
        *worst_case_specs(),
        *proven_small_specs(),
        *phase_transition_specs(),
        *moe_specs(),
        *drift_specs(),
        *migration_specs(),
    ]


def main(argv: list[str] | None = None) -> int:
    """`python -m verifier.corpus.generate`: (re)generate the corpus; existing records stay."""
    from verifier.corpus import default_corpus_dir
    from verifier.corpus.records import add_instance, variant_pool, variant_specs

    parser = argparse.ArgumentParser(
        description="Generate the shipped corpus (duplicates are kept)."
    )
    parser.add_argument(
        "--corpus", default=None, help="corpus directory (default: the shipped one)"
    )
    parser.add_argument("--family", action="append", help="only these families (repeatable)")
    parser.add_argument("--time-limit", type=float, default=None, help="oracle deterministic time")
    parser.add_argument("--date", default=None, help="provenance date (default: today)")
    args = parser.parse_args(argv)
    corpus = default_corpus_dir() if args.corpus is None else args.corpus
    specs = [spec for spec in corpus_specs() if not args.family or spec.family in args.family]
    with variant_pool(variant_specs()) as pool:  # one sandbox for every record's baselines
        for spec in specs:
            path = add_instance(
                corpus,
                spec.build(),
                spec.provenance(),
                time_limit=args.time_limit,
                date=args.date,
                pool=pool,
            )
            status = "added" if path is not None else "exists"
            print(f"{status:7} {spec.family:18} {spec.description}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

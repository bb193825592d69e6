"""Hypothesis strategies for EPLB instances, and the settings profiles of the project.

Shapes are built valid by construction (draw the factors, then multiply), so nothing is filtered
away. Loads come from families chosen to find bugs: uniform integers, heavy tails (a few hot
experts, as in real MoE traffic), many ties, zeros and all-zero layers, all-equal layers, a single
hot expert, non-integer float32 values and near-ties, large magnitudes (around 2^24, where
float32 stops being exact, and around 2^50), and pairwise distinct loads (no tie to break). Every
float drawn is exactly representable in float32, so the instance is what a candidate receives.

Profiles: "dev" (quick), "ci" (Hypothesis's own derandomized CI profile, extended) and "fuzz"
(long); `load_profile()` picks one from HYPOTHESIS_PROFILE.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from verifier.model.contract import contract_for
from verifier.model.instances import (
    Instance,
    Number,
    PackingInstance,
    ProblemName,
    RebalanceInstance,
    ReplicationInstance,
    Weights,
    float32,
)

FAMILIES = (
    "uniform",
    "heavy_tail",
    "ties",
    "zeros",
    "all_equal",
    "hot_expert",
    "float32",
    "float32_near_ties",
    "large",
    "distinct",
)
FLOAT32_EXACT = 2**24  # every integer up to here is exact in float32
INT_LIMIT = 2**50  # large integer loads stay well inside float64's exact range

_SUPPRESSED = (HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example)


def _float32_step(value: float, steps: int) -> float:
    """The float32 `steps` ulps above a non-negative float32 `value`."""
    bits: int = struct.unpack("I", struct.pack("f", value))[0]
    result: float = struct.unpack("f", struct.pack("I", bits + steps))[0]
    return result


# --- one layer of loads, by family --------------------------------------------------------------

LayerStrategy = Callable[[int], st.SearchStrategy[list[Number]]]


def _uniform(n: int) -> st.SearchStrategy[list[Number]]:
    return st.sampled_from([15, 255, 4095, 65535]).flatmap(
        lambda top: st.lists(st.integers(0, top), min_size=n, max_size=n)
    )


@st.composite
def _heavy_tail(draw: st.DrawFn, n: int) -> list[Number]:
    """Zipf-like loads: the expert of popularity rank r gets about scale / (r + 1)^alpha."""
    scale = draw(st.sampled_from([1_000, 100_000, 10_000_000]))
    alpha = draw(st.sampled_from([0.7, 1.0, 1.5, 2.5]))
    ranks = draw(st.permutations(range(n)))
    noise = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return [
        int(scale / (rank + 1) ** alpha) + extra for rank, extra in zip(ranks, noise, strict=True)
    ]


def _ties(n: int) -> st.SearchStrategy[list[Number]]:
    return st.lists(st.sampled_from([0, 1, 2, 3, 6]), min_size=n, max_size=n)


def _zeros(n: int) -> st.SearchStrategy[list[Number]]:
    all_zero = st.just([0] * n)
    sparse = st.lists(st.one_of(st.just(0), st.integers(1, 100)), min_size=n, max_size=n)
    return st.one_of(all_zero, sparse)


def _all_equal(n: int) -> st.SearchStrategy[list[Number]]:
    return st.sampled_from([0, 1, 7, 2**20, 0.75]).map(lambda value: [value] * n)


@st.composite
def _hot_expert(draw: st.DrawFn, n: int) -> list[Number]:
    loads: list[Number] = draw(st.lists(st.integers(0, 10), min_size=n, max_size=n))
    hot = draw(st.integers(0, n - 1))
    loads[hot] = draw(st.sampled_from([1_000, 1_000_000, 2**40]))
    return loads


def _float32_loads(n: int) -> st.SearchStrategy[list[Number]]:
    value = st.floats(
        min_value=0.0,
        max_value=1e6,
        width=32,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=False,
    )
    return st.lists(value, min_size=n, max_size=n)


@st.composite
def _float32_near_ties(draw: st.DrawFn, n: int) -> list[Number]:
    """Non-integer float32 values a few ulps apart (sums and ratios then round differently)."""
    base = float32(draw(st.sampled_from([0.1, 1.3, 3.7, 1000.1, 123456.7])))
    steps = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    return [_float32_step(base, step) for step in steps]


@st.composite
def _large(draw: st.DrawFn, n: int) -> list[Number]:
    """Integers just above 2^24 (float32 no longer exact) or around 2^50, with near-ties."""
    base = draw(st.sampled_from([FLOAT32_EXACT, 3 * FLOAT32_EXACT, INT_LIMIT // 4]))
    offsets = draw(st.lists(st.integers(0, 64), min_size=n, max_size=n))
    return [base + offset for offset in offsets]


def _distinct(n: int) -> st.SearchStrategy[list[Number]]:
    """Pairwise distinct large integers: no tie for a label to break (permutation relations)."""
    return st.lists(st.integers(1, 2**31), min_size=n, max_size=n, unique=True)


LAYER_FAMILIES: dict[str, LayerStrategy] = {
    "uniform": _uniform,
    "heavy_tail": _heavy_tail,
    "ties": _ties,
    "zeros": _zeros,
    "all_equal": _all_equal,
    "hot_expert": _hot_expert,
    "float32": _float32_loads,
    "float32_near_ties": _float32_near_ties,
    "large": _large,
    "distinct": _distinct,
}


@st.composite
def layer_count(draw: st.DrawFn) -> int:
    """Mostly 1-3 layers (shrinks to one); one case in five has many (4-32)."""
    many = draw(st.integers(0, 4)) == 4
    return draw(st.integers(4, 32) if many else st.integers(1, 3))


@st.composite
def weights(
    draw: st.DrawFn, n: int, layers: st.SearchStrategy[int] | None = None, family: str | None = None
) -> Weights:
    """`layers` layers of `n` loads from one family.

    Without a fixed `family`, multi-layer instances mix in all-zero layers now and then.
    """
    chosen = family or draw(st.sampled_from(FAMILIES))
    count = draw(layers if layers is not None else layer_count())
    layer = LAYER_FAMILIES[chosen](n)
    if family is None and count > 1:
        layer = st.one_of(layer, st.just([0] * n))
    rows: Weights = [draw(layer) for _ in range(count)]
    if any(isinstance(value, float) for row in rows for value in row):
        rows = [[float(value) for value in row] for row in rows]
    return rows


# --- instances ---------------------------------------------------------------------------------


@st.composite
def packing_instances(draw: st.DrawFn, family: str | None = None) -> PackingInstance:
    """n = num_packs * items_per_pack items (one item per pack and a single pack included)."""
    num_packs = draw(st.integers(1, 8))
    per_pack = draw(st.integers(1, 8))
    return PackingInstance(draw(weights(num_packs * per_pack, family=family)), num_packs)


@st.composite
def replication_instances(draw: st.DrawFn, family: str | None = None) -> ReplicationInstance:
    """num_phy = num_log + redundant slots (no redundant slots included)."""
    num_log = draw(st.integers(1, 16))
    redundant = draw(st.integers(0, 16))
    return ReplicationInstance(draw(weights(num_log, family=family)), num_log + redundant)


@st.composite
def rebalance_instances(draw: st.DrawFn, family: str | None = None) -> RebalanceInstance:
    """Hierarchical shapes (groups divide into nodes) and global-fallback shapes (they do not)."""
    num_nodes = draw(st.integers(1, 4))
    num_gpus = num_nodes * draw(st.integers(1, 4))
    if num_nodes > 1 and draw(st.booleans()):
        # Global fallback: num_groups % num_nodes != 0.
        num_groups = num_nodes * draw(st.integers(0, 2)) + draw(st.integers(1, num_nodes - 1))
    else:
        num_groups = num_nodes * draw(st.integers(1, 3))
    num_log = num_groups * draw(st.integers(1, 4))
    slots_per_gpu = -(-num_log // num_gpus) + draw(st.integers(0, 3))
    return RebalanceInstance(
        draw(weights(num_log, family=family)),
        num_gpus * slots_per_gpu,
        num_groups,
        num_nodes,
        num_gpus,
    )


# The instance strategy of each problem (the contract table names problems, not strategies).
BUILDERS: dict[ProblemName, Callable[..., st.SearchStrategy[Instance]]] = {
    "packing": packing_instances,
    "replication": replication_instances,
    "rebalance": rebalance_instances,
}


def instances_for(function: str, family: str | None = None) -> st.SearchStrategy[Instance]:
    """The instance strategy for one EPLB function (one of `verifier.model.contract.FUNCTIONS`)."""
    return BUILDERS[contract_for(function).problem](family=family)


# --- settings profiles -------------------------------------------------------------------------


def register_profiles() -> None:
    """dev: quick local runs; ci: Hypothesis's derandomized CI profile, extended; fuzz: long."""
    common: dict[str, Any] = {"deadline": None, "suppress_health_check": _SUPPRESSED}
    settings.register_profile("dev", max_examples=40, **common)
    settings.register_profile("ci", parent=settings.get_profile("ci"), max_examples=60, **common)
    settings.register_profile("fuzz", max_examples=20_000, **common)


def load_profile(default: str = "dev") -> str:
    """Register the profiles and load HYPOTHESIS_PROFILE (else "ci" under CI, else `default`)."""
    register_profiles()
    name = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else default)
    settings.load_profile(name)
    return name

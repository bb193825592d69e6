"""Exact objectives, recomputed from an assignment in rational arithmetic.

A heuristic's objective is never taken from its own float sums: float32 is not exact above 2^24
and float64 not above 2^53. Every load becomes a `Fraction` (exact for ints and floats alike),
so two objectives compare exactly and a "gap" is a true gap.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

from verifier.model.contract import contract_of
from verifier.model.instances import Instance, Number


def exact(value: Number | Fraction) -> Fraction:
    """The exact rational value of an int, float or Fraction."""
    return value if isinstance(value, Fraction) else Fraction(value)


def pack_loads(
    weights: Sequence[Number | Fraction], pack_index: Sequence[int], num_packs: int
) -> list[Fraction]:
    """Exact load of every pack, given each item's pack."""
    loads = [Fraction(0)] * num_packs
    for weight, pack in zip(weights, pack_index, strict=True):
        loads[pack] += exact(weight)
    return loads


def packing_objective(
    weights: Sequence[Number | Fraction], pack_index: Sequence[int], num_packs: int
) -> Fraction:
    """The largest pack load (the quantity balanced packing minimises)."""
    return max(pack_loads(weights, pack_index, num_packs), default=Fraction(0))


def replication_objective(weights: Sequence[Number | Fraction], logcnt: Sequence[int]) -> Fraction:
    """The largest load per replica, max over experts of w_e / c_e."""
    return max(
        (exact(w) / c for w, c in zip(weights, logcnt, strict=True)),
        default=Fraction(0),
    )


def replica_counts(phy2log: Sequence[int], num_log: int) -> list[int]:
    """How many physical slots hold each logical expert (derived, not trusted from a candidate)."""
    counts = [0] * num_log
    for expert in phy2log:
        counts[expert] += 1
    return counts


def gpu_loads(
    weights: Sequence[Number | Fraction], phy2log: Sequence[int], num_gpus: int
) -> list[Fraction]:
    """Exact load of every GPU: each expert's load split evenly over its replicas.

    Slot p lives on GPU p // (num_replicas / num_gpus).
    """
    counts = replica_counts(phy2log, len(weights))
    slots_per_gpu = len(phy2log) // num_gpus
    loads = [Fraction(0)] * num_gpus
    for slot, expert in enumerate(phy2log):
        loads[slot // slots_per_gpu] += exact(weights[expert]) / counts[expert]
    return loads


def rebalance_objective(
    weights: Sequence[Number | Fraction], phy2log: Sequence[int], num_gpus: int
) -> Fraction:
    """The largest GPU load of a placement (the quantity EPLB minimises end to end)."""
    return max(gpu_loads(weights, phy2log, num_gpus), default=Fraction(0))


def gpu_replica_counts(phy2log: Sequence[int], num_gpus: int) -> list[Counter[int]]:
    """n[g][e]: how many replicas of each expert GPU g holds (slot p on GPU p // slots_per_gpu)."""
    per_gpu = len(phy2log) // num_gpus
    return [Counter(phy2log[g * per_gpu : (g + 1) * per_gpu]) for g in range(num_gpus)]


def moves(old: Sequence[int], new: Sequence[int], num_gpus: int) -> int:
    """The replica weight copies one layer's new placement needs from the old one: the sum over
    GPUs g and experts e of max(0, n_new[g][e] - n_old[g][e]). Order inside a GPU is free."""
    before, after = gpu_replica_counts(old, num_gpus), gpu_replica_counts(new, num_gpus)
    return sum(sum((a - b).values()) for a, b in zip(after, before, strict=True))


def balance_ratio(ideal: Fraction, peak: Fraction) -> float:
    """Ideal (mean) load over achieved maximum load; 1.0 (balanced) when the maximum is zero."""
    return 1.0 if peak == 0 else float(ideal / peak)


def relative_gap(value: Fraction, bound: Fraction) -> Fraction | None:
    """(value - bound) / bound; zero when both are zero; None (unbounded) when only the bound is.

    The one representation of an exact gap: None is unbounded (`gap_float` makes it inf)."""
    if bound == 0:
        return Fraction(0) if value == 0 else None
    return (value - bound) / bound


def gap_float(gap: Fraction | None) -> float:
    """A relative gap as a float for display and statistics: an unbounded gap (None) is inf."""
    return math.inf if gap is None else float(gap)


def gap_interval(
    value: Fraction, bound: Fraction, best_known: Fraction | None
) -> tuple[Fraction, Fraction | None]:
    """An honest interval for `value`'s true relative gap to the optimum.

    Low end against the best known objective (clamped at 0; 0 when none is known), high end
    against the certified lower `bound` (None when unbounded). They coincide on a proven layer.
    """
    high = relative_gap(value, bound)
    low = None if best_known is None else relative_gap(value, best_known)
    return max(Fraction(0), low if low is not None else Fraction(0)), high


def ideal_load(instance: Instance, row: Sequence[Number | Fraction]) -> Fraction:
    """The perfectly balanced load: the layer's total over its packs, slots or GPUs."""
    total = sum((Fraction(value) for value in row), Fraction(0))
    over = contract_of(instance).balanced_over(instance)
    return total / over if over else Fraction(0)

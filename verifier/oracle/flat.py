"""The unconstrained (global) rebalance optimum of a small instance, by enumerating replica counts.

For a fixed count vector the rest is a packing problem (R replica loads w_e/c_e into num_gpus packs
of R/num_gpus), which the packing oracle solves fast. So we enumerate count vectors, but only those
that could beat the incumbent U: a better placement has every replica below U, so expert e needs
c_e > w_e / U replicas, which fixes most of the counts once U is good. Experts are taken heaviest
first, equal experts get non-increasing counts (they are interchangeable), and zero-load experts
just absorb the slots left over (their replicas all weigh nothing). Each complete count vector is
dropped when a cheap packing bound already reaches U, else packed exactly; a packing that is not
proven within the budget leaves its bound as the certified bound of that branch.

The work is bounded by a count of vectors (`VECTORS_PER_SECOND` per second of budget) and a
deterministic CP-SAT budget (at most `PACKING_SLICE` per packing), so it is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from verifier.model.objectives import rebalance_objective
from verifier.oracle.bounds import rational_packing_bound
from verifier.oracle.layout import Shape, phy2log_from_gpus
from verifier.oracle.packing import solve_packing

#: Count vectors examined per unit of budget before the search gives up (the bound then stays
#: the cheap one and the caller's next method takes over).
VECTORS_PER_SECOND = 2_000
#: Most deterministic seconds one count vector's packing may use.
PACKING_SLICE = 0.25


@dataclass
class FlatSearch:
    """Outcome of the count enumeration: best placement, its value, and a certified bound."""

    phy2log: list[int]
    objective: Fraction
    bound: Fraction
    vectors: int = 0
    packed: int = 0
    spent: float = 0.0
    complete: bool = True
    unresolved: list[Fraction] = field(default_factory=list)


def _replica_loads(weights: Sequence[Fraction], counts: Sequence[int]) -> list[Fraction]:
    return [w / c for w, c in zip(weights, counts, strict=True) for _ in range(c)]


class _Enumerator:
    def __init__(self, weights: Sequence[Fraction], shape: Shape, incumbent: Sequence[int]) -> None:
        self.weights = list(weights)
        self.shape = shape
        self.order = sorted(
            (e for e in range(len(weights)) if weights[e] > 0), key=lambda e: (-weights[e], e)
        )
        self.zeros = [e for e in range(len(weights)) if weights[e] == 0]
        self.best = list(incumbent)
        self.upper = rebalance_objective(weights, incumbent, shape.num_gpus)

    def minimum_count(self, expert: int) -> int:
        """Fewest replicas for which each replica of `expert` weighs less than the incumbent."""
        return math.floor(self.weights[expert] / self.upper) + 1

    def vectors(self) -> Iterator[list[int]]:
        """Count vectors (indexed by expert) that could still beat the incumbent."""
        counts = [1] * len(self.weights)
        order = self.order
        slots = self.shape.num_replicas - len(self.zeros)

        def extend(position: int, left: int, cap: int) -> Iterator[list[int]]:
            if position == len(order):
                if self.zeros or left == 0:
                    counts_copy = list(counts)
                    if self.zeros:
                        counts_copy[self.zeros[0]] += left
                    yield counts_copy
                return
            expert = order[position]
            needed_after = sum(self.minimum_count(e) for e in order[position + 1 :])
            low = self.minimum_count(expert)
            high = left - needed_after
            previous = order[position - 1] if position else None
            if previous is not None and self.weights[previous] == self.weights[expert]:
                high = min(high, cap)  # equal experts: non-increasing counts
            for count in range(low, high + 1):
                counts[expert] = count
                yield from extend(position + 1, left - count, count)
            counts[expert] = 1

        yield from extend(0, slots, slots)


def _place(counts: Sequence[int], assignment: Sequence[int], gpus: int) -> list[int]:
    replicas = [e for e, c in enumerate(counts) for _ in range(c)]
    per_gpu: list[list[int]] = [[] for _ in range(gpus)]
    for replica, gpu in zip(replicas, assignment, strict=True):
        per_gpu[gpu].append(replica)
    return phy2log_from_gpus(per_gpu)


def search_flat(
    weights: Sequence[Fraction],
    shape: Shape,
    incumbent: Sequence[int],
    *,
    floor: Fraction,
    time_limit: float,
    seed: int,
) -> FlatSearch:
    """Beat `incumbent` or prove it optimal; `floor` is a certified lower bound (cheap bounds)."""
    search = _Enumerator(weights, shape, incumbent)
    result = FlatSearch(search.best, search.upper, floor)
    max_vectors = max(100, int(VECTORS_PER_SECOND * time_limit))
    for counts in search.vectors():
        result.vectors += 1
        if result.vectors > max_vectors:
            result.complete = False
            break
        loads = _replica_loads(weights, counts)
        if (
            max(loads) >= search.upper
            or rational_packing_bound(loads, shape.num_gpus) >= search.upper
        ):
            continue
        slice_ = max(0.0, min(PACKING_SLICE, time_limit - result.spent))
        packing = solve_packing(loads, shape.num_gpus, time_limit=slice_, seed=seed)
        result.packed += 1
        result.spent += float(packing.details.get("deterministic_time", 0.0))
        if packing.objective < search.upper:
            search.best = _place(counts, packing.assignment, shape.num_gpus)
            search.upper = rebalance_objective(weights, search.best, shape.num_gpus)
        if packing.bound < search.upper:
            result.unresolved.append(packing.bound)
    result.phy2log, result.objective = search.best, search.upper
    if result.complete:
        still_open = [b for b in result.unresolved if b < search.upper]
        result.bound = max(floor, min([search.upper, *still_open]))
    return result

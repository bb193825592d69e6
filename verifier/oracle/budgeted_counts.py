"""OPT(K) of a small flat (global) shape by enumerating replica counts, as `flat` does without a
budget.

For a fixed count vector c the rest is a placement: c_e replicas of load w_e / c_e onto the GPUs,
R / num_gpus each, at most K copies from the old placement, least max GPU load. That is a small
integer program with a strong linear relaxation (y[e][g] replicas of e on GPU g, all loads linear),
unlike the joint model whose loads are products of counts and placements. Only count vectors that
could beat the incumbent U are examined: every replica below U (c_e > w_e / U), the cheap packing
bound below U, and at least sum_e max(0, c_e - c_old_e) <= K copies (every replica an expert
gains is a copy somewhere). A vector whose placement is not proven within its slice leaves its
bound as the certified bound of that branch. Vectors are placed best first (by their cheap bound),
so the search stops at the first whose bound reaches the incumbent. That bound knows the budget:
a GPU that receives k copies keeps slots - k of its old replicas, so its load is at least its
lightest slots - k old replicas (at the new counts) plus k of the lightest replica, and the
copies over all GPUs add up to at most K. Work is bounded by a count of vectors and a
deterministic CP-SAT budget, so it is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypeVar

from ortools.sat.python import cp_model

from verifier.model.objectives import gpu_replica_counts, rebalance_objective, replica_counts
from verifier.oracle.bounds import packing_lower_bound, rational_packing_bound
from verifier.oracle.cpsat import LIGHT, Budget, integer_bound, new_model
from verifier.oracle.layout import Shape
from verifier.oracle.scaling import scale_loads

Number = TypeVar("Number", int, Fraction)

#: Count vectors examined per deterministic second of budget before the search gives up.
VECTORS_PER_SECOND = 2_000
#: Most deterministic seconds one count vector's placement may use.
PLACEMENT_SLICE = 0.25


@dataclass
class CountSearch:
    """Outcome: the best plan within budget (None: none found), and a certified bound."""

    phy2log: list[int] | None
    objective: Fraction | None
    bound: Fraction
    vectors: int = 0
    placed: int = 0
    complete: bool = True
    open_bounds: list[Fraction] = field(default_factory=list)


def count_vectors(
    weights: Sequence[Fraction], shape: Shape, old_counts: Sequence[int], budget: int,
    upper: Fraction | None,
) -> Iterator[list[int]]:  # fmt: skip
    """Every count vector (indexed by expert) whose replicas all weigh less than `upper` and
    whose gained replicas fit within `budget` copies."""
    n = len(weights)
    fewest = [1 if upper is None else math.floor(w / upper) + 1 for w in weights]
    counts = list(fewest)

    def extend(expert: int, left: int, gained: int) -> Iterator[list[int]]:
        if expert == n - 1:
            count = fewest[expert] + left
            if gained + max(0, count - old_counts[expert]) <= budget:
                yield [*counts[:expert], count]
            return
        for extra in range(left + 1):
            count = fewest[expert] + extra
            more = gained + max(0, count - old_counts[expert])
            if more > budget:
                break
            counts[expert] = count
            yield from extend(expert + 1, left - extra, more)
        counts[expert] = fewest[expert]

    spare = shape.num_replicas - sum(fewest)
    if spare >= 0:
        yield from extend(0, spare, 0)


def _place(
    replica_loads: Sequence[Fraction],
    counts: Sequence[int],
    shape: Shape,
    old: Sequence[int],
    budget: int,
    upper: Fraction | None,
    work: Budget,
) -> tuple[list[int] | None, Fraction, bool]:
    """The least-load placement of these counts within `budget` copies, below `upper`: the plan
    (None when none found), a certified bound on this branch, and whether it is proven."""
    gpus, slots, n = shape.num_gpus, shape.slots_per_gpu, len(counts)
    scaled = scale_loads(replica_loads)
    high = sum(scaled.low[e] * counts[e] for e in range(n))
    if upper is not None:  # a plan below `upper` has floored load below ceil(S * upper)
        high = min(high, math.ceil(upper * scaled.scale) - 1)
    low = math.ceil(rational_packing_bound(
        [Fraction(scaled.low[e]) for e in range(n) for _ in range(counts[e])], gpus
    ))  # fmt: skip
    if low > high:
        return None, scaled.unscale(low), True
    model = new_model()
    y = [[model.new_int_var(0, min(slots, counts[e]), f"y{e}_{g}") for g in range(gpus)]
         for e in range(n)]  # fmt: skip
    cap = model.new_int_var(low, high, "cap")
    before = gpu_replica_counts(old, gpus)
    copies = []
    for e in range(n):
        model.add(sum(y[e]) == counts[e])
        for g in range(gpus):
            copy = model.new_int_var(0, slots, f"m{e}_{g}")
            model.add(copy >= y[e][g] - before[g][e])
            copies.append(copy)
    for g in range(gpus):
        model.add(sum(y[e][g] for e in range(n)) == slots)
        model.add(sum(scaled.low[e] * y[e][g] for e in range(n)) <= cap)
    model.add(sum(copies) <= budget)
    model.minimize(cap)
    solver, status = work.run(model, PLACEMENT_SLICE, LIGHT)
    plan = None
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        plan = [e for g in range(gpus) for e in range(n) for _ in range(solver.value(y[e][g]))]
    if status == cp_model.INFEASIBLE:
        return None, scaled.unscale(high + 1), True
    if status == cp_model.OPTIMAL:  # proven on the floored loads: exact when they are the loads
        return plan, scaled.unscale(solver.value(cap)), scaled.exact
    proven = integer_bound(solver.best_objective_bound)
    return plan, scaled.unscale(max(low, min(proven, high + 1))), False


def search_counts(
    weights: Sequence[Fraction],
    shape: Shape,
    old: Sequence[int],
    budget: int,
    incumbent: list[int] | None,
    *,
    floor: Fraction,
    work: Budget,
) -> CountSearch:
    """Beat `incumbent` within `budget` moves, or prove that nothing does; `floor` is a certified
    lower bound. Without an incumbent and with no plan found, a complete search proves there is
    none (`objective` None, complete)."""
    gpus = shape.num_gpus
    upper = None if incumbent is None else rebalance_objective(weights, incumbent, gpus)
    result = CountSearch(incumbent, upper, floor)
    old_counts = replica_counts(old, len(weights))
    max_vectors = max(100, int(VECTORS_PER_SECOND * work.remaining))
    ranked: list[tuple[Fraction, list[int]]] = []
    table = ReplicaTable(weights, shape)
    for counts in count_vectors(weights, shape, old_counts, budget, result.objective):
        result.vectors += 1
        if result.vectors > max_vectors:
            result.complete = False
            return result
        ranked.append((_cheap_bound(table, counts, old, gpus, budget), counts))
    ranked.sort()  # best first: once a vector's cheap bound reaches the incumbent, so do the rest
    for cheap, counts in ranked:
        if result.objective is not None and cheap >= result.objective:
            break
        if work.exhausted:
            result.complete = False
            result.open_bounds.append(cheap)  # every vector left has at least this bound
            break
        loads = [w / c for w, c in zip(weights, counts, strict=True)]
        plan, bound, proven = _place(loads, counts, shape, old, budget, result.objective, work)
        result.placed += 1
        if plan is not None:
            value = rebalance_objective(weights, plan, gpus)
            if result.objective is None or value < result.objective:
                result.phy2log, result.objective = plan, value
        if not proven:
            result.open_bounds.append(bound)
    if result.objective is not None and (result.complete or result.open_bounds):
        still_open = [b for b in result.open_bounds if b < result.objective]
        result.bound = max(floor, min([result.objective, *still_open]))
    return result


class ReplicaTable:
    """Every expert's load per replica at every count, as integers on one common scale: the
    cheap bounds of many count vectors without rational arithmetic. Exact when the loads scale
    exactly (then every bound equals its rational value); else the loads are rounded down first
    and every quotient too, so a bound computed on the table stays certified."""

    def __init__(self, weights: Sequence[Fraction], shape: Shape) -> None:
        most = max(1, shape.num_replicas - len(weights) + 1)
        scaled = scale_loads(weights, multiplier=math.lcm(*range(1, most + 1)))
        self.scale = scaled.scale
        self.per_replica = [[w // c if c else 0 for c in range(most + 1)] for w in scaled.low]

    def loads(self, counts: Sequence[int]) -> list[int]:
        """Each expert's scaled load per replica at these counts."""
        return [row[c] for row, c in zip(self.per_replica, counts, strict=True)]


def _cheap_bound(
    table: ReplicaTable, counts: Sequence[int], old: Sequence[int], gpus: int, budget: int
) -> Fraction:
    """A certified bound on every placement with these counts within `budget` copies: the packing
    bound of its replicas, and the budget bound (see the module's docstring)."""
    per_replica = table.loads(counts)
    replicas = [load for load, c in zip(per_replica, counts, strict=True) for _ in range(c)]
    best = max(packing_lower_bound(replicas, gpus), budget_bound(per_replica, old, gpus, budget))
    return Fraction(best) / table.scale


def budget_bound(
    per_replica: Sequence[Number], old: Sequence[int], gpus: int, budget: int
) -> Number:
    """The least T such that every GPU can get its load to T or less with at most `budget` copies
    in all, where a GPU with k copies carries at least its lightest slots - k old replicas plus k
    of the lightest replica (`per_replica[e]`: expert e's load per replica at the new counts)."""
    slots = len(old) // gpus
    lightest = min(per_replica)
    floors: list[list[Number]] = []  # floors[g][k]: GPU g's least load with k copies
    for g in range(gpus):
        kept = sorted(per_replica[e] for e in old[g * slots : (g + 1) * slots])
        floors.append(
            [sum(kept[: slots - k], lightest * 0) + k * lightest for k in range(slots + 1)]
        )
    for threshold in sorted({value for row in floors for value in row}):
        needed = sum(next(k for k, v in enumerate(row) if v <= threshold) for row in floors
                     if row[-1] <= threshold)  # fmt: skip
        if all(row[-1] <= threshold for row in floors) and needed <= budget:
            return threshold
    return max(row[-1] for row in floors)

"""Exact cardinality-constrained multiway partitioning: n items into m packs of exactly n/m items,
minimising the largest pack load (integer loads; see `scaling` for the rest).

The solve is layered, cheapest first, and every layer is deterministic:

1. Cheap lower bounds (`bounds`) and the oracle's own heuristics (cardinality LPT, exact pairwise
   re-splitting, recursive bisection under the lowest caps). Most uniform instances end here: a
   heuristic meets the bound.
2. m = 2: an exact two-way split (bitset DP, enumeration or meet-in-the-middle).
3. Bounds proven level by level with the pattern (set-partitioning) model of `patterns`: "is there
   a packing with every load <= C?" for C from the lower bound up, in galloping windows, since the
   optimum is usually the bound or just above it. A refuted window raises the bound; the first
   window with a solution yields the optimum. This is what proves the hard cases (small packs).
4. When even one level has too many patterns (large packs): CP-SAT on a symmetry-broken assignment
   model (items sorted by load, packs labelled by their first item: item i only in packs <= i and
   pack p's first item before pack p+1's; equal items in non-decreasing packs; pack loads boxed in
   [total - (m-1)C, C]), again level by level from the bound, then minimising over [LB, UB-1] with
   the best packing as a hint, so "infeasible" proves the incumbent optimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ortools.sat.python import cp_model

from verifier.model.objectives import packing_objective
from verifier.oracle.bisection import pack_under_cap
from verifier.oracle.bounds import packing_bounds
from verifier.oracle.cpsat import Budget, integer_bound, new_model
from verifier.oracle.heuristics import improve_by_pairs, lpt_cardinality, pack_loads_int
from verifier.oracle.patterns import (
    ENUMERATION_COST,
    MODEL_COST,
    PATTERN_LIMIT,
    PatternModel,
    Values,
    enumerate_patterns,
)
from verifier.oracle.scaling import Load, scale_loads
from verifier.oracle.twoway import best_two_way_split, can_split

#: Share of the budget the level-by-level proofs may use before minimisation takes over.
LEVEL_SHARE = 0.5
#: Most bound levels tried one by one.
MAX_LEVELS = 64
#: Caps above the lower bound tried by recursive bisection.
BISECTION_LEVELS = 4
STRATEGIES = ("auto", "patterns", "assignment")


@dataclass
class IntegerPacking:
    """Result on integer loads: best packing found and a proven lower bound."""

    objective: int
    bound: int
    assignment: list[int]
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def proven(self) -> bool:
        return self.objective == self.bound


def _canonical(
    order: Sequence[int], assignment: Sequence[int], weights: Sequence[int]
) -> list[int]:
    """Relabel packs by first item in `order` and sort equal items' packs, so the packing satisfies
    the model's symmetry-breaking constraints (a hint that violates them would be useless)."""
    packs = [assignment[item] for item in order]
    label: dict[int, int] = {}
    for pack in packs:
        label.setdefault(pack, len(label))
    packs = [label[p] for p in packs]
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and weights[order[end]] == weights[order[start]]:
            end += 1
        packs[start:end] = sorted(packs[start:end])
        start = end
    return packs


class _StrongModel:
    """The symmetry-broken CP-SAT model over items in decreasing-load order."""

    def __init__(self, weights: Sequence[int], num_packs: int, low: int, high: int) -> None:
        self.order = sorted(range(len(weights)), key=lambda i: (-weights[i], i))
        w = [weights[i] for i in self.order]
        n, m = len(w), num_packs
        k = n // m
        total = sum(w)
        model = new_model()
        self.model = model
        # x[i][p]: sorted item i in pack p; packs are labelled by their first item, so p <= i.
        self.x = [
            [model.new_bool_var(f"x{i}_{p}") for p in range(min(i, m - 1) + 1)] for i in range(n)
        ]
        for i in range(n):
            model.add_exactly_one(self.x[i])
        for p in range(1, m):
            for i in range(p, n):
                earlier = [self.x[j][p - 1] for j in range(p - 1, i)]
                model.add_bool_or([*earlier, self.x[i][p].Not()])
        pack_of = [sum(p * v for p, v in enumerate(row)) for row in self.x]
        for i in range(n - 1):
            if w[i] == w[i + 1]:
                model.add(pack_of[i] <= pack_of[i + 1])
        self.cap = model.new_int_var(low, high, "cap")
        floor_load = max(0, total - (m - 1) * high)
        for p in range(m):
            members = [(i, self.x[i][p]) for i in range(p, n)]
            model.add(sum(v for _, v in members) == k)
            load = sum(w[i] * v for i, v in members)
            model.add_linear_constraint(load, floor_load, high)
            model.add(load <= self.cap)
        model.minimize(self.cap)

    def hint(self, assignment: Sequence[int], weights: Sequence[int]) -> None:
        packs = _canonical(self.order, assignment, weights)
        for i, row in enumerate(self.x):
            for p, var in enumerate(row):
                self.model.add_hint(var, packs[i] == p)

    def assignment(self, solver: cp_model.CpSolver) -> list[int]:
        result = [0] * len(self.order)
        for i, row in enumerate(self.x):
            result[self.order[i]] = next(p for p, v in enumerate(row) if solver.boolean_value(v))
        return result


def _heuristic(weights: Sequence[int], num_packs: int, target: int) -> list[int]:
    """LPT, pairwise re-splitting, then recursive bisection under the lowest caps still open."""
    best = improve_by_pairs(weights, lpt_cardinality(weights, num_packs), num_packs, target=target)
    upper = max(pack_loads_int(weights, best, num_packs))
    for cap in range(target, min(upper, target + BISECTION_LEVELS)):
        found = pack_under_cap(weights, num_packs, cap)
        if found is not None:
            return found
    return best


def _two_way(weights: Sequence[int]) -> list[int]:
    split = best_two_way_split(weights, len(weights) // 2)
    return [0 if in_a else 1 for in_a in split.in_a]


class _Search:
    """Incumbent and bound of one packing solve, improved by successive CP-SAT runs."""

    def __init__(
        self, weights: Sequence[int], num_packs: int, budget: Budget, *, heuristic: bool
    ) -> None:
        self.weights = list(weights)
        self.num_packs = num_packs
        self.budget = budget
        self.bounds = packing_bounds(self.weights, num_packs)
        self.lower = max(self.bounds.values())
        if heuristic:
            self.best = _heuristic(self.weights, num_packs, self.lower)
        else:  # items in index order, n/m per pack
            self.best = [i * num_packs // len(self.weights) for i in range(len(self.weights))]
        self.upper = max(pack_loads_int(self.weights, self.best, num_packs))
        self.heuristic_value = self.upper
        self.levels_refuted = 0
        self.pattern_solves = 0
        self.relative_gap = 0.0

    @property
    def settled(self) -> bool:
        """Proven, or within the requested relative gap."""
        return self.upper - self.lower <= self.relative_gap * self.lower

    def improve(self, assignment: list[int]) -> None:
        value = max(pack_loads_int(self.weights, assignment, self.num_packs))
        if value < self.upper:
            self.best, self.upper = assignment, value

    def prove_with_patterns(self) -> bool:
        """Gallop up from the lower bound with pattern models over [LB, LB + width - 1], doubling
        the width after each refutation; False when even one level has too many patterns."""
        values = Values(self.weights)
        size = len(self.weights) // self.num_packs
        total = sum(self.weights)
        width = 1
        while not self.settled and not self.budget.exhausted:
            high = min(self.upper - 1, self.lower + width - 1)
            low_load = total - (self.num_packs - 1) * high
            patterns = enumerate_patterns(values, size, low_load, high)
            enumerated = PATTERN_LIMIT if patterns is None else len(patterns)
            self.budget.charge(ENUMERATION_COST * enumerated)
            if patterns is None:
                if high == self.lower:
                    return False
                width = max(1, width // 4)
                continue
            model = PatternModel(self.weights, self.num_packs, patterns, self.lower, high)
            self.budget.charge(MODEL_COST * len(patterns))
            solver, status = self.budget.run(model.model)
            self.pattern_solves += 1
            if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                self.improve(model.solution(solver).assignment)
            if status == cp_model.INFEASIBLE:
                self.lower = high + 1
                width *= 2
                continue
            if status == cp_model.OPTIMAL:
                self.lower = self.upper
            elif status != cp_model.MODEL_INVALID:
                self.lower = max(
                    self.lower, min(self.upper, integer_bound(solver.best_objective_bound))
                )
            return True
        return True

    def prove_levels(self, share: float) -> None:
        """Refute "every load <= LB" one level at a time while that stays cheap."""
        stop_at = self.budget.remaining * (1.0 - share)
        while not self.settled and self.levels_refuted < MAX_LEVELS:
            if self.budget.remaining <= stop_at or self.budget.exhausted:
                return
            model = _StrongModel(self.weights, self.num_packs, self.lower, self.lower)
            model.hint(self.best, self.weights)
            solver, status = self.budget.run(model.model, self.budget.remaining - stop_at)
            if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                self.improve(model.assignment(solver))
                return
            if status != cp_model.INFEASIBLE:
                return
            self.lower += 1
            self.levels_refuted += 1

    def minimise(self) -> None:
        """Search (LB .. UB-1) for a better packing; infeasible proves the incumbent optimal."""
        if self.settled or self.budget.exhausted:
            return
        model = _StrongModel(self.weights, self.num_packs, self.lower, self.upper - 1)
        model.hint(self.best, self.weights)
        solver, status = self.budget.run(model.model)
        if status == cp_model.INFEASIBLE:
            self.lower = self.upper
            return
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            self.improve(model.assignment(solver))
        if status != cp_model.MODEL_INVALID:
            self.lower = max(
                self.lower, min(self.upper, integer_bound(solver.best_objective_bound))
            )


def solve_integer_packing(
    weights: Sequence[int],
    num_packs: int,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    strategy: str = "auto",
    relative_gap: float = 0.0,
) -> IntegerPacking:
    """Best packing of integer loads within a deterministic CP-SAT budget of `time_limit`.

    `strategy` "auto" layers everything (see the module docstring); "patterns" or "assignment"
    (for tests and benchmarks) start from a naive packing and use only that CP-SAT model.
    `relative_gap` > 0 stops as soon as (objective - bound) <= relative_gap * bound.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
    if num_packs < 1 or len(weights) % num_packs:
        raise ValueError(f"{len(weights)} items do not divide into {num_packs} packs")
    if not weights:
        return IntegerPacking(0, 0, [], "empty")
    if num_packs == 1:
        return IntegerPacking(sum(weights), sum(weights), [0] * len(weights), "single pack")
    budget = Budget(time_limit, seed=seed)
    search = _Search(weights, num_packs, budget, heuristic=strategy == "auto")
    search.relative_gap = relative_gap
    method = "bounds+heuristic"
    two_way = strategy == "auto" and num_packs == 2 and can_split(weights, len(weights) // 2)
    if not search.settled and two_way:
        search.improve(_two_way(weights))
        search.lower = search.upper
        method = "two-way split"
    if not search.settled:
        method = "patterns"
        if strategy == "assignment" or not search.prove_with_patterns():
            method = "assignment"
            search.prove_levels(LEVEL_SHARE)
            search.minimise()
    return IntegerPacking(
        search.upper,
        search.lower,
        search.best,
        method,
        {
            "cheap_bounds": search.bounds,
            "heuristic_objective": search.heuristic_value,
            "levels_refuted": search.levels_refuted,
            "pattern_solves": search.pattern_solves,
            "cp_sat_solves": budget.solves,
            "deterministic_time": budget.spent,
        },
    )


@dataclass(frozen=True)
class RationalPacking:
    """A packing of arbitrary loads: exact objective of the packing, certified lower bound."""

    objective: Fraction
    bound: Fraction
    assignment: list[int]
    details: dict[str, Any]


def solve_packing(
    loads: Sequence[Load],
    num_packs: int,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    strategy: str = "auto",
    relative_gap: float = 0.0,
) -> RationalPacking:
    """Pack real or rational loads: solve on integer loads floor(S*w) (exact when S*w is integral),
    score the packing exactly on the true loads, and divide the proven bound by S."""
    scaled = scale_loads(loads)
    result = solve_integer_packing(
        scaled.low,
        num_packs,
        time_limit=time_limit,
        seed=seed,
        strategy=strategy,
        relative_gap=relative_gap,
    )
    objective = packing_objective(loads, result.assignment, num_packs) if loads else Fraction(0)
    bound = min(objective, scaled.unscale(result.bound))
    details = {
        **result.details,
        # bounds and values in load units (exact when the scaling is; floored otherwise)
        "cheap_bounds": {
            name: scaled.unscale(value) for name, value in result.details["cheap_bounds"].items()
        }
        if "cheap_bounds" in result.details
        else {},
        "heuristic_objective": scaled.unscale(result.details.get("heuristic_objective", 0)),
        "method": result.method,
        "scale": str(scaled.scale),
        "exact_scaling": scaled.exact,
    }
    return RationalPacking(objective, bound, result.assignment, details)

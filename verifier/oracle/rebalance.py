"""Rebalance oracle: the best largest GPU load over all replica counts and placements.

Every instance first gets the staged placement (`staged`) and the cheap certified bounds. Small
ones (at most `SMALL_EXPERTS` experts and `SMALL_REPLICAS` replicas) are then searched end to end,
with the staged placement as incumbent: flat (global) shapes by enumerating replica counts with an
exact packing for each (`flat`), then, if that did not finish, and hierarchical shapes directly,
by the joint CP-SAT model (`endtoend`). Larger instances keep the staged placement, so their status
is "feasible" with an honest gap unless the placement meets a bound. Loads are scaled to integers
as in `scaling`; when that is inexact the model runs on floor(S*w), whose optimum is a certified
lower bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ortools.sat.python import cp_model

from verifier.model.objectives import rebalance_objective
from verifier.oracle.cpsat import Budget, integer_bound, status_name
from verifier.oracle.endtoend import EndToEndModel, canonical_placement
from verifier.oracle.flat import search_flat
from verifier.oracle.layout import Shape
from verifier.oracle.scaling import Load, exact_loads, scale_loads
from verifier.oracle.staged import rebalance_bounds, staged_placement

SMALL_EXPERTS = 16
SMALL_REPLICAS = 24
#: Share of the budget the staged placement (the incumbent) may use on small instances.
STAGED_SHARE = 0.25
#: Share of the small-instance budget the count enumeration (flat shapes) may use.
FLAT_SHARE = 0.5


@dataclass
class Placement:
    """Best placement found for one contract, its exact objective and certified bound."""

    phy2log: list[int]
    objective: Fraction
    bound: Fraction
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def proven(self) -> bool:
        return self.objective == self.bound


def is_small(shape: Shape) -> bool:
    return shape.num_experts <= SMALL_EXPERTS and shape.num_replicas <= SMALL_REPLICAS


def joint_search(
    loads: Sequence[Load], shape: Shape, incumbent: Sequence[int], budget: Budget
) -> tuple[Fraction, list[int] | None, dict[str, Any]]:
    """Certified bound from the joint search (and a better placement when it finds one)."""
    scaled = scale_loads(loads)
    floor_loads = [Fraction(w) for w in scaled.low]
    multiplier = math.lcm(*range(1, shape.max_replicas + 1))
    low = math.ceil(max(rebalance_bounds(floor_loads, shape).values()) * multiplier)
    incumbent_value = rebalance_objective(floor_loads, incumbent, shape.num_gpus) * multiplier
    upper = int(incumbent_value)  # integral: every W_e * multiplier / c_e is an integer
    info: dict[str, Any] = {"scale": str(scaled.scale * multiplier), "exact_scaling": scaled.exact}
    found: list[int] | None = None
    if low >= upper or budget.exhausted:
        return scaled.unscale(Fraction(min(low, upper), multiplier)), found, info
    model = EndToEndModel(scaled.low, shape, low, upper - 1)
    model.hint(canonical_placement(floor_loads, incumbent, shape))
    solver, status = budget.run(model.model)
    info["cp_sat"] = status_name(status)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        found = model.phy2log(solver)
    if status == cp_model.INFEASIBLE:
        proven = upper
    elif status == cp_model.OPTIMAL:
        proven = solver.value(model.cap)
    elif status == cp_model.MODEL_INVALID:
        proven = low
    else:  # the incumbent itself solves the floored problem, hence the min
        proven = min(upper, max(low, integer_bound(solver.best_objective_bound)))
    return scaled.unscale(Fraction(proven, multiplier)), found, info


def solve_placement(
    loads: Sequence[Load], shape: Shape, *, time_limit: float, seed: int
) -> Placement:
    """Best placement for `shape` (hierarchical when it has several nodes) within the budget."""
    weights = exact_loads(loads)
    bounds = rebalance_bounds(weights, shape)
    cheap = max(bounds.values())
    small = is_small(shape)
    staged_budget = time_limit * STAGED_SHARE if small else time_limit
    staged = staged_placement(weights, shape, time_limit=staged_budget, seed=seed)
    placement = Placement(
        staged.phy2log,
        staged.objective,
        cheap,
        "staged",
        {
            "cheap_bounds": bounds,
            "staged_objective": staged.objective,
            "stages": staged.stages,
        },
    )
    if small and not placement.proven:
        _solve_small(loads, weights, shape, placement, time_limit - staged_budget, seed)
    placement.bound = min(placement.bound, placement.objective)
    return placement


def _improve(
    placement: Placement, weights: Sequence[Fraction], phy2log: list[int], gpus: int
) -> None:
    value = rebalance_objective(weights, phy2log, gpus)
    if value < placement.objective:
        placement.phy2log, placement.objective = phy2log, value


def _solve_small(
    loads: Sequence[Load],
    weights: Sequence[Fraction],
    shape: Shape,
    placement: Placement,
    time_limit: float,
    seed: int,
) -> None:
    """End to end: count enumeration first for flat shapes, then the joint CP-SAT model."""
    if shape.num_nodes == 1:
        flat = search_flat(
            weights,
            shape,
            placement.phy2log,
            floor=placement.bound,
            time_limit=time_limit * FLAT_SHARE,
            seed=seed,
        )
        placement.details["count_enumeration"] = {
            "vectors": flat.vectors,
            "packed": flat.packed,
            "complete": flat.complete,
            "deterministic_time": flat.spent,
        }
        _improve(placement, weights, flat.phy2log, shape.num_gpus)
        placement.bound = max(placement.bound, flat.bound)
        placement.method = "counts+packing"
        time_limit -= flat.spent
        if flat.complete or placement.proven:
            return
    budget = Budget(max(0.0, time_limit), seed=seed)
    proven, found, info = joint_search(loads, shape, placement.phy2log, budget)
    placement.details["end_to_end"] = {**info, "deterministic_time": budget.spent}
    placement.bound = max(placement.bound, proven)
    placement.method = "end-to-end"
    if found is not None:
        _improve(placement, weights, found, shape.num_gpus)

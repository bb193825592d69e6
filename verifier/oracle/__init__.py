"""The exact oracle: proven optima where possible, certified lower bounds everywhere.

Every `Solution` is an honest interval: `bound <= OPT <= objective`, with `objective` recomputed
exactly (as a `Fraction`) from the returned assignment and `bound` a theorem, so any gap reported
against it is a true upper bound on the real gap. `status` is "optimal" when the two meet.

Reproducibility: `time_limit` is a *deterministic* budget (CP-SAT's `max_deterministic_time`, one
worker, fixed `seed`), and the oracle's own searches are bounded by step counts, so the same call
gives the same answer on every machine and every run. It is roughly, not exactly, seconds.

    solve_packing_layer(weights, num_packs)          n items into m packs of n/m, min max load
    solve_replication_layer(weights, num_phy)        min over counts of max load per replica
    solve_rebalance_layer(weights, R, G, N, K)       min max GPU load, end to end
    solve_layer(instance, layer)                     any of the above for an instance file's layer
    lower_bound(instance, layer)                     cheap certified bound at any size
    solve_budgeted_layer(instance, layer, budget)    OPT(K): min max GPU load within K moves
    solve_front_layer(instance, layer)               OPT(K) for K = 0 .. an optimum's moves
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from verifier.model.contract import Policy, hierarchical_rules_apply
from verifier.model.elastic import live_instance
from verifier.model.instances import (
    Instance,
    PackingInstance,
    RebalanceInstance,
    ReplicationInstance,
)
from verifier.model.objectives import relative_gap
from verifier.oracle.scaling import Load

if TYPE_CHECKING:
    from verifier.oracle.layout import Shape
    from verifier.oracle.migration import BudgetedPlan, Front

__all__ = [
    "Solution",
    "lower_bound",
    "solve_budgeted_layer",
    "solve_front_layer",
    "solve_layer",
    "solve_packing_layer",
    "solve_rebalance_layer",
    "solve_replication_layer",
]

POLICIES = ("auto", "hierarchical", "global")


@dataclass(frozen=True)
class Solution:
    """Best assignment found, its exact objective, and a certified lower bound on the optimum."""

    objective: Fraction  # exact value of `assignment` (real loads: the certified upper end)
    bound: Fraction  # certified lower bound on the optimum (== objective when proven)
    status: str  # "optimal" | "feasible" | "unknown"
    seconds: float  # wall-clock time taken (informational; the budget is deterministic)
    assignment: list[int] | None  # packing: pack per item; replication: count per expert;
    # rebalance: phy2log per slot (slot p on GPU p // (R / num_gpus))
    details: dict[str, Any]

    def gap(self) -> Fraction | None:
        """(objective - bound) / bound: 0 when proven, an upper bound on the true relative gap;
        None when unbounded (a zero bound under a nonzero objective)."""
        return relative_gap(self.objective, self.bound)


def _status(objective: Fraction, bound: Fraction, assignment: list[int] | None) -> str:
    if assignment is None:
        return "unknown"
    return "optimal" if objective == bound else "feasible"


def _check_weights(weights: Sequence[Load]) -> None:
    for index, value in enumerate(weights):
        if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
            raise ValueError(f"weights[{index}]: not a number: {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"weights[{index}]: not finite: {value!r}")
        if value < 0:
            raise ValueError(f"weights[{index}]: negative load {value!r}")


def json_ready(value: Any) -> Any:
    """Details as plain JSON data: exact rationals become "p/q" strings ("7" when whole)."""
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def _solver_details(extra: dict[str, Any], time_limit: float | None, seed: int | None) -> dict:
    """JSON-ready details (corpus records keep some of them as they are)."""
    from verifier.oracle.cpsat import ortools_version

    details: dict[str, Any] = {"solver": f"ortools {ortools_version()}", **extra}
    if time_limit is not None:
        details["time_limit"] = time_limit
        details["time_limit_kind"] = "deterministic (CP-SAT max_deterministic_time, 1 worker)"
        details["seed"] = seed
    return dict(json_ready(details))


def solve_packing_layer(
    weights: Sequence[Load],
    num_packs: int,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    relative_gap: float = 0.0,
) -> Solution:
    """Pack n items into `num_packs` packs of exactly n/num_packs items, minimising the largest
    pack load. `assignment[i]` is item i's pack. `relative_gap` > 0 stops once the certified gap
    is that small (status then "feasible" unless proven)."""
    from verifier.oracle.packing import solve_packing

    _check_weights(weights)
    if num_packs < 1:
        raise ValueError(f"num_packs must be >= 1, got {num_packs}")
    if len(weights) % num_packs:
        raise ValueError(f"num_packs ({num_packs}) must divide the {len(weights)} items")
    start = time.perf_counter()
    if not relative_gap >= 0:
        raise ValueError(f"relative_gap must be >= 0, got {relative_gap}")
    result = solve_packing(
        weights, num_packs, time_limit=time_limit, seed=seed, relative_gap=relative_gap
    )
    return Solution(
        result.objective,
        result.bound,
        _status(result.objective, result.bound, result.assignment),
        time.perf_counter() - start,
        result.assignment,
        _solver_details(result.details, time_limit, seed),
    )


def solve_replication_layer(weights: Sequence[Load], num_phy: int) -> Solution:
    """The minimum possible largest load per replica (every expert at least once, `num_phy` slots
    in all), by search over candidate values. `assignment[e]` is expert e's replica count."""
    from verifier.oracle.replication import optimal_counts, optimal_max_per_replica
    from verifier.oracle.scaling import exact_loads

    _check_weights(weights)
    if num_phy < len(weights):
        raise ValueError(f"num_phy ({num_phy}) < number of experts ({len(weights)})")
    if not weights and num_phy:
        raise ValueError("num_phy > 0 with no experts")
    start = time.perf_counter()
    loads = exact_loads(weights)
    optimum = optimal_max_per_replica(loads, num_phy)
    counts = optimal_counts(loads, num_phy) if loads else []
    details = {"method": "bisection over candidate values w/c", "exact": True}
    return Solution(optimum, optimum, "optimal", time.perf_counter() - start, counts, details)


def _summary(placement: Any) -> dict[str, Any]:
    return {
        "objective": placement.objective,
        "bound": placement.bound,
        "status": "optimal" if placement.proven else "feasible",
        "method": placement.method,
    }


def solve_rebalance_layer(
    weights: Sequence[Load],
    num_replicas: int,
    num_groups: int,
    num_nodes: int,
    num_gpus: int,
    *,
    policy: str = "auto",
    time_limit: float = 10.0,
    seed: int = 0,
) -> Solution:
    """The minimum possible largest GPU load over every replica count and placement.

    policy "auto": the hierarchical contract when num_groups % num_nodes == 0, else global;
    "hierarchical": insist on it; "global": unconstrained (one group, one node). End to end for
    small instances (see `rebalance.SMALL_EXPERTS`/`SMALL_REPLICAS`), staged with certified bounds
    above that. details["global_optimum"] is the unconstrained optimum (None when not proven) and
    details["global"] its objective/bound/status/method, so a report can say what the hierarchy
    costs. Details are JSON-ready: exact rationals appear as "p/q" strings, so read them back with
    Fraction(value).
    """
    from verifier.oracle.layout import Shape, check_shape
    from verifier.oracle.rebalance import solve_placement

    _check_weights(weights)
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {list(POLICIES)}, got {policy!r}")
    n = len(weights)
    check_shape(n, num_replicas, num_groups, num_nodes, num_gpus)
    divisible = num_groups % num_nodes == 0
    if policy == "hierarchical" and not divisible:
        raise ValueError(f"num_nodes ({num_nodes}) must divide num_groups ({num_groups})")
    contract = "hierarchical" if policy != "global" and divisible else "global"
    hierarchical = contract == "hierarchical" and num_nodes > 1  # one node: the same as global
    start = time.perf_counter()
    flat = Shape.flat(n, num_replicas, num_gpus)
    share = time_limit / 2 if hierarchical else time_limit
    if hierarchical:
        shape = Shape(n, num_replicas, num_groups, num_nodes, num_gpus)
        main = solve_placement(weights, shape, time_limit=share, seed=seed)
        unconstrained = solve_placement(weights, flat, time_limit=share, seed=seed)
    else:
        main = solve_placement(weights, flat, time_limit=share, seed=seed)
        unconstrained = main
    extra = {
        "contract": contract,
        **main.details,
        "method": main.method,
        "global": _summary(unconstrained),
        "global_optimum": unconstrained.objective if unconstrained.proven else None,
    }
    return Solution(
        main.objective,
        main.bound,
        _status(main.objective, main.bound, main.phy2log),
        time.perf_counter() - start,
        main.phy2log,
        _solver_details(extra, time_limit, seed),
    )


def _layer_solver(instance: Instance) -> Callable[[Sequence[Load], float, int], Solution]:
    if isinstance(instance, PackingInstance):
        return lambda w, t, s: solve_packing_layer(w, instance.num_packs, time_limit=t, seed=s)
    if isinstance(instance, ReplicationInstance):
        return lambda w, t, s: solve_replication_layer(w, instance.num_phy)
    return lambda w, t, s: solve_rebalance_layer(
        w,
        instance.num_replicas,
        instance.num_groups,
        instance.num_nodes,
        instance.num_gpus,
        time_limit=t,
        seed=s,
    )


def _check_layer(instance: Instance, layer: int) -> None:
    if not 0 <= layer < len(instance.weights):
        raise ValueError(f"layer {layer} out of range: the instance has {len(instance.weights)}")


def solve_layer(
    instance: Instance, layer: int, *, time_limit: float = 10.0, seed: int = 0
) -> Solution:
    """Solve one layer of an instance (packing, replication or rebalance, policy "auto"); under
    an active-ranks mask, the instance on its live ranks only (`verifier.model.elastic`)."""
    _check_layer(instance, layer)
    instance = _live(instance)
    return _layer_solver(instance)(instance.weights[layer], time_limit, seed)


def lower_bound(instance: Instance, layer: int) -> Fraction:
    """A cheap certified lower bound on one layer's optimum (no search; fine at any size)."""
    from verifier.oracle.bounds import rational_packing_bound
    from verifier.oracle.replication import optimal_max_per_replica
    from verifier.oracle.scaling import exact_loads
    from verifier.oracle.staged import rebalance_bounds

    _check_layer(instance, layer)
    instance = _live(instance)
    weights = instance.weights[layer]
    if isinstance(instance, PackingInstance):
        return rational_packing_bound(weights, instance.num_packs)
    if isinstance(instance, ReplicationInstance):
        return optimal_max_per_replica(exact_loads(weights), instance.num_phy)
    shape = instance_shape(instance)
    return max(rebalance_bounds(exact_loads(weights), shape).values())


def _live(instance: Instance) -> Instance:
    """A rebalance instance with dead ranks as the same loads on its live ranks only: slot p of
    the solution is the p-th live slot (the live GPUs' slots in order)."""
    if isinstance(instance, RebalanceInstance):
        return live_instance(instance)
    return instance


def instance_shape(instance: RebalanceInstance, policy: Policy = "auto") -> Shape:
    """The shape a rebalance instance is solved on: hierarchical when the contract applies to it
    (`hierarchical_rules_apply`), else flat (one group, one node)."""
    from verifier.oracle.layout import Shape

    n = len(instance.weights[0])
    if hierarchical_rules_apply(instance, policy):
        groups, nodes = instance.num_groups, instance.num_nodes
        return Shape(n, instance.num_replicas, groups, nodes, instance.num_gpus)
    return Shape.flat(n, instance.num_replicas, instance.num_gpus)


def _old_placement(instance: Instance, layer: int) -> list[int]:
    if not isinstance(instance, RebalanceInstance) or instance.old_phy2log is None:
        raise ValueError("a move budget needs a rebalance instance with an old placement")
    _check_layer(instance, layer)
    return instance.old_phy2log[layer]


def solve_budgeted_layer(
    instance: Instance,
    layer: int,
    budget: int | None = None,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
) -> BudgetedPlan:
    """OPT(K) of one layer: the least max GPU load within `budget` moves of the instance's old
    placement (default: the instance's `max_moves` for that layer), under the instance's contract
    (policy "auto"). Proven on small shapes, a certified interval above; `moves` of the plan."""
    from verifier.oracle.migration import solve_budgeted, unconstrained_plan

    old = _old_placement(instance, layer)
    assert isinstance(instance, RebalanceInstance)
    budget = instance.move_budget(layer) if budget is None else budget
    if budget is None or budget < 0:
        raise ValueError(f"a move budget must be an integer >= 0, got {budget!r}")
    shape = instance_shape(instance)
    weights = instance.weights[layer]
    start = time.perf_counter()
    free, nearest = unconstrained_plan(weights, shape, old, time_limit=time_limit, seed=seed)
    plan = solve_budgeted(
        weights, shape, old, budget, time_limit=time_limit, seed=seed,
        incumbents=[nearest], floor=free.bound,
    )  # fmt: skip
    plan.details = _solver_details(
        {**plan.details, "contract": _contract(shape), "seconds": time.perf_counter() - start},
        time_limit,
        seed,
    )
    return plan


def solve_front_layer(
    instance: Instance, layer: int, *, time_limit: float = 10.0, seed: int = 0
) -> Front:
    """The balance-vs-moves front of one layer: OPT(K) for K = 0 up to the fewest moves that reach
    the unconstrained optimum (`time_limit` per point, deterministic)."""
    from verifier.oracle.migration import solve_front

    old = _old_placement(instance, layer)
    assert isinstance(instance, RebalanceInstance)
    shape = instance_shape(instance)
    start = time.perf_counter()
    front = solve_front(instance.weights[layer], shape, old, time_limit=time_limit, seed=seed)
    front.unconstrained = _solver_details(
        {**front.unconstrained, "contract": _contract(shape),
         "seconds": time.perf_counter() - start},
        time_limit,
        seed,
    )  # fmt: skip
    return front


def _contract(shape: Shape) -> str:
    return "hierarchical" if shape.num_nodes > 1 else "global"

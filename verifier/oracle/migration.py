"""The migration-aware rebalance oracle: the best largest GPU load under a move budget.

OPT(K) is the least max GPU load over every placement (replica counts included) whose `moves`
from the old placement are at most K (`objectives.moves`: per GPU, the replicas it gains). Small
instances (`rebalance.is_small`) are searched exactly: flat shapes by enumerating replica counts
(`budgeted_counts`), hierarchical ones by one CP-SAT model (`MigrationModel`: replica counts,
placement and groups on nodes at once, like `endtoend`); both count copies[e][g] >=
y[e][g] - n_old[g][e] and sum them to at most K. The incumbent is the best plan known to be
within budget: the old placement itself (zero moves, when it keeps the contract) or,
along a front, the plan found for K - 1. Larger instances get a certified interval: the cheap
bounds below, the best known plan within budget above (the old placement, or the unconstrained
staged placement with its GPUs relabelled for fewest moves when that is within budget).

The front is OPT(K) for K = 0, 1, ... up to the first K whose plan is as good as the unconstrained
optimum (the fewest moves of an unconstrained optimum, when it is proven). Along it every plan is
kept as the next K's incumbent, and a bound proven for K + 1 also bounds K, so the intervals are
monotone. Budgets are CP-SAT's deterministic time, as everywhere in the oracle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ortools.sat.python import cp_model

from verifier.model.objectives import gpu_replica_counts, moves, rebalance_objective
from verifier.oracle.budgeted_counts import search_counts
from verifier.oracle.cpsat import Budget, integer_bound, new_model, status_name
from verifier.oracle.layout import Shape
from verifier.oracle.rebalance import Placement, is_small, solve_placement
from verifier.oracle.scaling import Load, exact_loads, scale_loads
from verifier.oracle.staged import rebalance_bounds

#: Deterministic seconds for relabelling an unconstrained plan's GPUs to fewest moves.
RELABEL_LIMIT = 1.0


@dataclass
class BudgetedPlan:
    """OPT(K) for one budget: the best plan found within it and a certified interval.

    `objective` is None when no plan within budget is known ("infeasible" when none exists: the
    old placement breaks the hierarchical contract and K moves cannot repair it)."""

    budget: int
    phy2log: list[int] | None
    objective: Fraction | None
    bound: Fraction
    moves: int | None
    details: dict[str, Any] = field(default_factory=dict)
    infeasible: bool = False

    @property
    def status(self) -> str:
        if self.infeasible:
            return "infeasible"
        if self.objective is None:
            return "unknown"
        return "optimal" if self.objective == self.bound else "feasible"


def keeps_contract(phy2log: Sequence[int], shape: Shape) -> bool:
    """Whether a placement keeps the shape's contract: every group whole on one node, each node
    holding groups_per_node groups (always true for one node)."""
    if shape.num_nodes == 1:
        return True
    per_node = shape.replicas_per_node
    node_of_group: dict[int, set[int]] = {}
    for slot, expert in enumerate(phy2log):
        node_of_group.setdefault(shape.group_of(expert), set()).add(slot // per_node)
    if any(len(nodes) != 1 for nodes in node_of_group.values()):
        return False
    per_node_groups = [0] * shape.num_nodes
    for nodes in node_of_group.values():
        per_node_groups[next(iter(nodes))] += 1
    return all(count == shape.groups_per_node for count in per_node_groups)


def relabel_for_fewest_moves(
    old: Sequence[int], new: Sequence[int], shape: Shape, *, seed: int = 0
) -> list[int]:
    """`new` with its GPUs renamed (nodes as wholes, GPUs within nodes) so that it needs the fewest
    moves from `old`; the load of every GPU is unchanged, so its objective is too. An assignment
    problem, solved by CP-SAT (deterministic budget; the identity when that runs out)."""
    gpus, slots = shape.num_gpus, shape.slots_per_gpu
    before, after = gpu_replica_counts(old, gpus), gpu_replica_counts(new, gpus)
    kept = [[sum((b & a).values()) for a in after] for b in before]  # old GPU i <- new GPU j
    model = new_model()
    node = shape.node_of_gpu
    put = [[model.new_bool_var(f"x{i}_{j}") for j in range(gpus)] for i in range(gpus)]
    nodes = [
        [model.new_bool_var(f"n{v}_{w}") for w in range(shape.num_nodes)]
        for v in range(shape.num_nodes)
    ]
    for i in range(gpus):
        model.add_exactly_one(put[i])
        model.add_exactly_one(put[j][i] for j in range(gpus))
        for j in range(gpus):
            model.add_implication(put[i][j], nodes[node(i)][node(j)])
    for v in range(shape.num_nodes):
        model.add_exactly_one(nodes[v])
        model.add_exactly_one(nodes[w][v] for w in range(shape.num_nodes))
    model.maximize(sum(kept[i][j] * put[i][j] for i in range(gpus) for j in range(gpus)))
    for i in range(gpus):
        model.add_hint(put[i][i], 1)
    solver, status = Budget(RELABEL_LIMIT, seed=seed).run(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return list(new)
    order = [next(j for j in range(gpus) if solver.value(put[i][j])) for i in range(gpus)]
    renamed = [e for j in order for e in sorted(new[j * slots : (j + 1) * slots])]
    return renamed if moves(old, renamed, gpus) <= moves(old, new, gpus) else list(new)


class MigrationModel:
    """Replication and placement with a move budget: at most `budget` copies from `old`.

    Disaggregated by replica count: y[e][c][g] replicas of expert e on GPU g when e has c
    replicas (their sum over g is c times the one-hot a[e][c]), so every GPU load is linear,
    sum of y[e][c][g] * W_e / c, with loads scaled by lcm(1..c_max) to stay integral. No
    symmetry breaking: the old placement tells GPUs, nodes and experts apart. Hierarchical
    shapes add u[h][v] (group h on node v), each node taking groups_per_node groups.
    """

    def __init__(
        self,
        loads: Sequence[int],
        shape: Shape,
        old: Sequence[int],
        budget: int,
        low: int,
        high: int,
    ) -> None:
        self.shape = shape
        c_max = shape.max_replicas
        multiplier = math.lcm(*range(1, c_max + 1))
        model = new_model()
        n, gpus, slots = shape.num_experts, shape.num_gpus, shape.slots_per_gpu
        top = min(slots, c_max)
        share = [[loads[e] * multiplier // c for c in range(1, c_max + 1)] for e in range(n)]
        self.count = [[model.new_bool_var(f"a{e}_{c}") for c in range(c_max)] for e in range(n)]
        parts = [
            [[model.new_int_var(0, min(top, c + 1), f"y{e}_{c}_{g}") for g in range(gpus)]
             for c in range(c_max)]
            for e in range(n)
        ]  # fmt: skip
        self.y = [
            [sum(parts[e][c][g] for c in range(c_max)) for g in range(gpus)] for e in range(n)
        ]
        self.cap = model.new_int_var(low, high, "cap")
        for e in range(n):
            model.add_exactly_one(self.count[e])
            for c in range(c_max):
                model.add(sum(parts[e][c]) == (c + 1) * self.count[e][c])
                if share[e][c] > high:
                    model.add(self.count[e][c] == 0)  # one replica alone would exceed the cap
        for g in range(gpus):
            model.add(sum(self.y[e][g] for e in range(n)) == slots)
            load = sum(share[e][c] * parts[e][c][g] for e in range(n) for c in range(c_max))
            model.add(load <= self.cap)
        self._keep_groups_on_nodes(model)
        before = gpu_replica_counts(old, gpus)
        copies = []
        for e in range(n):
            for g in range(gpus):
                copy = model.new_int_var(0, slots, f"m{e}_{g}")
                model.add(copy >= self.y[e][g] - before[g][e])
                copies.append(copy)
        model.add(sum(copies) <= budget)
        model.minimize(self.cap)
        self.model = model

    def _keep_groups_on_nodes(self, model: cp_model.CpModel) -> None:
        shape = self.shape
        if shape.num_nodes == 1:
            return
        nodes = range(shape.num_nodes)
        on = [[model.new_bool_var(f"u{h}_{v}") for v in nodes] for h in range(shape.num_groups)]
        for h in range(shape.num_groups):
            model.add_exactly_one(on[h])
        for v in nodes:
            model.add(sum(on[h][v] for h in range(shape.num_groups)) == shape.groups_per_node)
        for e, row in enumerate(self.y):
            for g, placed in enumerate(row):
                model.add(placed == 0).only_enforce_if(
                    on[shape.group_of(e)][shape.node_of_gpu(g)].Not()
                )

    def hint(self, phy2log: Sequence[int]) -> None:
        """Hint a placement's replica counts."""
        counts = [0] * self.shape.num_experts
        for expert in phy2log:
            counts[expert] += 1
        for e, row in enumerate(self.count):
            for c, var in enumerate(row):
                self.model.add_hint(var, counts[e] == c + 1)

    def phy2log(self, solver: cp_model.CpSolver) -> list[int]:
        """The solved placement, slot by slot (GPU by GPU, experts in order within a GPU)."""
        shape = self.shape
        return [
            e
            for g in range(shape.num_gpus)
            for e in range(shape.num_experts)
            for _ in range(solver.value(self.y[e][g]))
        ]


def _best_within(
    weights: Sequence[Fraction],
    shape: Shape,
    old: Sequence[int],
    budget: int,
    candidates: Sequence[Sequence[int] | None],
) -> list[int] | None:
    """The lowest-load placement among `candidates` that keeps the contract within budget."""
    usable = [
        list(plan)
        for plan in candidates
        if plan is not None
        and keeps_contract(plan, shape)
        and moves(old, plan, shape.num_gpus) <= budget
    ]
    return min(usable, key=lambda p: rebalance_objective(weights, p, shape.num_gpus), default=None)


def solve_budgeted(
    loads: Sequence[Load],
    shape: Shape,
    old: Sequence[int],
    budget: int,
    *,
    time_limit: float,
    seed: int,
    incumbents: Sequence[Sequence[int] | None] = (),
    floor: Fraction | None = None,
) -> BudgetedPlan:
    """OPT(`budget`) for one layer: proven on small shapes within the time limit, else an
    interval. `incumbents` are further plans to start from (used only when within budget);
    `floor` a certified bound on the unconstrained optimum (OPT(K) is at least that)."""
    weights = exact_loads(loads)
    cheap = max([*rebalance_bounds(weights, shape).values(), *([floor] if floor else [])])
    best = _best_within(weights, shape, old, budget, [old, *incumbents])
    plan = _plan(weights, shape, old, budget, best, cheap, {"method": "incumbent"})
    if is_small(shape) and plan.status != "optimal":
        work = Budget(time_limit, seed=seed)
        if shape.num_nodes == 1:
            _search_counts(weights, shape, old, plan, work)
        else:
            _search(loads, shape, old, plan, work)
    if plan.objective is not None:
        plan.bound = min(plan.bound, plan.objective)
    return plan


def _plan(
    weights: Sequence[Fraction],
    shape: Shape,
    old: Sequence[int],
    budget: int,
    phy2log: list[int] | None,
    bound: Fraction,
    details: dict[str, Any],
) -> BudgetedPlan:
    if phy2log is None:
        return BudgetedPlan(budget, None, None, bound, None, details)
    objective = rebalance_objective(weights, phy2log, shape.num_gpus)
    used = moves(old, phy2log, shape.num_gpus)
    return BudgetedPlan(budget, phy2log, objective, min(bound, objective), used, details)


def _search(
    loads: Sequence[Load], shape: Shape, old: Sequence[int], plan: BudgetedPlan, budget: Budget
) -> None:
    """The CP-SAT search of a small instance: improves `plan` and its bound in place."""
    scaled = scale_loads(loads)
    floor_loads = [Fraction(w) for w in scaled.low]
    multiplier = math.lcm(*range(1, shape.max_replicas + 1))
    low = math.ceil(max(rebalance_bounds(floor_loads, shape).values()) * multiplier)
    if plan.phy2log is not None:
        upper = int(rebalance_objective(floor_loads, plan.phy2log, shape.num_gpus) * multiplier)
        high = upper - 1
    else:
        upper, high = None, sum(scaled.low) * multiplier
    info: dict[str, Any] = {"scale": str(scaled.scale * multiplier), "exact_scaling": scaled.exact}
    plan.details.update(method="budgeted end-to-end", end_to_end=info)
    if low > high:
        proven = low if upper is None else upper
    else:
        model = MigrationModel(scaled.low, shape, old, plan.budget, low, high)
        if plan.phy2log is not None:
            model.hint(plan.phy2log)
        solver, status = budget.run(model.model)
        info.update(cp_sat=status_name(status), deterministic_time=budget.spent)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            _adopt(plan, loads, shape, old, model.phy2log(solver))
        if status == cp_model.INFEASIBLE:
            if upper is None:
                plan.infeasible = True
                return
            proven = upper
        elif status == cp_model.OPTIMAL:
            proven = solver.value(model.cap)
        else:  # an incumbent, when there is one, solves the floored problem: hence the min
            found = integer_bound(solver.best_objective_bound)
            proven = max(low, found) if math.isfinite(solver.best_objective_bound) else low
            proven = proven if upper is None else min(upper, proven)
    plan.bound = max(plan.bound, scaled.unscale(Fraction(proven, multiplier)))


def _search_counts(
    weights: Sequence[Fraction], shape: Shape, old: Sequence[int], plan: BudgetedPlan, work: Budget
) -> None:
    """The count enumeration of a small flat instance: improves `plan` and its bound in place."""
    found = search_counts(
        weights, shape, old, plan.budget, plan.phy2log, floor=plan.bound, work=work
    )
    plan.details.update(
        method="budgeted counts+placement",
        count_enumeration={
            "vectors": found.vectors,
            "placed": found.placed,
            "complete": found.complete,
            "deterministic_time": work.spent,
        },
    )
    if found.phy2log is not None:
        _adopt(plan, weights, shape, old, found.phy2log)
    plan.bound = max(plan.bound, found.bound)
    plan.infeasible = found.complete and found.phy2log is None


def _adopt(
    plan: BudgetedPlan, loads: Sequence[Load], shape: Shape, old: Sequence[int], found: list[int]
) -> None:
    objective = rebalance_objective(exact_loads(loads), found, shape.num_gpus)
    if plan.objective is None or objective < plan.objective:
        plan.phy2log, plan.objective = found, objective
        plan.moves = moves(old, found, shape.num_gpus)


def unconstrained_plan(
    loads: Sequence[Load], shape: Shape, old: Sequence[int], *, time_limit: float, seed: int
) -> tuple[Placement, list[int]]:
    """The unconstrained optimum (as the plain oracle solves it) and its plan with GPUs renamed
    for fewest moves from `old`: an incumbent for every budget it fits, and a floor for all."""
    free = solve_placement(loads, shape, time_limit=time_limit, seed=seed)
    return free, relabel_for_fewest_moves(old, free.phy2log, shape, seed=seed)


@dataclass
class Front:
    """OPT(K) for K = 0 .. `points[-1].budget`, and the unconstrained optimum it ends at."""

    points: list[BudgetedPlan]
    unconstrained: dict[str, Any]


def solve_front(
    loads: Sequence[Load],
    shape: Shape,
    old: Sequence[int],
    *,
    time_limit: float,
    seed: int,
    known: tuple[Fraction, Fraction] | None = None,
) -> Front:
    """The balance-vs-moves front of one layer: OPT(K) from K = 0 until a plan within budget is as
    good as the unconstrained optimum (`time_limit` per point, deterministic). `known` is the
    unconstrained optimum's (objective, certified bound) when known already (a corpus record's):
    its solve is skipped, and so is its renamed plan as an incumbent."""
    weights = exact_loads(loads)
    nearest: list[int] | None = None
    if known is None:
        free, nearest = unconstrained_plan(loads, shape, old, time_limit=time_limit, seed=seed)
        known = free.objective, free.bound
    objective, bound = known
    end = shape.num_replicas if nearest is None else moves(old, nearest, shape.num_gpus)
    unconstrained: dict[str, Any] = {
        "objective": objective,
        "bound": bound,
        "status": "optimal" if objective == bound else "feasible",
    }
    points: list[BudgetedPlan] = []
    previous: list[int] | None = None
    for budget in range(end + 1):
        point = solve_budgeted(
            weights,
            shape,
            old,
            budget,
            time_limit=time_limit,
            seed=seed,
            incumbents=[previous, nearest],
            floor=bound,
        )
        points.append(point)
        previous = point.phy2log or previous
        if point.objective is not None and point.objective <= objective:
            break
    for index in range(len(points) - 2, -1, -1):  # OPT(K) >= OPT(K + 1) >= bound(K + 1)
        earlier, later = points[index], points[index + 1]
        if not earlier.infeasible:
            earlier.bound = max(earlier.bound, later.bound)
            if earlier.objective is not None:
                earlier.bound = min(earlier.bound, earlier.objective)
    unconstrained["moves"] = points[-1].moves  # the plan that reached the unconstrained optimum
    return Front(points, unconstrained)

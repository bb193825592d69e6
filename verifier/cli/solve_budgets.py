"""`solve` on instances with an old placement: OPT(K) under a move budget, or the whole front.

`eplb-verify solve INSTANCE` with `old_phy2log` and `max_moves` proves OPT(K) per layer (the least
max GPU load within K moves) and prints the moves of the plan it returns; `--front` prints OPT(K)
for K = 0 up to the fewest moves of an unconstrained optimum. Statuses: "optimal" (proven),
"feasible" (a certified interval [bound, objective]), "infeasible" (no plan keeps the hierarchical
contract within K moves of an old placement that breaks it), "unknown" (no plan found in time).
"""

from __future__ import annotations

from fractions import Fraction
from functools import partial
from typing import Any

from verifier.model.instances import RebalanceInstance
from verifier.oracle import json_ready, solve_budgeted_layer, solve_front_layer
from verifier.oracle.distribute import Distributor
from verifier.oracle.migration import BudgetedPlan, Front


def _exact(value: Any) -> str | None:
    return None if value is None else str(value)


def plan_record(plan: BudgetedPlan) -> dict[str, Any]:
    """One budget's result as JSON: floats for reading, exact "p/q" strings for checking."""
    return {
        "max_moves": plan.budget,
        "status": plan.status,
        "objective": None if plan.objective is None else float(plan.objective),
        "bound": None if plan.infeasible else float(plan.bound),  # no plan: nothing to bound
        "moves": plan.moves,
        "objective_exact": _exact(plan.objective),
        "bound_exact": None if plan.infeasible else str(plan.bound),
        "assignment": plan.phy2log,
        "details": json_ready(plan.details),
    }


def front_record(layer: int, front: Front) -> dict[str, Any]:
    """One layer's front as JSON: the unconstrained optimum and one point per budget."""
    free = front.unconstrained  # JSON-ready already: exact values as "p/q"
    unconstrained = {
        **free,
        "objective": float(Fraction(free["objective"])),
        "bound": float(Fraction(free["bound"])),
        "objective_exact": free["objective"],
        "bound_exact": free["bound"],
    }
    return {"layer": layer, "unconstrained": unconstrained,
            "points": [plan_record(point) for point in front.points]}  # fmt: skip


def solve_budgets(
    instance: RebalanceInstance,
    distributor: Distributor,
    *,
    front: bool,
    time_limit: float,
    seed: int,
) -> list[dict[str, Any]]:
    """Every layer's OPT(max_moves) (or front), solved on `distributor`, as JSON records."""
    layers = range(len(instance.weights))
    if front:
        fronts = distributor.map(
            partial(solve_front_layer, instance, time_limit=time_limit, seed=seed), layers
        )
        return [front_record(layer, result) for layer, result in enumerate(fronts)]
    plans = distributor.map(
        partial(solve_budgeted_layer, instance, time_limit=time_limit, seed=seed), layers
    )
    return [
        {"layer": layer, **plan_record(plan)} for layer, plan in zip(layers, plans, strict=True)
    ]


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def print_budgets(path: str, records: list[dict[str, Any]], *, front: bool) -> None:
    """The terminal view: one table per layer (front), or one row per layer (budgets)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    columns = ("max_moves", "objective", "status", "bound", "moves", "seconds")
    if not front:
        contract = records[0]["details"]["contract"] if records else ""
        table = Table(title=f"{path} ({contract}): OPT(K) within max_moves", title_justify="left")
        for column in ("layer", *columns):
            table.add_column(column, justify="right")
        for record in records:
            cells = [record[c] for c in columns[:-1]] + [round(record["details"]["seconds"], 2)]
            table.add_row(str(record["layer"]), *map(_cell, cells))
        console.print(table)
        return
    for record in records:
        free = record["unconstrained"]
        title = (
            f"{path} layer {record['layer']} ({free['contract']}): unconstrained optimum "
            f"{free['objective']:.6g} ({free['status']}), reached with "
            f"{free['moves']} moves; {free['seconds']:.2f} s"
        )
        table = Table(title=title, title_justify="left")
        for column in columns[:-1]:
            table.add_column(column, justify="right")
        for point in record["points"]:
            table.add_row(*(_cell(point[c]) for c in columns[:-1]))
        console.print(table)

"""Reproducible CP-SAT runs: one worker, a fixed seed, and a *deterministic* time budget.

A wall-clock limit is not reproducible (the same run stops at a different node on a busy machine),
so every solve here is bounded by CP-SAT's `max_deterministic_time`, a work count that CP-SAT
reports in "deterministic seconds" (close to, but not the same as, seconds of wall time). With one
worker and a fixed seed the same model gives the same answer on every run. A `Budget` is shared by
the several solves of one oracle call so the caller's `time_limit` bounds their sum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ortools.sat.python import cp_model

#: Smallest budget worth starting a solve for (deterministic seconds).
MIN_SOLVE_BUDGET = 1e-3
#: Parameters for the many tiny models of an enumeration (one placement per count vector): no LP
#: relaxation and no probing, whose set-up costs more than such a model's whole search (measured:
#: about half the time of the budgeted count enumeration, the same proofs).
LIGHT: Mapping[str, Any] = {"linearization_level": 0, "cp_model_probing_level": 0}


class Model(cp_model.CpModel):
    """A `CpModel` without the camelCase aliases ortools adds to every new model.

    ortools wraps each `add_*`/`new_*` method in a deprecated camelCase alias when a model is built,
    about half a millisecond per model: most of the time of the oracle's many small models (the
    pattern proofs, one placement per count vector). The oracle uses the snake_case names only;
    the model itself (its proto) is the same.
    """

    def _add_pre_pep8_methods(self) -> None:
        """No camelCase aliases."""


def new_model() -> cp_model.CpModel:
    """A fresh, empty CP-SAT model (see `Model`)."""
    return Model()


@dataclass
class Budget:
    """Deterministic seconds left for CP-SAT, and how many were spent."""

    remaining: float
    seed: int = 0
    workers: int = 1
    spent: float = 0.0
    solves: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def exhausted(self) -> bool:
        return self.remaining < MIN_SOLVE_BUDGET

    def solver(
        self, limit: float | None = None, options: Mapping[str, Any] | None = None
    ) -> cp_model.CpSolver:
        """A solver bounded by `limit` (or everything left), one worker, fixed seed; `options`
        are further CP-SAT parameters (e.g. `LIGHT`)."""
        solver = cp_model.CpSolver()
        for name, value in (options or {}).items():
            setattr(solver.parameters, name, value)
        allowed = self.remaining if limit is None else min(limit, self.remaining)
        solver.parameters.max_deterministic_time = max(allowed, MIN_SOLVE_BUDGET)
        solver.parameters.random_seed = self.seed
        solver.parameters.num_workers = self.workers
        # CP-SAT's own Ctrl-C catching resets SIGINT to the default action after each solve, so a
        # later Ctrl-C killed the process without its summary (Python's handler was gone).
        solver.parameters.catch_sigint_signal = False
        if self.workers > 1:
            solver.parameters.interleave_search = True
        return solver

    def charge(self, seconds: float) -> None:
        """Count work done outside CP-SAT (model building, enumeration) against the budget, as a
        deterministic estimate computed from sizes, never from a clock."""
        self.spent += seconds
        self.remaining = max(0.0, self.remaining - seconds)

    def run(
        self,
        model: cp_model.CpModel,
        limit: float | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> tuple[cp_model.CpSolver, Any]:
        """Solve `model` within the budget; returns the solver (for values) and its status."""
        solver = self.solver(limit, options)
        status = solver.solve(model)
        used = solver.deterministic_time
        self.spent += used
        self.remaining = max(0.0, self.remaining - used)
        self.solves += 1
        return solver, status


_NAMES = {
    cp_model.OPTIMAL: "OPTIMAL",
    cp_model.FEASIBLE: "FEASIBLE",
    cp_model.INFEASIBLE: "INFEASIBLE",
    cp_model.MODEL_INVALID: "MODEL_INVALID",
    cp_model.UNKNOWN: "UNKNOWN",
}


def status_name(status: Any) -> str:
    return _NAMES.get(status, "UNKNOWN")


def ortools_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ortools")
    except PackageNotFoundError:  # pragma: no cover - ortools imported fine, metadata missing
        return "unknown"


def integer_bound(value: float) -> int:
    """A CP-SAT objective bound (a float) as a valid integer bound on an integer objective: a value
    within float noise of an integer is that integer, anything else rounds up."""
    nearest = round(value)
    if abs(value - nearest) <= 1e-9 * max(1.0, abs(value)):
        return int(nearest)
    return math.ceil(value)

"""Building records: the oracle's per-layer results and each reference variant's baseline.

A variant's objective is always recomputed exactly (Fractions) from its assignment, never taken
from its own float sums. The oracle is run with a fixed seed and a deterministic time limit, so a
record can be re-derived.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

from verifier.calls import call_args, function_for, natural_dtype
from verifier.corpus.schema import (
    Baseline,
    CorpusEntry,
    OracleLayer,
    OracleRecord,
    Provenance,
)
from verifier.corpus.store import record_path, save_new_entry
from verifier.distribute import Distributor, map_in_order
from verifier.instances import Instance, PackingInstance, num_items, num_layers
from verifier.invariants import check_call, integer_outputs
from verifier.metamorphic import layer_objectives as shared_layer_objectives
from verifier.worker import CallOutcome, outcome_of_result

DEFAULT_TIME_LIMIT = 10.0  # deterministic seconds per layer
ORACLE_SEED = 0
# Beyond this many items per layer a packing solve is pointless; the record keeps the cheap bound.
MAX_SOLVED_PACKING_ITEMS = 512
# What of the oracle's details a record keeps (small, JSON-ready; the report reads them).
KEPT_DETAILS = ("method", "contract", "global_optimum", "global", "cheap_bounds", "exact_scaling")

Report = Callable[[str], None]


def _ignore(_message: str) -> None:
    return None


# --------------------------------------------------------------------------- running candidates


@dataclass(frozen=True)
class VariantRun:
    """What one candidate returned on one instance, as plain data (see `verifier.worker`)."""

    function: str
    outcome: CallOutcome
    seconds: float

    def outputs(self) -> dict[str, Any]:
        """The outputs by name as nested lists of ints (only valid once the contract holds)."""
        return integer_outputs(self.outcome, self.function)


def weight_tensor(instance: Instance) -> Any:
    """The instance's loads as a [layers, n] tensor of the dtype `check` uses for it."""
    import torch

    dtype = getattr(torch, natural_dtype(instance))
    shape = (num_layers(instance), num_items(instance))
    return torch.tensor(instance.weights, dtype=dtype).reshape(shape)


def implementation(candidate: Any, function: str) -> Any:
    """The candidate's `function`: an attribute (reference variants, modules) or an entry of a
    resolved `verifier.candidates.Candidate`'s `functions`."""
    functions = getattr(candidate, "functions", None)
    if isinstance(functions, dict):
        return functions[function]
    return getattr(candidate, function)


def run_variant(candidate: Any, instance: Instance) -> VariantRun:
    """Call the candidate's function for this problem in-process (trusted reference code).

    Exceptions propagate; the returned outputs are converted to plain data once, so that the
    shared invariant checker and the objectives read the same values.
    """
    import torch

    function = function_for(instance)
    weight = weight_tensor(instance)
    snapshot = weight.clone()
    start = time.perf_counter()
    result = implementation(candidate, function)(weight, *call_args(instance))
    seconds = time.perf_counter() - start
    mutated = not torch.equal(weight, snapshot)
    return VariantRun(function, outcome_of_result(result, mutated=mutated), seconds)


def invariant_problems(instance: Instance, run: VariantRun) -> list[str]:
    """Contract violations of one run, as messages (the shared checker, never a twin)."""
    findings = check_call(run.function, instance, run.outcome)
    return [finding.message for finding in findings if finding.is_violation]


def layer_objectives(instance: Instance, run: VariantRun) -> list[Fraction]:
    """The exact objective of every layer, recomputed from the assignment (the shared
    `verifier.metamorphic.layer_objectives`: replica counts come from phy2log, never from the
    candidate's own logcnt, so a wrong count cannot flatter the objective)."""
    return shared_layer_objectives(run.function, instance, run.outputs())


def reference_variants() -> dict[str, Any]:
    """Every reference variant, by name (the candidates baselines are recorded for)."""
    from reference import VARIANTS

    return dict(VARIANTS)


# --------------------------------------------------------------------------- oracle record


def solver_version() -> str:
    """Which oracle produced a record: the tool's version and OR-Tools'."""
    from verifier import __version__
    from verifier.oracle.cpsat import ortools_version

    return f"verifier.oracle {__version__}; ortools {ortools_version()}"


def should_solve(instance: Instance) -> bool:
    """Whether to run the oracle's solver (else only the cheap certified bound).

    Rebalance always: the oracle itself goes end to end on small instances and staged, with a
    certified bound, on large ones.
    """
    if isinstance(instance, PackingInstance):
        return num_items(instance) <= MAX_SOLVED_PACKING_ITEMS
    return True


def _solved_layer(instance: Instance, layer: int, time_limit: float) -> OracleLayer:
    from verifier.oracle import solve_layer

    solution = solve_layer(instance, layer, time_limit=time_limit, seed=ORACLE_SEED)
    objective = None if solution.status == "unknown" else Fraction(solution.objective)
    details = {key: solution.details[key] for key in KEPT_DETAILS if key in solution.details}
    return OracleLayer(
        objective, Fraction(solution.bound), solution.status, solution.seconds, details
    )


def _bound_layer(instance: Instance, layer: int) -> OracleLayer:
    from verifier.oracle import lower_bound

    start = time.perf_counter()
    bound = Fraction(lower_bound(instance, layer))
    return OracleLayer(None, bound, "unknown", time.perf_counter() - start)


def oracle_record(
    instance: Instance,
    *,
    time_limit: float | None = None,
    solve: bool | None = None,
    distributor: Distributor | None = None,
) -> OracleRecord:
    """Run the oracle on every layer (exact solve when `solve`, default: `should_solve`).

    `distributor` (scale-out hook) spreads the exact solves over processes or Ray; the record is
    the same as a sequential run's but for the informational `seconds`."""
    limit = DEFAULT_TIME_LIMIT if time_limit is None else time_limit
    solving = should_solve(instance) if solve is None else solve
    indices = range(num_layers(instance))
    if solving:
        layers = map_in_order(
            partial(_solved_layer, instance, time_limit=limit), indices, distributor
        )
    else:
        layers = [_bound_layer(instance, layer) for layer in indices]
    return OracleRecord(
        solver=solver_version(),
        method="solve" if solving else "bound",
        time_limit=limit if solving else None,
        seed=ORACLE_SEED,
        layers=layers,
    )


# --------------------------------------------------------------------------- baselines


def baseline_records(
    instance: Instance,
    oracle: OracleRecord,
    variants: Mapping[str, Any] | None = None,
    report: Report = _ignore,
) -> dict[str, Baseline]:
    """Each variant's exact objective per layer; a variant that breaks the contract, raises, or
    beats the oracle's bound gets no baseline (reported instead)."""
    baselines: dict[str, Baseline] = {}
    for name, candidate in (reference_variants() if variants is None else variants).items():
        try:
            run = run_variant(candidate, instance)
        except Exception as error:
            report(f"variant {name!r} raised {type(error).__name__}: {error}; no baseline")
            continue
        problems = invariant_problems(instance, run)
        if problems:
            report(f"variant {name!r} breaks the contract ({problems[0]}); no baseline")
            continue
        objectives = layer_objectives(instance, run)
        below = [
            index
            for index, (value, layer) in enumerate(zip(objectives, oracle.layers, strict=True))
            if value < layer.bound
        ]
        if below:
            report(
                f"variant {name!r} beats the oracle's certified bound on layer {below[0]} "
                "(an oracle bug?); no baseline"
            )
            continue
        baselines[name] = Baseline(objectives)
    return baselines


def today() -> str:
    return datetime.date.today().isoformat()


def add_instance(
    corpus_dir: str | Path,
    instance: Instance,
    provenance: Provenance,
    *,
    time_limit: float | None = None,
    solve: bool | None = None,
    variants: Mapping[str, Any] | None = None,
    date: str | None = None,
    report: Report = _ignore,
    distributor: Distributor | None = None,
) -> Path | None:
    """Solve, run the variants and write a new record atomically; None if it already exists.

    Safe when several processes add at once: the final write is exclusive (see `store`), so the
    same instance is never written twice. `provenance.date` defaults to today.
    """
    corpus_dir = Path(corpus_dir)
    if record_path(corpus_dir, instance).exists():
        return None
    oracle = oracle_record(instance, time_limit=time_limit, solve=solve, distributor=distributor)
    baselines = baseline_records(instance, oracle, variants, report)
    stamped = Provenance(**{**provenance.to_dict(), "date": date or provenance.date or today()})
    return save_new_entry(corpus_dir, CorpusEntry(instance, stamped, oracle, baselines))

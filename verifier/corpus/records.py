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

from verifier.candidates import reference_variants
from verifier.contract import call_args, function_for, natural_dtype
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
from verifier.judge import Verdict, judge
from verifier.sandbox import CallOutcome, outcome_of_result

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
    """What one candidate returned on one instance, as plain data (see `verifier.sandbox`)."""

    function: str
    outcome: CallOutcome
    seconds: float


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


def judge_run(instance: Instance, run: VariantRun) -> Verdict:
    """The shared judgement (`verifier.judge`): violations, else exact per-layer objectives
    recomputed from the assignment (replica counts from phy2log, never the candidate's logcnt)."""
    return judge(instance, run.outcome)


def violation_messages(verdict: Verdict) -> list[str]:
    return [finding.message for finding in verdict.violations]


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
        verdict = judge_run(instance, run)
        problems = violation_messages(verdict)
        if problems or verdict.objectives is None:
            first = problems[0] if problems else "outputs too large to judge"
            report(f"variant {name!r} breaks the contract ({first}); no baseline")
            continue
        objectives = list(verdict.objectives)
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

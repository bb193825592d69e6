"""Building records: the oracle's per-layer results and each reference variant's baseline.

A variant's objective is always recomputed exactly (Fractions) from its assignment, never taken
from its own float sums. The oracle is run with a fixed seed and a deterministic time limit, so a
record can be re-derived.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from fractions import Fraction
from functools import partial
from pathlib import Path

from verifier.calling.caller import call_on
from verifier.calling.candidates import reference_spec, reference_variants
from verifier.calling.pool import SandboxPool
from verifier.calling.sandbox import CallOutcome
from verifier.corpus.schema import (
    Baseline,
    CorpusEntry,
    OracleLayer,
    OracleRecord,
    Provenance,
)
from verifier.corpus.store import record_path, save_new_entry
from verifier.judging.judge import Verdict, judge
from verifier.model.contract import function_for
from verifier.model.errors import InstanceError
from verifier.model.instances import (
    Instance,
    PackingInstance,
    RebalanceInstance,
    num_items,
    num_layers,
)
from verifier.oracle.distribute import Distributor, map_in_order

DEFAULT_TIME_LIMIT = 10.0  # deterministic seconds per layer
ORACLE_SEED = 0
# Beyond this many items per layer a packing solve is pointless; the record keeps the cheap bound.
MAX_SOLVED_PACKING_ITEMS = 512
# What of the oracle's details a record keeps (small, JSON-ready; the report reads them).
KEPT_DETAILS = (
    "method", "contract", "global_optimum", "global", "cheap_bounds", "exact_scaling", "moves",
)  # fmt: skip

Report = Callable[[str], None]


def _ignore(_message: str) -> None:
    return None


# --------------------------------------------------------------------------- running variants

# Baselines are keyed by name ("greedy") and run by candidate spec ("reference:greedy"), in the
# sandbox like every other candidate call (`verifier.judging.judge`), so a variant that raises,
# hangs or
# crashes is a failed call, never the harness's own crash.
Variants = Mapping[str, str]  # baseline name -> candidate spec
CALL_TIMEOUT = 120.0  # seconds per variant call (the report's limit)


def variant_specs(names: Iterable[str] | None = None) -> dict[str, str]:
    """The reference variants' specs by name, in `reference.VARIANTS` order (or only `names`)."""
    every = reference_variants()
    chosen = every if names is None else names
    return {name: reference_spec(name) for name in chosen}


@contextmanager
def variant_pool(
    variants: Variants, pool: SandboxPool | None = None, *, timeout: float = CALL_TIMEOUT
) -> Iterator[SandboxPool]:
    """`pool` when given (one pool per command run), else a pool of `variants`' specs that
    starts at its first call (`run_variant`), so a run that calls nothing (a duplicate record,
    an empty selection) starts no sandbox."""
    if pool is not None:
        yield pool
        return
    with SandboxPool(list(variants.values()), timeout=timeout) as fresh:
        yield fresh


def run_variant(pool: SandboxPool, spec: str, instance: Instance) -> Verdict:
    """One sandboxed call of `spec` on the instance, judged (`verifier.judging.judge`): violations,
    else
    exact per-layer objectives recomputed from the assignment (never the candidate's sums).

    Starts the pool at its first call (`CandidateError` when a candidate cannot be loaded)."""
    if not pool.started:
        pool.start()
    function = function_for(instance)
    if function not in pool.functions(spec):
        return judge(instance, CallOutcome("error", error=f"{spec} defines no {function}"))
    return judge(instance, call_on(pool[spec], instance, spec=spec))


def call_failure(verdict: Verdict) -> str | None:
    """Why a call failed (raised, hung, crashed, outputs too large to judge); None if it did not."""
    outcome = verdict.outcome
    if verdict.status == "failed":
        verb = {"error": "raised", "timeout": "hung", "crash": "crashed"}.get(outcome.status)
        return f"{verb or outcome.status}: {outcome.error}"
    if verdict.status == "ok" and verdict.objectives is None:
        return "outputs too large to judge"
    return None


def violation_messages(verdict: Verdict) -> list[str]:
    return [finding.message for finding in verdict.violations]


# --------------------------------------------------------------------------- oracle record


def solver_version() -> str:
    """Which oracle produced a record: the tool's version and OR-Tools'."""
    from verifier.model.version import __version__
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


def solved_layer(
    instance: Instance, layer: int, time_limit: float, seed: int = ORACLE_SEED
) -> OracleLayer:
    """The oracle's exact solve of one layer (deterministic budget, fixed seed), as recorded;
    OPT(max_moves) for an instance with a move budget."""
    from verifier.oracle import solve_layer

    if has_move_budget(instance):
        return budgeted_layer(instance, layer, time_limit, seed)
    solution = solve_layer(instance, layer, time_limit=time_limit, seed=seed)
    objective = None if solution.status == "unknown" else Fraction(solution.objective)
    details = {key: solution.details[key] for key in KEPT_DETAILS if key in solution.details}
    return OracleLayer(
        objective, Fraction(solution.bound), solution.status, solution.seconds, details
    )


def has_move_budget(instance: Instance) -> bool:
    """A rebalance instance with an old placement and `max_moves`: its oracle layers are OPT(K),
    which bounds only plans within the budget (the reference variants plan from scratch, so such
    a record carries no variant baselines)."""
    return isinstance(instance, RebalanceInstance) and instance.max_moves is not None


def budgeted_layer(instance: Instance, layer: int, time_limit: float, seed: int) -> OracleLayer:
    """OPT(max_moves) of one layer as recorded (details: the plan's `moves`, contract, method)."""
    from verifier.oracle import solve_budgeted_layer

    plan = solve_budgeted_layer(instance, layer, time_limit=time_limit, seed=seed)
    if plan.objective is None:
        raise InstanceError(
            f"layer {layer}: no plan within max_moves found ({plan.status}); not recorded"
        )
    details = {key: plan.details[key] for key in KEPT_DETAILS if key in plan.details}
    details["moves"] = plan.moves
    seconds = float(plan.details.get("seconds", 0.0))
    return OracleLayer(plan.objective, plan.bound, plan.status, seconds, details)


def bound_layer(instance: Instance, layer: int) -> OracleLayer:
    """Only the oracle's cheap certified bound of one layer (records too large to solve)."""
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

    `distributor` spreads the exact solves over processes or Ray; the record is
    the same as a sequential run's but for the informational `seconds`."""
    limit = DEFAULT_TIME_LIMIT if time_limit is None else time_limit
    solving = should_solve(instance) if solve is None else solve
    indices = range(num_layers(instance))
    if solving:
        layers = map_in_order(
            partial(solved_layer, instance, time_limit=limit), indices, distributor
        )
    else:
        layers = [bound_layer(instance, layer) for layer in indices]
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
    variants: Variants | None = None,
    report: Report = _ignore,
    pool: SandboxPool | None = None,
) -> dict[str, Baseline]:
    """Each variant's exact objective per layer; a variant that fails (raises, hangs, crashes),
    breaks the contract or beats the oracle's bound gets no baseline (reported instead).

    `variants` default to every reference variant; `pool` (holding their specs) is reused when
    given, else one is started for this call. None for a record with a move budget (see
    `has_move_budget`)."""
    chosen = variant_specs() if variants is None else variants
    baselines: dict[str, Baseline] = {}
    if has_move_budget(instance):
        return baselines
    with variant_pool(chosen, pool) as boxes:
        for name, spec in chosen.items():
            verdict = run_variant(boxes, spec, instance)
            failure = call_failure(verdict)
            if failure is not None:
                report(f"variant {name!r} {failure}; no baseline")
                continue
            problems = violation_messages(verdict)
            if problems or verdict.objectives is None:
                first = problems[0] if problems else "no objectives"
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
    variants: Variants | None = None,
    date: str | None = None,
    report: Report = _ignore,
    distributor: Distributor | None = None,
    pool: SandboxPool | None = None,
) -> Path | None:
    """Solve, run the variants (in `pool`, when given) and write a new record atomically; None if
    it already exists.

    Safe when several processes add at once: the final write is exclusive (see `store`), so the
    same instance is never written twice. `provenance.date` defaults to today.
    """
    corpus_dir = Path(corpus_dir)
    if record_path(corpus_dir, instance).exists():
        return None
    oracle = oracle_record(instance, time_limit=time_limit, solve=solve, distributor=distributor)
    baselines = baseline_records(instance, oracle, variants, report, pool)
    stamped = Provenance(**{**provenance.to_dict(), "date": date or provenance.date or today()})
    return save_new_entry(corpus_dir, CorpusEntry(instance, stamped, oracle, baselines))

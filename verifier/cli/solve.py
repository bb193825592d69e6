"""`eplb-verify solve INSTANCE.json`: the exact oracle on every layer of an instance file.

Prints, per layer, the best objective found, its status ("optimal" when proven), a certified lower
bound, the gap between them and the time taken; `--json` gives the same (plus the assignment and the
exact values as "p/q" strings) as one JSON object. The time limit is a deterministic budget per
layer (see `verifier.oracle`), so the same file gives the same answer on every run.

A rebalance instance with an old placement (`old_phy2log`) is a migration problem: with
`max_moves` it is solved under that move budget, `--front` gives OPT(K) for every budget up to the
fewest moves of an unconstrained optimum (see `solve_budgets`), and without either the plain optimum
is printed with the `moves` it needs from the old placement.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from fractions import Fraction
from typing import Any

from verifier.cli.exit_codes import EXIT_OK, EXIT_USAGE
from verifier.cli.scale_options import add_solve_distribution_options
from verifier.model.instances import Instance, RebalanceInstance


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("instance", help="instance file (JSON: packing, replication or rebalance)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="deterministic CP-SAT budget per layer (about seconds; reproducible) [10]",
    )
    parser.add_argument("--seed", type=int, default=0, help="CP-SAT random seed [0]")
    parser.add_argument(
        "--front",
        action="store_true",
        help="rebalance instances with old_phy2log: the balance-vs-moves front, the exact "
        "OPT(K) (least max GPU load within K moves) for K = 0 up to the fewest moves of an "
        "unconstrained optimum, per layer (--time-limit per point)",
    )
    add_solve_distribution_options(parser)  # --workers N, --ray ADDRESS


def _gap(objective: Fraction, bound: Fraction) -> float | None:
    """The relative gap as a float; None when unbounded (zero bound, nonzero objective)."""
    from verifier.model.objectives import relative_gap

    gap = relative_gap(objective, bound)
    return None if gap is None else float(gap)


def layer_record(layer: int, solution: Any) -> dict[str, Any]:
    """One layer's result as JSON: floats for reading, exact strings for checking."""
    from verifier.oracle import json_ready

    return {
        "layer": layer,
        "objective": float(solution.objective),
        "status": solution.status,
        "bound": float(solution.bound),
        "gap": _gap(solution.objective, solution.bound),
        "seconds": round(solution.seconds, 6),
        "objective_exact": str(solution.objective),
        "bound_exact": str(solution.bound),
        "assignment": solution.assignment,
        "details": json_ready(solution.details),
    }


def _format_gap(gap: float | None) -> str:
    return "inf" if gap is None else f"{gap:.4%}"


def _print_tables(path: str, problem: str, records: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{path}[/bold]: {problem}, {len(records)} layer(s)")
    for record in records:
        table = Table(title=f"layer {record['layer']}", title_justify="left")
        table.add_column("contract" if problem == "rebalance" else "", no_wrap=True)
        for column in ("objective", "status", "bound", "gap", "seconds", "method"):
            table.add_column(column, justify="left" if column in ("status", "method") else "right")
        details = record["details"]
        table.add_row(
            details.get("contract", problem),
            f"{record['objective']:.6g}",
            record["status"],
            f"{record['bound']:.6g}",
            _format_gap(record["gap"]),
            f"{record['seconds']:.2f}",
            str(details.get("method", "")),
        )
        unconstrained = details.get("global")
        if problem == "rebalance" and details.get("contract") == "hierarchical" and unconstrained:
            objective, bound = (
                Fraction(unconstrained["objective"]),
                Fraction(unconstrained["bound"]),
            )
            table.add_row(
                "global",
                f"{float(objective):.6g}",
                unconstrained["status"],
                f"{float(bound):.6g}",
                _format_gap(_gap(objective, bound)),
                "",
                unconstrained["method"],
            )
        console.print(table)


def _add_moves(instance: Instance, records: list[dict[str, Any]]) -> None:
    """The moves each layer's plan needs from the instance's old placement."""
    from verifier.model.objectives import moves

    assert isinstance(instance, RebalanceInstance) and instance.old_phy2log is not None
    for record, old in zip(records, instance.old_phy2log, strict=True):
        record["moves"] = moves(old, record["assignment"], instance.num_gpus)


def _solve_budgets(args: argparse.Namespace, instance: RebalanceInstance, distributor: Any) -> int:
    from verifier.cli.solve_budgets import print_budgets, solve_budgets

    records = solve_budgets(
        instance, distributor, front=args.front, time_limit=args.time_limit, seed=args.seed
    )
    if args.json:
        print(json.dumps({"problem": instance.problem, "front": args.front, "layers": records}))
    else:
        print_budgets(args.instance, records, front=args.front)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from verifier.model.errors import InstanceError
    from verifier.model.instances import load_instance

    if not (math.isfinite(args.time_limit) and args.time_limit > 0):
        print(
            f"eplb-verify solve: --time-limit must be > 0, got {args.time_limit}", file=sys.stderr
        )
        return EXIT_USAGE
    try:
        instance = load_instance(args.instance)
    except InstanceError as error:
        print(f"eplb-verify solve: {error}", file=sys.stderr)
        return EXIT_USAGE

    old_placement = isinstance(instance, RebalanceInstance) and instance.old_phy2log is not None
    if args.front and not old_placement:
        print(
            "eplb-verify solve: --front needs a rebalance instance with field 'old_phy2log'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    # the layers are solved by a Distributor (local processes or Ray)
    from functools import partial

    from verifier.cli.scale_options import open_distributor
    from verifier.oracle import solve_layer
    from verifier.oracle.distribute import DistributeError

    budgeted = isinstance(instance, RebalanceInstance) and instance.max_moves is not None
    solve = partial(solve_layer, instance, time_limit=args.time_limit, seed=args.seed)
    try:
        with open_distributor(args, args.instance) as distributor:
            if args.front or budgeted:
                assert isinstance(instance, RebalanceInstance)
                return _solve_budgets(args, instance, distributor)
            solutions = distributor.map(solve, range(len(instance.weights)))
    except DistributeError as error:
        print(f"eplb-verify solve: {error}", file=sys.stderr)
        return EXIT_USAGE
    records = [layer_record(layer, solution) for layer, solution in enumerate(solutions)]
    if old_placement:
        _add_moves(instance, records)
    if args.json:
        print(json.dumps({"problem": instance.problem, "layers": records}))
    else:
        _print_tables(args.instance, instance.problem, records)
    return EXIT_OK

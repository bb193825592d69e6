"""`eplb-verify report [CANDIDATE...] [--corpus DIR] [--out DIR]`: the optimality-gap report.

Runs every candidate (default: every reference variant) on every corpus record in the sandbox,
scores it exactly against the records' oracle results (no re-solving; only the balance-vs-moves
section solves small migration fronts, `runs.migration_runs`), and writes report.md,
report.html (self-contained), report.json and PNG plots. Exit codes: 0 ok; 1 a candidate broke the
contract, failed, or beat a certified bound (of the optimum, or of OPT at a plan's moves in the
balance-vs-moves section), or a record is broken; 2 usage error (no corpus, no
records, a candidate that cannot be loaded, an unwritable output folder, a malformed --trace).
With `--trace FILE` the generalisation section plans on the trace's windows instead of the corpus's
drift traces.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verifier.cli.api_options import add_api_options, api_from_args
from verifier.cli.exit_codes import EXIT_FINDINGS, EXIT_OK
from verifier.cli.options import usage_error
from verifier.cli.trace_options import add_trace_options

if TYPE_CHECKING:
    from verifier.calling.pool import SandboxPool

DEFAULT_OUT = "eplb-report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "candidates",
        nargs="*",
        metavar="CANDIDATE",
        help="candidates to compare (default: every reference variant)",
    )
    parser.add_argument(
        "--corpus",
        metavar="DIR",
        default=None,
        help="corpus directory (default: ./corpora if it exists, else the bundled corpus)",
    )
    parser.add_argument(
        "--out", metavar="DIR", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--family", action="append", metavar="NAME", help="only this family (repeatable)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="time limit per candidate call (default: 120)",
    )
    add_trace_options(parser, "the corpus's drift traces (generalisation section)")
    add_api_options(parser, layers=False)  # --api, --shared-instance


def _use_trace(data: Any, trace: Any, args: argparse.Namespace, console: Any) -> int:
    """The generalisation section from the user's trace instead of the corpus's drift traces;
    how many candidates failed or broke the contract on it."""
    from verifier.report.trace_generalisation import trace_generalisation

    with console.status(f"trace {trace.source}", spinner="dots") as status:
        found, problems = trace_generalisation(
            data.candidates,
            trace,
            timeout=args.timeout,
            api=api_from_args(args),
            fresh=not args.shared_instance,
            progress=lambda text: status.update(text),
        )
    data.generalisation = found
    for problem in problems:
        console.print(f"[yellow]not generalised on the trace:[/] {problem}", highlight=False)
    return len(problems)


def _measure_migration(
    specs: list[str], entries: list[Any], pool: SandboxPool, console: Any
) -> Any:
    """The balance-vs-moves section's cases (`runs.migration_runs`)."""
    from verifier.runs.migration_runs import measure_migration

    with console.status("balance against moves", spinner="dots") as status:
        return measure_migration(
            specs,
            entries,
            timeout=pool.timeout,
            pool=pool,
            progress=lambda text: status.update(text[:60]),
        )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from verifier.calling.candidates import default_reference_spec, reference_specs
    from verifier.calling.pool import SandboxPool
    from verifier.corpus import default_corpus_dir, load_corpus
    from verifier.report.metrics import build_report_data
    from verifier.report.migration_metrics import below_front
    from verifier.report.render_markdown import conclusions
    from verifier.report.write import write_report
    from verifier.runs.corpus_runs import measure_api_profiles, run_corpus

    if args.timeout <= 0:
        return usage_error("report", f"--timeout must be positive, got {args.timeout}")
    corpus = Path(args.corpus) if args.corpus else default_corpus_dir()
    if not corpus.is_dir():
        return usage_error("report", f"--corpus {corpus}: no such directory")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return usage_error("report", f"--out {out}: exists and is not a directory")
    trace = None
    if args.trace:
        from verifier.model.traces import load_trace

        trace = load_trace(args.trace, args.window)
    entries, broken = load_corpus(corpus)
    if args.family:
        entries = [entry for entry in entries if entry.family in args.family]
    if not entries:
        wanted = f" in families {args.family}" if args.family else ""
        return usage_error("report", f"no corpus records{wanted} in {corpus}")
    specs = list(dict.fromkeys(args.candidates)) or reference_specs()
    console = Console(stderr=True)
    for record in broken:
        console.print(f"[yellow]broken record skipped:[/] {record.message}", highlight=False)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # one pool for the whole run (the greedy plans the migration section's old placements)
    with SandboxPool(
        [*specs, default_reference_spec()],
        timeout=args.timeout,
        api=api_from_args(args),
        fresh=not args.shared_instance,
    ) as pool:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("starting", total=len(entries) * len(specs))

            def show(message: str, done: int) -> None:
                progress.update(task, description=message[:60], completed=done)

            results = run_corpus(specs, entries, progress=show, pool=pool)
        profiles = measure_api_profiles(specs, entries, timeout=args.timeout, pool=pool)
        migration = _measure_migration(specs, entries, pool, console)
    data = build_report_data(
        specs, results, broken_records=[record.message for record in broken], corpus=str(corpus)
    )
    data.api_profiles = profiles
    data.migration = migration
    trace_problems = 0 if trace is None else _use_trace(data, trace, args, console)
    try:
        files = write_report(data, out)
    except OSError as error:
        return usage_error("report", f"--out {out}: cannot write: {error.strerror or error}")
    for topic, sentences in conclusions(data).items():
        print(f"{topic}:")
        for sentence in sentences:
            print(f"  - {sentence}")
    print("\nwritten: " + ", ".join(str(path) for path in files.values()))
    bad = any(cell.invalid_runs or cell.failed_runs or cell.below_bound for cell in data.cells)
    bad = bad or bool(data.migration and data.migration.problems) or below_front(data.migration) > 0
    return EXIT_FINDINGS if bad or broken or trace_problems else EXIT_OK

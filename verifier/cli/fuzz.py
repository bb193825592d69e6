"""`eplb-verify fuzz CANDIDATE [--budget SECONDS] [--corpus DIR] [--seed N] [--json PATH]`.

A Hypothesis campaign against a candidate: every check of `eplb-verify check`, plus a search for
its worst optimality gaps. Live progress on stderr (cases per second, violations, worst gap);
at the end a summary, each violation's shrunk reproducer and the worst-gap instances; with
`--corpus` those are added to the corpus. Ctrl-C ends the campaign and keeps what it found.
Exit codes as `check`: 0 no violation; 1 violations; 2 usage error or a candidate that cannot be
loaded; 130 interrupted without violations.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verifier.cli.api_options import add_api_options, add_max_moves_option
from verifier.cli.arg_types import positive_float
from verifier.cli.baseline_options import add_baseline_options, baseline_problem
from verifier.cli.exit_codes import EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK
from verifier.cli.options import (
    add_candidate_argument,
    add_device_probe_option,
    add_policy_option,
    add_timeout_option,
    options_from_args,
    usage_error,
)
from verifier.cli.scale_options import add_campaign_scale_options, check_database, stderr_notify


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_candidate_argument(parser)
    parser.add_argument(
        "--budget",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="campaign length (default: 60)",
    )
    parser.add_argument("--seed", type=int, default=0, help="campaign seed (default: 0)")
    parser.add_argument(
        "--corpus", metavar="DIR", help="add reproducers and worst-gap instances to this corpus"
    )
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="oracle deterministic time per layer when adding to the corpus (default: 10)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    add_campaign_scale_options(parser, ".eplb-verify/examples")
    parser.add_argument(
        "--no-database", action="store_true", help="use no example database (nothing is saved)"
    )
    add_policy_option(parser)
    add_timeout_option(parser, default=10.0)
    add_baseline_options(parser)  # --baseline, --max-regression, --baseline-api
    add_device_probe_option(parser)
    add_api_options(parser)
    add_max_moves_option(parser)  # --max-moves K (migration.budget)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from verifier.cli.check import check_json_path
    from verifier.cli.views import FuzzProgress, render_result, render_worst_gaps
    from verifier.model.atomic import write_json_atomically
    from verifier.runs.fuzz import DEFAULT_DATABASE, FuzzCampaign, FuzzOptions, add_to_corpus

    if args.json is not None and (problem := check_json_path(args.json)):
        return usage_error("fuzz", problem)
    if problem := baseline_problem(args):
        return usage_error("fuzz", problem)
    corpus = Path(args.corpus) if args.corpus else None
    if corpus is not None and corpus.exists() and not corpus.is_dir():
        return usage_error("fuzz", f"--corpus {corpus}: exists and is not a directory")
    if args.no_database and args.database:
        return usage_error("fuzz", "--database and --no-database exclude each other")
    database = None if args.no_database else (args.database or str(DEFAULT_DATABASE))
    check_database(database)  # before any worker starts
    options = options_from_args(FuzzOptions, args, database=database)
    console = Console(width=None if sys.stdout.isatty() else 120)
    live = FuzzProgress(Console(stderr=True), args.candidate, args.budget)
    campaign = FuzzCampaign(args.candidate, options, progress=live.update)
    try:
        if args.workers > 1:
            from verifier.runs.parallel import parallel_fuzz

            notify = stderr_notify("fuzz")
            result = parallel_fuzz(args.candidate, options, args.workers, notify=notify)
        else:
            with live:
                result = campaign.run()
    except KeyboardInterrupt:  # between cases: the campaign itself keeps what it found
        result = campaign.result
        result.interrupted = True
    if result.interrupted:
        result.notes.append("interrupted: the summary covers the cases run so far")
    render_result(console, result.findings)
    render_worst_gaps(console, result)
    console.print(
        f"\n{result.cases} cases in {result.elapsed:.1f} s "
        f"({result.cases / max(result.elapsed, 1e-9):.1f}/s)"
        + (f"; example database: {database}" if database else ""),
        highlight=False,
    )
    if corpus is not None:
        try:
            add_to_corpus(
                result,
                corpus,
                time_limit=args.time_limit,
                report=lambda message: console.print(message, highlight=False),
            )
        except (OSError, ValueError) as error:
            console.print(f"[red]could not add to the corpus {corpus}: {error}[/]")
        except KeyboardInterrupt:
            result.interrupted = True
            result.notes.append("interrupted while adding to the corpus")
    if args.json is not None:
        try:
            write_json_atomically(args.json, result.to_dict())
        except OSError as error:
            return usage_error("fuzz", f"--json {str(args.json)!r}: cannot write: {error.strerror}")
        console.print(f"Results written to {args.json}")
    if result.exit_code:
        return EXIT_FINDINGS
    return EXIT_INTERRUPTED if result.interrupted else EXIT_OK

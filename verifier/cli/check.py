"""`eplb-verify check CANDIDATE`: conformance-check an EPLB implementation.

Runs the fixed edge-case suite and then Hypothesis-generated cases until the budget is spent,
with live progress on stderr, a summary table and a minimal reproducer (an instance file the other
commands accept) for every violation; `--sequence N` then drives one instance of a stateful policy
through N calls (`verifier.runs.sequence`). Exit 0: no violation; 1: violations (or, with --strict,
observations); 2: usage error or a candidate that cannot be loaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from verifier.cli.api_options import add_api_options, add_max_moves_option
from verifier.cli.arg_types import positive_float, positive_int
from verifier.cli.baseline_options import add_baseline_options, baseline_problem
from verifier.cli.exit_codes import EXIT_INTERRUPTED
from verifier.cli.options import (
    add_candidate_argument,
    add_device_probe_option,
    add_policy_option,
    add_timeout_option,
    options_from_args,
    usage_error,
)
from verifier.cli.scale_options import add_campaign_scale_options, check_database, stderr_notify
from verifier.cli.sequence_options import add_sequence_options, sequence_problem
from verifier.model.atomic import write_json_atomically
from verifier.model.instances import Instance

if TYPE_CHECKING:
    from verifier.runs.sequence import SequenceInput


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_candidate_argument(parser)
    parser.add_argument(
        "--budget",
        type=positive_float,
        default=30.0,
        metavar="SECONDS",
        help="time for generated cases after the edge-case suite (default: 30)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated cases")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every finding as JSON")
    add_policy_option(parser)
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda", "all"),
        default="cpu",
        help="run on CPU, on CUDA, or on both and compare (default: cpu)",
    )
    add_device_probe_option(parser)
    parser.add_argument(
        "--strict", action="store_true", help="observations fail the run too (exit 1)"
    )
    parser.add_argument(
        "--max-cases",
        type=positive_int,
        metavar="N",
        help="stop each function after N generated cases (the same cases on any machine)",
    )
    add_timeout_option(parser, default=10.0)
    parser.add_argument(
        "--replay",
        dest="replay_files",  # the option's instances are `replay`, read from these files
        type=Path,
        nargs="+",
        metavar="INSTANCE",
        help="check only these instance files (e.g. reproducers a run printed): every check "
        "on each, no edge cases, no generated cases",
    )
    add_campaign_scale_options(parser, "none: each run is deterministic")
    add_baseline_options(parser)  # --baseline, --max-regression, --baseline-api
    add_api_options(parser)  # --api and its axes, --shared-instance, --allow-cross-layer
    add_max_moves_option(parser)  # --max-moves K (migration.budget)
    add_sequence_options(parser)  # --sequence, --trace, --window


def check_json_path(path: Path) -> str | None:
    """Why `--json PATH` cannot be written (checked before the run, not after it); else None."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return f"--json {str(path)!r} is a directory"
    if not parent.is_dir():
        return f"--json {str(path)!r}: folder {str(parent)!r} does not exist"
    return None


def _replayed_instances(paths: list[Path] | None) -> tuple[Instance, ...]:
    """The `--replay` instance files, validated (a bad file raises `InstanceError`: exit 2)."""
    from verifier.model.instances import load_instance

    return tuple(load_instance(path) for path in paths or ())


def _sequence_input(args: argparse.Namespace) -> SequenceInput | None:
    """The sequence mode's loaded trace (`--sequence N`); None without it."""
    if args.sequence is None:
        return None
    from verifier.runs.sequence import SequenceOptions, sequence_input

    return sequence_input(SequenceOptions(args.sequence, args.trace, args.window))


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from verifier.cli.views import LiveProgress, render_result
    from verifier.runs.check import EngineOptions, prepare_check

    if args.json is not None and (problem := check_json_path(args.json)):
        return usage_error("check", problem)
    if args.replay_files and args.workers > 1:
        return usage_error("check", "--replay checks the given cases once: drop --workers")
    if problem := baseline_problem(args) or sequence_problem(args):
        return usage_error("check", problem)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            return usage_error("check", "--device cuda: CUDA is not available on this machine")
    options = options_from_args(EngineOptions, args, replay=_replayed_instances(args.replay_files))
    sequence = _sequence_input(args)  # a bad trace is exit 2 before the run
    check_database(args.database)  # before any worker starts
    console = Console(width=None if sys.stdout.isatty() else 120)
    interrupted = False
    if args.workers > 1:
        from verifier.runs.parallel import parallel_check

        result = parallel_check(
            args.candidate, options, args.workers, notify=stderr_notify("check")
        )
        interrupted = any(note.startswith("interrupted") for note in result.notes)
    else:
        live = LiveProgress(Console(stderr=True), args.candidate, options)
        check = prepare_check(args.candidate, options, progress=live.update)
        try:
            with live:
                check.run()
        except KeyboardInterrupt:
            interrupted = True
            check.result.notes.append("interrupted: the summary covers the cases checked so far")
        result = check.result
    if sequence is not None and not interrupted:
        from verifier.runs.sequence import add_sequence

        add_sequence(result, sequence)
    render_result(console, result)
    if args.json is not None:
        try:
            write_json_atomically(args.json, result.to_dict())
        except OSError as error:
            return usage_error(
                "check", f"--json {str(args.json)!r}: cannot write: {error.strerror}"
            )
        console.print(f"Findings written to {args.json}")
    return EXIT_INTERRUPTED if interrupted else result.exit_code

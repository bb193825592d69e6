"""`eplb-verify check CANDIDATE`: conformance-check an EPLB implementation.

Runs the fixed edge-case suite and then Hypothesis-generated cases until the budget is spent,
with live progress on stderr, a summary table and a minimal reproducer (an instance file the other
commands accept) for every violation. Exit 0: no violation; 1: violations (or, with --strict,
observations); 2: usage error or a candidate that cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "candidate",
        metavar="CANDIDATE",
        help="reference[:VARIANT], a dotted module (pkg.mod or pkg.mod:function), "
        "a path to a .py file, or an 'eplb_verify.candidates' entry point",
    )
    parser.add_argument(
        "--budget",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="time for generated cases after the edge-case suite (default: 30)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated cases")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every finding as JSON")
    parser.add_argument(
        "--policy",
        choices=("auto", "global"),
        default="auto",
        help="'global' drops the hierarchical contract for candidates that never use it",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda", "all"),
        default="cpu",
        help="run on CPU, on CUDA, or on both and compare (default: cpu)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="observations fail the run too (exit 1)"
    )
    parser.add_argument(
        "--max-cases",
        type=_positive_int,
        metavar="N",
        help="stop each function after N generated cases (the same cases on any machine)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="time limit of one candidate call (default: 10)",
    )


def _usage_error(message: str) -> int:
    print(f"eplb-verify check: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _check_json_path(path: Path) -> str | None:
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return f"--json {str(path)!r} is a directory"
    if not parent.is_dir():
        return f"--json {str(path)!r}: folder {str(parent)!r} does not exist"
    return None


def write_json_atomically(path: Path, data: Any) -> None:
    """Write JSON through a temporary file in the same folder and os.replace (never half a file)."""
    parent = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=2)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from verifier.candidates import CandidateError
    from verifier.check import CheckOptions, CheckRun
    from verifier.check_view import LiveProgress, render_result

    if args.json is not None and (problem := _check_json_path(args.json)):
        return _usage_error(problem)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            return _usage_error("--device cuda: CUDA is not available on this machine")
    options = CheckOptions(
        budget=args.budget,
        seed=args.seed,
        policy=args.policy,
        device=args.device,
        strict=args.strict,
        timeout=args.timeout,
        max_cases=args.max_cases,
    )
    console = Console(width=None if sys.stdout.isatty() else 120)
    live = LiveProgress(Console(stderr=True), args.candidate, options)
    check = CheckRun(args.candidate, options, progress=live.update)
    interrupted = False
    try:
        with live:
            check.run()
    except CandidateError as error:
        return _usage_error(str(error))
    except KeyboardInterrupt:
        interrupted = True
        check.result.notes.append("interrupted: the summary covers the cases checked so far")
    result = check.result
    render_result(console, result)
    if args.json is not None:
        try:
            write_json_atomically(args.json, result.to_dict())
        except OSError as error:
            return _usage_error(f"--json {str(args.json)!r}: cannot write: {error.strerror}")
        console.print(f"Findings written to {args.json}")
    return EXIT_INTERRUPTED if interrupted else result.exit_code

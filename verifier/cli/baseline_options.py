"""`--baseline`, `--max-regression` and `--baseline-api`: the quality gate of check and fuzz.

`add_baseline_options(parser)` adds them; `verifier.cli.options.options_from_args` reads them back
(`baseline`, `max_regression`, `baseline_api`); `baseline_problem` says why they do not fit
together (checked before the run).
"""

from __future__ import annotations

import argparse

from verifier.calling.profiles import API_CHOICES


def non_negative_float(text: str) -> float:
    """argparse type: a finite number of at least zero (a relative tolerance)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of at least 0, got {text!r}")
    return value


def add_baseline_options(parser: argparse.ArgumentParser) -> None:
    """The quality gate's options."""
    parser.add_argument(
        "--baseline",
        metavar="SPEC",
        help="a candidate spec (reference[:VARIANT], file.py, file.py:Class, module) to compare "
        "every case with: a layer whose objective exceeds (1 + R) x the baseline's is a "
        "quality.regression violation (default: none; the reference greedy is then compared, "
        "and more than 2%% behind it is the observation quality.behind_greedy)",
    )
    parser.add_argument(
        "--max-regression",
        type=non_negative_float,
        default=0.0,
        metavar="R",
        help="tolerated relative regression against --baseline (default: 0, never worse)",
    )
    parser.add_argument(
        "--baseline-api",
        choices=API_CHOICES,
        default="auto",
        help="the baseline's API profile (default: auto-detected, as --api; a reference "
        "variant is called through DeepSeek's API)",
    )


def baseline_problem(args: argparse.Namespace) -> str | None:
    """Why the gate's options do not fit together; None when they do."""
    if args.baseline is None and args.max_regression != 0.0:
        return "--max-regression applies only with --baseline SPEC"
    if args.baseline is None and args.baseline_api != "auto":
        return "--baseline-api applies only with --baseline SPEC"
    return None

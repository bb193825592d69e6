"""`--trace FILE` and `--window N`, shared by `score` and `report` (argparse only: light)."""

from __future__ import annotations

import argparse

from verifier.cli.arg_types import positive_int

DEFAULT_WINDOW = 100  # the same default as verifier.model.traces.DEFAULT_WINDOW (kept import-light)


def add_trace_options(parser: argparse.ArgumentParser, default_text: str) -> None:
    """`--trace FILE` (what the command uses without one: `default_text`) and `--window N`."""
    parser.add_argument(
        "--trace",
        metavar="FILE",
        help="load trace: vLLM evaluator JSON (load_history), a [steps, layers, experts] array "
        "(.json, .npy, torch .pt) or an SGLang expert-distribution dump (.pt); "
        f"default: {default_text}",
    )
    parser.add_argument(
        "--window",
        type=positive_int,
        default=DEFAULT_WINDOW,
        metavar="N",
        help=f"trace steps summed into one window (default: {DEFAULT_WINDOW})",
    )

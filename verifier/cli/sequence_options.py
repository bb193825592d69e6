"""`--sequence N`, `--trace FILE` and `--window STEPS` of `check`: sequence mode
(`verifier.runs.sequence`), argparse only (light)."""

from __future__ import annotations

import argparse

from verifier.cli.arg_types import positive_int


def add_sequence_options(parser: argparse.ArgumentParser) -> None:
    """The sequence-mode options; `--trace` and `--window` only go with `--sequence`."""
    group = parser.add_argument_group("sequence mode (stateful and windowed policies)")
    group.add_argument(
        "--sequence",
        type=positive_int,
        metavar="N",
        help="after the check, drive one instance of the policy through N consecutive "
        "rebalance_experts calls on drifting loads, each given the previous plan as the old "
        "placement (and the window of steps where it takes tokens_per_expert), twice, in fresh "
        "sandboxes: invariants on every call, nondeterminism between the two; prints how often "
        "it changed nothing, the layers changed per call and its stale-plan balancedness "
        "beside greedy's",
    )
    group.add_argument(
        "--trace",
        metavar="FILE",
        help="the sequence's load trace: vLLM evaluator JSON (load_history), a [steps, layers, "
        "experts] array (.json, .npy, torch .pt) or an SGLang expert-distribution dump (.pt); "
        "default: the bundled DeepSeek-V3-shaped drift trace",
    )
    group.add_argument(
        "--window",
        type=positive_int,
        metavar="STEPS",
        help="trace steps per call (default: the trace's steps divided by N)",
    )


def sequence_problem(args: argparse.Namespace) -> str | None:
    """Why the sequence options cannot be used as given; None when they can."""
    if args.sequence is None and (args.trace is not None or args.window is not None):
        return "--trace and --window go with --sequence N"
    return None

"""`--api` and its axes, `--shared-instance`, `--allow-cross-layer` and `--max-moves`: how a
candidate is called.

Shared by check, fuzz, score, report and bench (and any later command): `add_api_options(parser)`
adds them; `api_from_args` joins `--api` and the axis overrides (`--arrays`, `--index-dtype`,
`--returns`, `--old-placement`) into the one profile string the sandbox takes
(`verifier.calling.profiles.axes`); `verifier.cli.options.options_from_args` reads them back into a
command's options (`--shared-instance` as `fresh_instance=False`). `--max-moves` (check, fuzz)
is `add_max_moves_option`.
"""

from __future__ import annotations

import argparse

from verifier.calling.profiles import API_CHOICES
from verifier.calling.profiles.axes import AXIS_CHOICES, ApiSpec
from verifier.cli.arg_types import non_negative_int

AXIS_HELP = {
    "arrays": "the array library of the loads and outputs (default: detected; torch, numpy)",
    "index_dtype": "the declared dtype of the maps: int32 is accepted (and widened) only where "
    "the project declares it (default: detected; SGLang declares int32)",
    "returns": "the return form: DeepSeek's triple, (phy2log, logcnt) or phy2log only "
    "(default: the naming's own)",
    "old_placement": "whether rebalance_experts takes an old placement: none, optional, or "
    "required (every call then gets one); default: detected from its signature and source",
}


def add_api_options(parser: argparse.ArgumentParser, *, layers: bool = True) -> None:
    """`--api PROFILE`, its axes and `--shared-instance` (plus `--allow-cross-layer` where
    checks run)."""
    parser.add_argument(
        "--api",
        choices=API_CHOICES,
        default="auto",
        help="the candidate's API: 'auto' (default) detects it from its shape and parameter "
        "names; 'deepseek' module functions, 'vllm' a policy class, 'sglang' SGLang's signature",
    )
    for axis, choices in AXIS_CHOICES.items():
        parser.add_argument(
            "--" + axis.replace("_", "-"), choices=choices, default="auto", help=AXIS_HELP[axis]
        )
    parser.add_argument(
        "--shared-instance",
        action="store_true",
        help="a policy class with plain methods: keep one instance for every call "
        "(default: a fresh instance per call, so state cannot leak between cases)",
    )
    if layers:
        parser.add_argument(
            "--allow-cross-layer",
            action="store_true",
            help="a layer planned differently in a batch than alone is an observation, not a "
            "violation (for multi-window or stateful policies)",
        )


def api_from_args(args: argparse.Namespace) -> str:
    """The profile string of `--api` and the axis overrides (a bare naming without any)."""
    axes = {axis: getattr(args, axis, "auto") for axis in AXIS_CHOICES}
    return ApiSpec(args.api, **axes).text()


def add_max_moves_option(parser: argparse.ArgumentParser) -> None:
    """`--max-moves K`: a declared move budget per layer (`migration.budget`)."""
    parser.add_argument(
        "--max-moves",
        type=non_negative_int,
        default=None,
        metavar="K",
        help="declare that a plan made with an old placement copies at most K replicas per layer "
        "(sum over GPUs and experts of the replicas gained); more is the violation "
        "migration.budget",
    )

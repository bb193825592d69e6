"""`--api`, `--shared-instance` and `--allow-cross-layer`: how a candidate is called.

Shared by check, fuzz, score, report and bench (and any later command): `add_api_options(parser)`
adds them; `verifier.cli.options.options_from_args` reads them back into a command's options
(`--shared-instance` as `fresh_instance=False`).
"""

from __future__ import annotations

import argparse

from verifier.calling.profiles import API_CHOICES


def add_api_options(parser: argparse.ArgumentParser, *, layers: bool = True) -> None:
    """`--api PROFILE` and `--shared-instance` (plus `--allow-cross-layer` where checks run)."""
    parser.add_argument(
        "--api",
        choices=API_CHOICES,
        default="auto",
        help="the candidate's API: 'auto' (default) detects it from its shape and parameter "
        "names; 'deepseek' module functions, 'vllm' a policy class, 'sglang' SGLang's signature",
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

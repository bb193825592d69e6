"""Options and the usage-error message shared by the subcommands, and the one
function that builds a command's options from its parsed flags (`options_from_args`).

Light on purpose (argparse, dataclasses and sys only): every subcommand module imports it while
`eplb-verify --help` builds its parser.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING, Any, TypeVar

from verifier.cli.api_options import api_from_args
from verifier.cli.arg_types import positive_float
from verifier.cli.exit_codes import EXIT_USAGE

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    Options = TypeVar("Options", bound=DataclassInstance)
else:
    Options = TypeVar("Options")


def options_from_args(kind: type[Options], args: argparse.Namespace, **worked_out: Any) -> Options:
    """A command's options (`EngineOptions`, `FuzzOptions`, `ScoreOptions`) from its parsed flags.

    Every field of `kind` that has a flag of the same name takes the flag's value (`--max-cases`
    sets `max_cases`), `fresh_instance` is the opposite of `--shared-instance`, `api` joins
    `--api` and its axis overrides (`api_from_args`), and `worked_out`
    (values the command derived from several flags, e.g. fuzz's database) comes last.
    """
    flags = vars(args)
    values = {
        field.name: flags[field.name] for field in dataclasses.fields(kind) if field.name in flags
    }
    if "shared_instance" in flags:
        values["fresh_instance"] = not flags["shared_instance"]
    if "api" in flags and "api" in values:  # the naming and its axis overrides, one string
        values["api"] = api_from_args(args)
    return kind(**{**values, **worked_out})


def usage_error(command: str, message: str) -> int:
    """Print `eplb-verify COMMAND: error: MESSAGE` to stderr and return the usage exit code."""
    print(f"eplb-verify {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def add_candidate_argument(parser: argparse.ArgumentParser) -> None:
    """The positional CANDIDATE of the commands that check one implementation."""
    parser.add_argument(
        "candidate",
        metavar="CANDIDATE",
        help="reference[:VARIANT], a dotted module (pkg.mod or pkg.mod:function), "
        "a path to a .py file, or an 'eplb_verify.candidates' entry point",
    )


def add_policy_option(parser: argparse.ArgumentParser) -> None:
    """`--policy auto|global`: whether the hierarchical contract applies."""
    parser.add_argument(
        "--policy",
        choices=("auto", "global"),
        default="auto",
        help="'global' drops the hierarchical contract for candidates that never use it",
    )


def add_timeout_option(parser: argparse.ArgumentParser, default: float) -> None:
    """`--timeout SECONDS`: the time limit of one candidate call."""
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=default,
        metavar="SECONDS",
        help=f"time limit of one candidate call (default: {default:g})",
    )


def add_device_probe_option(parser: argparse.ArgumentParser) -> None:
    """`--no-device-probe`: leave out the default-device probe (`device_probe` becomes False)."""
    parser.add_argument(
        "--no-device-probe",
        dest="device_probe",
        action="store_false",
        help="do not call the candidate on CPU inputs under another default device (meta); "
        "the probe finds tensors created without device= on a machine without a GPU",
    )

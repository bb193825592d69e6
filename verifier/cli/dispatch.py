"""The `eplb-verify` command line: a thin dispatcher over one module per subcommand.

Each subcommand lives in `verifier.cli.<name>` and defines `add_arguments(parser)` and
`run(args) -> int`. Those modules keep heavy imports (torch, OR-Tools) inside `run`, so that
`--help` and `--version` answer at once. An `EplbVerifyError` (bad input, a candidate or file
that cannot be loaded) that a command does not handle itself ends here, once for every command:
exit 2 with one line `eplb-verify COMMAND: error: MESSAGE` on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from verifier.cli.exit_codes import EXIT_INTERRUPTED, EXIT_USAGE
from verifier.cli.options import usage_error
from verifier.model.errors import EplbVerifyError
from verifier.model.version import __version__

SUBCOMMANDS: dict[str, str] = {
    "check": "conformance-check a candidate EPLB implementation",
    "solve": "solve an instance file exactly (CP-SAT) with certified bounds",
    "corpus": "manage the corpus of hard instances (list, add, verify, rebaseline, stats)",
    "fuzz": "hunt for violations and worst optimality gaps of a candidate",
    "report": "optimality-gap, balancedness and speed report over the corpus",
    "bench": "time candidates at production shapes against the reference",
    "score": "one score for search loops: correctness gate, balance on a trace, gap, speed",
}


def _command_module(name: str) -> str:
    return f"verifier.cli.{name}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eplb-verify",
        description="Differential verification, exact optima and fuzzing for EPLB heuristics.",
    )
    parser.add_argument("--version", action="version", version=f"eplb-verify {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        module_name = _command_module(name)
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args))
    except EplbVerifyError as error:
        return usage_error(args.command, str(error))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED

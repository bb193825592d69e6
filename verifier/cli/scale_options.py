"""Scale-out options: `--workers` and `--ray` of solve and corpus add; `--workers` and
`--database` of check and fuzz.

Light on purpose (argparse only at import): `eplb-verify --help` builds every parser.
"""

from __future__ import annotations

import argparse
from typing import Any

from verifier.cli.arg_types import positive_int


def add_solve_distribution_options(parser: argparse.ArgumentParser) -> None:
    """`--workers N` (local processes) and `--ray ADDRESS` (Ray tasks) for per-layer solves."""
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="solve layers in N local processes (default: one per core, at most one per layer; "
        "1: in this process). Results are identical to a sequential run. E.g. --workers 4",
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="solve layers as Ray tasks: 'local' starts a local Ray instance (--workers CPUs), "
        "'auto' joins the cluster in RAY_ADDRESS, or a cluster address "
        "(needs pip install 'eplb-verify[ray]'). E.g. --ray local",
    )


def open_distributor(args: argparse.Namespace, label: str) -> Any:
    """A `verifier.oracle.distribute.Distributor` for the parsed options, with `LABEL: solves d/t`
    lines on stderr. Raises `DistributeError` when Ray is asked for and cannot run."""
    from verifier.oracle.distribute import Distributor, stderr_progress

    distributor = Distributor(args.workers, ray=args.ray, progress=stderr_progress(label))
    return distributor.start()


def add_campaign_scale_options(parser: argparse.ArgumentParser, database_default: str) -> None:
    """`--workers N` (engine processes) and `--database URL` (shared examples) of check and fuzz."""
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="run N sandboxed engine processes on their own seed streams, sharing one example "
        "database, and merge their findings (default: 1). E.g. --workers 4",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        default=None,
        help="Hypothesis example database: a folder, or redis://HOST:PORT[/DB] to share "
        f"failures between campaigns and machines (default: {database_default}). "
        "E.g. --database redis://127.0.0.1:6379/0",
    )


def check_database(url: str | None) -> None:
    """Open `--database URL` once (None: no database); raises `DatabaseError` saying why it
    cannot be used (bad URL, no redis package, server down)."""
    if url is not None:
        from verifier.runs.database import open_store

        open_store(url)


def stderr_notify(command: str) -> Any:
    """Progress lines of a multi-worker run on stderr: `eplb-verify COMMAND: MESSAGE`."""
    import sys

    def notify(message: str) -> None:
        print(f"eplb-verify {command}: {message}", file=sys.stderr, flush=True)

    return notify

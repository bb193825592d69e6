"""`eplb-verify corpus list|add|verify|rebaseline|stats [--corpus DIR]`: manage the corpus.

`add` and `rebaseline --reprove` run their per-layer oracle solves on a `Distributor` (`--workers`,
`--ray`); every action that runs the reference variants runs them in one sandbox pool.

Exit codes: 0 ok; 1 a regression, a contract violation or a broken record (each named);
2 bad input (unknown variant, unreadable instance file, missing corpus directory).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from verifier.cli.exit_codes import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from verifier.cli.options import usage_error
from verifier.cli.scale_options import add_solve_distribution_options

ACTIONS = ("list", "add", "verify", "rebaseline", "stats")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--corpus",
        metavar="DIR",
        default=None,
        help="corpus directory (default: ./corpora if it exists, else the bundled corpus)",
    )


def _filters(parser: argparse.ArgumentParser, variants: bool = True) -> None:
    parser.add_argument("--family", action="append", metavar="NAME", help="only this family")
    parser.add_argument(
        "--problem",
        action="append",
        choices=("packing", "replication", "rebalance"),
        help="only this problem",
    )
    if variants:
        parser.add_argument(
            "--variant", action="append", metavar="NAME", help="only this reference variant"
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", help="list the records")
    _common(listing)
    _filters(listing, variants=False)
    add = actions.add_parser("add", help="solve instance files and add them to the corpus")
    _common(add)
    add.add_argument("instances", nargs="+", metavar="INSTANCE.json", help="instance files")
    add.add_argument("--family", default="manual", help="family name (default: manual)")
    add.add_argument("--description", default="", help="what the instance is about")
    add.add_argument("--source", default="manual", choices=("manual", "fuzz", "generator"))
    add.add_argument("--campaign", default=None, help="the fuzz campaign that found it")
    add.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="oracle deterministic time per layer (default: 10)",
    )
    add_solve_distribution_options(add)  # --workers N, --ray ADDRESS
    verify = actions.add_parser("verify", help="replay every record on every reference variant")
    _common(verify)
    _filters(verify)
    rebaseline = actions.add_parser(
        "rebaseline",
        help="re-record the variants' results (--reprove: and the oracle's)",
        description="Re-measure every reference variant's baseline; with --reprove, first solve "
        "every layer again with the record's own deterministic limit and seed (on --workers "
        "processes or --ray tasks; the same results as a sequential run) and take stronger "
        "optima or bounds. E.g. eplb-verify corpus rebaseline --reprove --workers 4 --dry-run",
    )
    _common(rebaseline)
    _filters(rebaseline)
    rebaseline.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    rebaseline.add_argument(
        "--reprove",
        action="store_true",
        help="re-solve every layer with the oracle (the record's limit and seed) and record "
        "stronger optima/bounds; a weaker or conflicting result is reported (exit 1), never "
        "written. E.g. --reprove --workers 4",
    )
    add_solve_distribution_options(rebaseline)  # --workers N, --ray ADDRESS (with --reprove)
    stats = actions.add_parser("stats", help="summarise the corpus")
    _common(stats)
    _filters(stats, variants=False)
    stats.add_argument("--json", action="store_true", help="print the summary as JSON")


def _corpus_dir(args: argparse.Namespace, must_exist: bool = True) -> Path | None:
    from verifier.corpus import default_corpus_dir

    path = default_corpus_dir() if args.corpus is None else Path(args.corpus)
    if must_exist and not path.is_dir():
        return None
    return path


def _load(args: argparse.Namespace, corpus: Path) -> tuple[list[Any], list[Any]]:
    from verifier.corpus import load_corpus

    entries, broken = load_corpus(corpus)
    families = set(args.family or [])
    problems = set(args.problem or [])
    entries = [
        entry
        for entry in entries
        if (not families or entry.family in families)
        and (not problems or entry.problem in problems)
    ]
    return entries, broken


def _variants(args: argparse.Namespace) -> dict[str, str] | str:
    """The selected reference variants (name -> candidate spec), or an error message naming the
    unknown one."""
    from verifier.corpus.records import variant_specs

    every = variant_specs()
    names = getattr(args, "variant", None) or list(every)
    unknown = [name for name in names if name not in every]
    if unknown:
        return f"--variant: unknown reference variant {unknown[0]!r} (known: {', '.join(every)})"
    return {name: every[name] for name in names}


def _report_broken(broken: list[Any]) -> None:
    for record in broken:
        print(f"BROKEN {record.message}", file=sys.stderr)


# --------------------------------------------------------------------------- actions


def _proven_count(entry: Any) -> str:
    proven = sum(layer.proven for layer in entry.oracle.layers)
    return f"{proven}/{len(entry.oracle.layers)}"


def run_list(args: argparse.Namespace, corpus: Path) -> int:
    entries, broken = _load(args, corpus)
    print(f"{'record':34} {'family':18} {'layers':>6} {'items':>5} {'proven':>7}  description")
    for entry in entries:
        items = len(entry.instance.weights[0]) if entry.instance.weights else 0
        print(
            f"{entry.name:34} {entry.family:18} {len(entry.instance.weights):>6} {items:>5} "
            f"{_proven_count(entry):>7}  {entry.provenance.description}"
        )
    _report_broken(broken)
    print(f"{len(entries)} records, {len(broken)} broken")
    return EXIT_FINDINGS if broken else EXIT_OK


def run_add(args: argparse.Namespace, corpus: Path) -> int:
    # one Distributor (local processes or Ray) for every file's layer solves, one sandbox pool
    # for every file's baselines
    from verifier.cli.scale_options import open_distributor
    from verifier.corpus.records import variant_pool, variant_specs

    with (
        open_distributor(args, "corpus add") as distributor,
        variant_pool(variant_specs()) as pool,
    ):
        return _add_files(args, corpus, distributor, pool)


def _add_files(args: argparse.Namespace, corpus: Path, distributor: Any, pool: Any) -> int:
    from verifier.corpus import Provenance, add_instance, record_path
    from verifier.model.errors import InstanceError
    from verifier.model.instances import load_instance

    bad_input = False
    for name in args.instances:
        try:
            instance = load_instance(name)
        except InstanceError as error:
            usage_error("corpus", str(error))  # reported; the other files are still added
            bad_input = True
            continue
        provenance = Provenance(
            family=args.family,
            source=args.source,
            description=args.description or f"added from {Path(name).name}",
            campaign=args.campaign,
        )
        path = add_instance(
            corpus,
            instance,
            provenance,
            time_limit=args.time_limit,
            report=lambda note, name=name: print(f"warning: {name}: {note}", file=sys.stderr),
            distributor=distributor,
            pool=pool,
        )
        if path is None:
            print(f"duplicate {name}: already recorded as {record_path(corpus, instance)}")
        else:
            print(f"added     {name} -> {path}")
    return EXIT_USAGE if bad_input else EXIT_OK


def run_verify(args: argparse.Namespace, corpus: Path) -> int:
    from verifier.corpus.replay import replay

    variants = _variants(args)
    if isinstance(variants, str):
        return usage_error("corpus", variants)
    entries, broken = _load(args, corpus)
    report = replay(entries, broken, variants)
    for outcome in report.outcomes:
        if outcome.kind not in ("ok",):
            stream = sys.stderr if outcome.failed else sys.stdout
            print(outcome.describe(), file=stream)
    _report_broken(report.broken)
    counts = Counter(outcome.kind for outcome in report.outcomes)
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
    print(
        f"replayed {len(entries)} records x {len(variants)} variants: {summary}; "
        f"{len(report.broken)} broken"
    )
    if report.of_kind("improvement"):
        print("improvements are not recorded; run `eplb-verify corpus rebaseline` to keep them")
    if report.failed:
        print(f"FAILED: {len(report.failures)} failures, {len(report.broken)} broken records")
        return EXIT_FINDINGS
    return EXIT_OK


def run_rebaseline(args: argparse.Namespace, corpus: Path) -> int:
    from verifier.corpus.records import variant_pool

    variants = _variants(args)
    if isinstance(variants, str):
        return usage_error("corpus", variants)
    if not args.reprove and (args.workers is not None or args.ray is not None):
        return usage_error("corpus", "--workers and --ray distribute --reprove's solves: add it")
    entries, broken = _load(args, corpus)
    reproved: dict[int, Any] = {}
    if args.reprove:
        proofs = _reprove(args, entries)
        reproved = {id(proof.entry): proof for proof in proofs}
    with variant_pool(variants) as pool:
        changed = _rebaseline(args, entries, reproved, variants, pool)
    _report_broken(broken)
    verb = "would change" if args.dry_run else "rewrote"
    print(f"{verb} {changed} of {len(entries)} records; {len(broken)} broken (left as they are)")
    failed = [proof for proof in reproved.values() if proof.failed]
    if failed:
        print(f"FAILED: {len(failed)} records re-proved weaker or in conflict (left as they are)")
    return EXIT_FINDINGS if broken or failed else EXIT_OK


def _reprove(args: argparse.Namespace, entries: list[Any]) -> list[Any]:
    """Every layer of every record solved again on one Distributor (solves done/total on
    stderr); raises `DistributeError` when Ray is asked for and cannot run."""
    from verifier.cli.scale_options import open_distributor
    from verifier.corpus.reprove import reprove

    with open_distributor(args, "corpus rebaseline") as distributor:
        proofs = reprove(entries, distributor)
    layers = sum(len(entry.oracle.layers) for entry in entries)
    stronger = sum(proof.changed for proof in proofs)
    failed = sum(proof.failed for proof in proofs)
    print(
        f"re-proved {layers} layers of {len(entries)} records: {stronger} stronger, "
        f"{failed} weaker or in conflict, {len(entries) - stronger - failed} unchanged"
    )
    return proofs


def _rebaseline(
    args: argparse.Namespace,
    entries: list[Any],
    reproved: dict[int, Any],
    variants: dict[str, str],
    pool: Any,
) -> int:
    """Re-measure each record's baselines (against its re-proved oracle results, if any), print
    what changed and write it unless --dry-run; the number of records changed."""
    from verifier.corpus.replay import rebaseline_entry
    from verifier.corpus.store import save_entry

    changed = 0
    for entry in entries:
        proof = reproved.get(id(entry))
        diff = rebaseline_entry(
            entry if proof is None else proof.new_entry,
            variants,
            prune=not args.variant,
            report=lambda note: print(f"warning: {note}", file=sys.stderr),
            pool=pool,
        )
        oracle_lines = [] if proof is None else proof.lines()
        if proof is not None and proof.failed:
            print(f"{entry.path}: re-proof not written", file=sys.stderr)
            print("\n".join(oracle_lines), file=sys.stderr)
            oracle_lines = []
        if diff.empty and not oracle_lines:
            continue
        changed += 1
        print(f"{entry.path}:")
        print("\n".join(oracle_lines + diff.lines()))
        if not args.dry_run:
            save_entry(diff.new_entry)
    return changed


def _distribution(values: list[float]) -> dict[str, float]:
    """Count, mean, median, p95 and max: the same statistics (and p95 rule) as the report."""
    from dataclasses import asdict

    from verifier.report.metrics import Stats

    stats = Stats.of(values)
    return {} if stats is None else asdict(stats)


def corpus_stats(entries: list[Any]) -> dict[str, Any]:
    """Counts per family and problem, proven vs open layers, gap distribution per variant."""
    families: dict[str, Counter[str]] = {}
    gaps: dict[str, list[float]] = {}
    exact_gaps: dict[str, list[float]] = {}
    proven = open_ = 0
    for entry in entries:
        families.setdefault(entry.family, Counter())[entry.problem] += 1
        proven += sum(layer.proven for layer in entry.oracle.layers)
        open_ += sum(not layer.proven for layer in entry.oracle.layers)
        for name, baseline in entry.baselines.items():
            for layer, gap in zip(entry.oracle.layers, baseline.gaps(entry.oracle), strict=True):
                if gap is None:
                    continue
                gaps.setdefault(name, []).append(float(gap))
                if layer.proven:
                    exact_gaps.setdefault(name, []).append(float(gap))
    return {
        "records": len(entries),
        "layers": {"proven": proven, "open": open_},
        "families": {family: dict(counts) for family, counts in sorted(families.items())},
        "problems": dict(Counter(entry.problem for entry in entries)),
        "certified_gap": {name: _distribution(values) for name, values in sorted(gaps.items())},
        "proven_gap": {name: _distribution(values) for name, values in sorted(exact_gaps.items())},
    }


def _print_gaps(title: str, table: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"  {'variant':12} {'layers':>6} {'mean':>9} {'median':>9} {'p95':>9} {'max':>9}")
    for name, row in table.items():
        print(
            f"  {name:12} {row['count']:>6} {row['mean']:>9.3%} {row['median']:>9.3%} "
            f"{row['p95']:>9.3%} {row['max']:>9.3%}"
        )


def run_stats(args: argparse.Namespace, corpus: Path) -> int:
    entries, broken = _load(args, corpus)
    summary = corpus_stats(entries)
    summary["broken"] = [record.message for record in broken]
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return EXIT_FINDINGS if broken else EXIT_OK
    layers = summary["layers"]
    print(f"{summary['records']} records; layers: {layers['proven']} proven, {layers['open']} open")
    print(f"\n  {'family':20} {'packing':>8} {'replication':>12} {'rebalance':>10}")
    for family, counts in summary["families"].items():
        print(
            f"  {family:20} {counts.get('packing', 0):>8} {counts.get('replication', 0):>12} "
            f"{counts.get('rebalance', 0):>10}"
        )
    _print_gaps("gap on proven layers (exact):", summary["proven_gap"])
    _print_gaps("certified gap upper bound, all layers:", summary["certified_gap"])
    _report_broken(broken)
    return EXIT_FINDINGS if broken else EXIT_OK


RUNNERS: dict[str, Callable[[argparse.Namespace, Path], int]] = {
    "list": run_list,
    "add": run_add,
    "verify": run_verify,
    "rebaseline": run_rebaseline,
    "stats": run_stats,
}


def run(args: argparse.Namespace) -> int:
    corpus = _corpus_dir(args, must_exist=args.action != "add")
    if corpus is None:
        return usage_error("corpus", f"--corpus: no such directory {args.corpus!r}")
    return RUNNERS[args.action](args, corpus)


__all__ = ["ACTIONS", "add_arguments", "corpus_stats", "run"]

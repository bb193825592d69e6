"""`eplb-verify score CANDIDATE [--trace FILE] [--window N] [--json] ...`: one score for a search.

Gates on a bounded, seeded conformance check, then measures balancedness on a load trace (plan on
window t, charged with window t + 1), the exact optimality gap on the corpus's proven records and
the median time at the DeepSeek-V3 shape against the reference greedy (same run), and combines
them. Exit codes: 0 valid; 1 invalid (scored 0, with the reason); 2 usage error, a malformed
trace, or a candidate that cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from verifier.cli.api_options import add_api_options
from verifier.cli.arg_types import positive_float, positive_int
from verifier.cli.exit_codes import EXIT_FINDINGS, EXIT_OK
from verifier.cli.options import (
    add_candidate_argument,
    add_policy_option,
    add_timeout_option,
    options_from_args,
)
from verifier.cli.trace_options import add_trace_options
from verifier.model.atomic import json_text

FORMULA_HELP = """\
combined_score = balancedness / (1 + gap_mean)
                 * (1 + milliseconds / reference_milliseconds) ** -0.01
(0 for an invalid candidate). Three efficiencies in (0, 1]: the share of GPU capacity a plan made
on one window uses on the next window's traffic, closeness to the proven optimum, and a mild
logarithmic time penalty (about -2% per tenfold slowdown against the reference greedy timed in
the same run: rebalancing runs every few minutes, off the serving path, so time matters less than
balance). Everything but the times is identical on every run with the same --seed.

example:
  eplb-verify score examples/seed_pool_split.py --json
  eplb-verify score reference:swap --trace loads.json --window 50
  eplb-verify score tests/candidates/apis/sglang_vec.py --api sglang
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = FORMULA_HELP
    add_candidate_argument(parser)
    add_policy_option(parser)
    add_trace_options(parser, "the bundled drift trace")
    parser.add_argument(
        "--cases",
        type=positive_int,
        default=100,
        metavar="N",
        help="generated conformance cases per function, the same on any machine (default: 100)",
    )
    parser.add_argument(
        "--budget",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="wall-clock cap of the conformance check: a candidate too slow to finish its cases "
        "in it scores 0 (default: 60)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=7,
        metavar="N",
        help="timed runs at the DeepSeek-V3 shape, after one warm-up (default: 7)",
    )
    parser.add_argument("--corpus", metavar="DIR", help="corpus folder (default: the bundled one)")
    parser.add_argument(
        "--json", action="store_true", help="write one JSON object to stdout (and nothing else)"
    )
    add_timeout_option(parser, default=10.0)
    add_api_options(parser)  # --api, --shared-instance, --allow-cross-layer


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from verifier.runs.score import ScoreOptions, score_candidate

    console = Console(stderr=True)
    with console.status("starting", spinner="dots") as status:
        result = score_candidate(
            args.candidate,
            options_from_args(ScoreOptions, args),
            progress=lambda text: status.update(text),
        )
    if args.json:
        sys.stdout.write(json_text(result.to_dict()))
    else:
        print(format_score(result.to_dict()))
    return EXIT_OK if result.valid else EXIT_FINDINGS


def format_score(data: dict[str, Any]) -> str:
    """The plain-text view: every component beside the combined score."""
    verdict = "valid" if data["valid"] else f"INVALID: {data['reason']}"
    lines = [
        f"candidate       {data['candidate']}",
        f"verdict         {verdict} ({data['cases']} conformance cases)",
        f"combined_score  {data['combined_score']:.4f}",
    ]
    if data["valid"]:
        ratio = data["speed_ratio"]
        lines += [
            f"balancedness    {data['balancedness']:.4f}   (reference greedy "
            f"{data['reference_balancedness']:.4f}; {data['scored_windows']} layer-windows)",
            f"gap_mean        {data['gap_mean']:.4f}   "
            f"(over {data['proven_layers']} proven layers)",
            f"gap_max         {data['gap_max']:.4f}",
            f"milliseconds    {data['milliseconds']:.2f}   (reference greedy "
            f"{data['reference_milliseconds']:.2f}; {ratio:.2f}x)",
        ]
    lines += [f"trace           {data['trace']}", f"formula         {data['formula']}"]
    if data["api"]:
        notes = "; ".join(data["api"]["notes"])
        lines.append(f"api profile     {data['api']['profile']} ({notes})")
    for finding in data["violations"][:10]:
        instance = json.dumps(finding["instance"]) if finding["instance"] else "-"
        lines.append(f"  {finding['function']}: {finding['check']}: {finding['message']}")
        lines.append(f"    reproducer: {instance[:300]}")
    return "\n".join(lines)

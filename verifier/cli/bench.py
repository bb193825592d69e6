"""`eplb-verify bench [CANDIDATE...] [--shape NAME] [--device cpu|cuda] [--repeats N]`.

Times candidates at production shapes against the reference greedy measured in the same run, and
answers whether the heap (host) replication path beats the vectorized (device) one. With no
candidate, every reference variant. Exit codes: 0 ok; 1 a candidate failed or broke the contract
at some shape; 2 usage error (unknown shape, no CUDA, a candidate that cannot be loaded).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from verifier.cli.api_options import add_api_options, api_from_args
from verifier.cli.exit_codes import EXIT_FINDINGS, EXIT_OK
from verifier.cli.options import usage_error
from verifier.model.atomic import write_json_atomically
from verifier.model.shapes import PRODUCTION_SHAPES, SHAPES

SHAPE_NAMES = (*SHAPES, "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "candidates",
        nargs="*",
        metavar="CANDIDATE",
        help="candidates to time (default: every reference variant)",
    )
    parser.add_argument(
        "--shape",
        action="append",
        choices=SHAPE_NAMES,
        help="shape to time, repeatable (default: the production shapes deepseek-v3, qwen-moe "
        "and mixtral; 'tiny' is a smoke test)",
    )
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="default: cpu")
    parser.add_argument(
        "--repeats", type=int, default=7, metavar="N", help="timed runs per cell (default: 7)"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, metavar="N", help="discarded runs first (default: 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic loads")
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    add_api_options(parser, layers=False)


def _shapes(requested: list[str] | None) -> list[str]:
    if not requested:
        return list(PRODUCTION_SHAPES)
    if "all" in requested:
        return [*PRODUCTION_SHAPES, *(name for name in requested if name == "tiny")]
    return list(dict.fromkeys(requested))


def run(args: argparse.Namespace) -> int:
    if args.repeats < 1:
        return usage_error("bench", f"--repeats must be at least 1, got {args.repeats}")
    if args.warmup < 1:
        return usage_error(
            "bench", f"--warmup must be at least 1 (the warm-up call is checked), got {args.warmup}"
        )
    import torch
    from rich.console import Console

    from verifier.calling.candidates import reference_specs
    from verifier.runs.bench import format_table, run_bench

    if args.device == "cuda" and not torch.cuda.is_available():
        return usage_error("bench", "--device cuda: no CUDA device is available on this machine")
    specs = list(args.candidates) or reference_specs()
    console = Console(stderr=True)
    with console.status("starting", spinner="dots") as status:
        result = run_bench(
            specs,
            _shapes(args.shape),
            device=args.device,
            repeats=args.repeats,
            warmup=args.warmup,
            seed=args.seed,
            progress=lambda message: status.update(message),
            api=api_from_args(args),  # the API profile
            fresh=not args.shared_instance,
        )
    print(format_table(result))
    if args.json:
        try:
            write_json_atomically(Path(args.json), result.to_dict())
        except OSError as error:
            return usage_error(
                "bench", f"--json {args.json}: cannot write: {error.strerror or error}"
            )
    return EXIT_FINDINGS if result.failed else EXIT_OK

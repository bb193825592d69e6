"""An evaluator file for LLM-driven evolutionary search over EPLB programs, usable as it is.

OpenEvolve: pass this file as the evaluation file; it calls `evaluate(program_path)` and maximises
`combined_score`. With OpenEvolve installed the result carries artifacts (why a program is
invalid, its smallest reproducers) that go into the next prompt; without it, a plain dict.
ShinkaEvolve-style loops: `python examples/openevolve_evaluator.py PROGRAM RESULTS_DIR` (or
`main(program_path, results_dir)`) writes `metrics.json` (with `combined_score`) and
`correct.json` (`correct`, `error`) into RESULTS_DIR.

Scoring is `eplb-verify score`: a seeded conformance check gates correctness (an invalid program
scores 0), then balancedness on a load trace, the exact optimality gap on proven instances and
the time against the reference greedy. Set `EPLB_TRACE` (and `EPLB_WINDOW`) to score on your own
trace instead of the bundled drift trace, `EPLB_CASES` for the conformance cases per function.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from verifier.calling.candidates import CandidateError
from verifier.runs.score import ScoreOptions, ScoreResult, score_candidate


def _options() -> ScoreOptions:
    trace = os.environ.get("EPLB_TRACE") or None
    window = int(os.environ.get("EPLB_WINDOW", "100"))
    cases = int(os.environ.get("EPLB_CASES", "100"))
    return ScoreOptions(trace=trace, window=window, cases=cases)


def _score(program_path: str) -> ScoreResult:
    """The full score; a program that cannot even be loaded is invalid with the loader's reason."""
    options = _options()
    try:
        return score_candidate(program_path, options)
    except CandidateError as error:
        result = ScoreResult(program_path, options)
        result.invalidate(f"cannot be loaded: {error}")
        return result.finish()


def _artifacts(result: ScoreResult) -> dict[str, str]:
    """Text for the next prompt: the verdict and the smallest reproducer of each violation."""
    lines = [f"{v['function']}: {v['check']}: {v['message']}" for v in result.violations[:5]]
    reproducers = [json.dumps(v["instance"]) for v in result.violations[:5] if v["instance"]]
    summary = (
        f"balancedness {result.balancedness:.4f}, gap_mean {result.gap_mean:.4f}, "
        f"{result.milliseconds:.1f} ms (reference greedy {result.reference_milliseconds:.1f} ms)"
    )
    return {
        "verdict": "valid" if result.valid else f"invalid: {result.reason}",
        "violations": "\n".join(lines),
        "reproducers": "\n".join(reproducers),
        "summary": summary if result.valid else "",
    }


def evaluate(program_path: str) -> Any:
    """OpenEvolve's entry point: metrics (floats and bools, `combined_score`) and artifacts."""
    result = _score(program_path)
    metrics = result.metrics()
    try:
        from openevolve.evaluation_result import EvaluationResult
    except ImportError:
        return metrics
    return EvaluationResult(metrics=metrics, artifacts=_artifacts(result))


def main(program_path: str, results_dir: str) -> dict[str, Any]:
    """ShinkaEvolve-style: write metrics.json and correct.json into `results_dir`."""
    result = _score(program_path)
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {
        "combined_score": result.combined_score,
        "public": result.metrics(),
        "private": {"reason": result.reason, "violations": result.violations},
        "text_feedback": "\n".join(f"{k}: {v}" for k, v in _artifacts(result).items() if v),
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    correct = {"correct": result.valid, "error": result.reason or None}
    (folder / "correct.json").write_text(json.dumps(correct, indent=2) + "\n")
    return metrics


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python examples/openevolve_evaluator.py PROGRAM RESULTS_DIR")
    print(json.dumps(main(sys.argv[1], sys.argv[2])["public"], indent=2))

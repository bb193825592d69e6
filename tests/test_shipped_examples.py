"""The shipped examples: the seed program is a valid candidate, the evaluator file works as is."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from candidate_paths import BROKEN_DIR
from verifier.runs.check import EngineOptions, check_candidate

EXAMPLES = Path(__file__).parent.parent / "examples"
DROPS_EXPERT = str(BROKEN_DIR / "drops_expert.py")


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_seed_program_passes_the_conformance_check() -> None:
    result = check_candidate(str(EXAMPLES / "seed_pool_split.py"), EngineOptions(max_cases=10))
    assert result.functions == ("balanced_packing", "replicate_experts", "rebalance_experts")
    assert result.violations == []


def test_the_evaluator_reports_an_invalid_program_in_both_conventions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EPLB_CASES", "5")
    evaluator = _module("openevolve_evaluator")
    metrics = evaluator.evaluate(DROPS_EXPERT)
    if not isinstance(metrics, dict):  # OpenEvolve installed: an EvaluationResult
        metrics = metrics.metrics
    assert metrics["valid"] is False and metrics["combined_score"] == 0.0
    evaluator.main(DROPS_EXPERT, str(tmp_path))
    written = json.loads((tmp_path / "metrics.json").read_text())
    correct = json.loads((tmp_path / "correct.json").read_text())
    assert written["combined_score"] == 0.0 and "replication.logcnt_min" in written["text_feedback"]
    assert correct == {"correct": False, "error": written["private"]["reason"]}

"""`eplb-verify score` and `verifier.evaluate`: the gate, reproducibility, ordering, cut-offs.

Runs use small settings (few conformance cases, the small bundled trace, one timed run) so the
default test run stays short; every number is really measured.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from candidate_paths import APIS_DIR, BROKEN_DIR, SCORING_DIR
from verifier import evaluate
from verifier.cli.dispatch import main
from verifier.corpus.bundled_traces import small_trace_paths
from verifier.runs.score import (
    TIME_EXPONENT,
    ScoreOptions,
    ScoreResult,
    combined_score,
    score_candidate,
    speed_factor,
)
from verifier.runs.trace_replay import cluster_for

NAIVE = str(SCORING_DIR / "naive_contiguous.py")
HANGS_AT_SCALE = str(SCORING_DIR / "hangs_at_scale.py")
DROPS_EXPERT = str(BROKEN_DIR / "drops_expert.py")
HANGS = str(BROKEN_DIR / "hangs.py")
IGNORES_HIERARCHY = str(BROKEN_DIR / "ignores_hierarchy.py")  # valid under the global contract
SMALL_TRACE = str(small_trace_paths()[".npy"])
QUICK = ScoreOptions(cases=5, repeats=1, trace=SMALL_TRACE, window=10, timeout=30.0)
TIME_FIELDS = {"milliseconds", "reference_milliseconds", "speed_ratio", "combined_score"}


@pytest.fixture(scope="module")
def greedy() -> ScoreResult:
    return score_candidate("reference:greedy", QUICK)


def test_the_reference_is_valid_with_every_component_measured(greedy: ScoreResult) -> None:
    assert greedy.valid and greedy.reason == "" and greedy.violations == []
    assert 0 < greedy.balancedness <= 1 and greedy.windows == 2 * 3  # layers x (windows - 1)
    assert greedy.balancedness == greedy.reference_balancedness  # the same code, the same plans
    assert greedy.proven_layers > 0 and 0 <= greedy.gap_mean <= greedy.gap_max
    assert greedy.milliseconds > 0 and greedy.reference_milliseconds > 0
    expected = combined_score(
        True,
        greedy.balancedness,
        greedy.gap_mean,
        greedy.milliseconds,
        greedy.reference_milliseconds,
    )
    assert greedy.combined_score == expected > 0


@pytest.mark.slow  # a second full score run (about 10-20 s on two shared cores)
def test_scores_are_reproducible_but_for_the_times(greedy: ScoreResult) -> None:
    again = score_candidate("reference:greedy", QUICK).metrics()
    first = greedy.metrics()
    assert {k: v for k, v in again.items() if k not in TIME_FIELDS} == {
        k: v for k, v in first.items() if k not in TIME_FIELDS
    }


def test_better_balanced_and_faster_scores_higher(greedy: ScoreResult) -> None:
    naive = score_candidate(NAIVE, QUICK)
    assert naive.valid, naive.reason
    # The premise, measured: the reference greedy is better balanced and faster.
    assert greedy.balancedness > naive.balancedness
    assert greedy.milliseconds < naive.milliseconds
    assert greedy.combined_score > naive.combined_score


def test_every_phase_judges_the_contract_the_user_chose() -> None:
    """Hierarchy ignored by design: invalid under the default contract, valid (timing at the
    DeepSeek-V3 shape included) under `--policy global`."""
    hierarchical = score_candidate(IGNORES_HIERARCHY, QUICK)
    assert not hierarchical.valid and "group_split" in hierarchical.reason
    flat = score_candidate(IGNORES_HIERARCHY, replace(QUICK, policy="global"))
    assert flat.valid, flat.reason
    assert flat.milliseconds > 0 and flat.combined_score > 0


def test_an_invalid_candidate_scores_zero_with_its_reason() -> None:
    result = score_candidate(DROPS_EXPERT, QUICK)
    assert not result.valid and result.combined_score == 0.0
    assert "replication.logcnt_min" in result.reason
    assert any(v["check"] == "replication.logcnt_min" and v["instance"] for v in result.violations)


def test_a_hanging_candidate_is_cut_off_and_scores_zero() -> None:
    result = score_candidate(HANGS, replace(QUICK, timeout=1.0))
    assert not result.valid and result.combined_score == 0.0
    assert "behaviour.timeout" in result.reason


def test_a_candidate_that_hangs_at_production_size_is_cut_off() -> None:
    result = score_candidate(HANGS_AT_SCALE, replace(QUICK, timeout=2.0))
    assert not result.valid and result.combined_score == 0.0
    assert "no answer within 2 s" in result.reason


def test_a_candidate_without_rebalance_experts_cannot_be_scored() -> None:
    result = score_candidate("reference:balanced_packing", QUICK)
    assert not result.valid and "scoring needs rebalance_experts" in result.reason


def test_evaluate_returns_floats_and_bools_and_never_raises(tmp_path: Path) -> None:
    missing = evaluate(str(tmp_path / "absent.py"), cases=5)
    assert missing["valid"] is False and missing["combined_score"] == 0.0
    assert all(isinstance(value, (float, bool)) for value in missing.values())
    broken = tmp_path / "syntax.py"
    broken.write_text("def rebalance_experts(:\n")
    assert evaluate(str(broken), cases=5)["combined_score"] == 0.0


def test_the_formula() -> None:
    assert combined_score(False, 1.0, 0.0, 1.0, 1.0) == 0.0
    assert speed_factor(0.0, 5.0) == 1.0
    assert speed_factor(5.0, 5.0) == pytest.approx(2**-TIME_EXPONENT)
    assert speed_factor(50.0, 5.0) < speed_factor(5.0, 5.0)
    base = combined_score(True, 0.9, 0.1, 5.0, 5.0)
    assert combined_score(True, 0.95, 0.1, 5.0, 5.0) > base  # rises with balancedness
    assert combined_score(True, 0.9, 0.2, 5.0, 5.0) < base  # falls with the gap
    assert combined_score(True, 0.9, 0.1, 50.0, 5.0) < base  # falls with time
    assert math.isclose(base, 0.9 / 1.1 * 2**-TIME_EXPONENT)


def test_clusters_follow_deepseek_v3s_proportions() -> None:
    assert cluster_for(256) == (288, 8, 4, 32)
    assert cluster_for(16) == (18, 8, 1, 2)
    assert cluster_for(8) == (9, 8, 1, 1)
    assert cluster_for(6) == (7, 1, 1, 1)


def test_cli_json_is_one_object_on_stdout() -> None:
    command = [sys.executable, "-m", "verifier", "score", DROPS_EXPERT, "--cases", "5", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["valid"] is False and data["combined_score"] == 0.0 and data["reason"]


def test_cli_a_malformed_trace_is_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"load_history": 3}')
    assert main(["score", "reference", "--trace", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err and "load_history" in err


def test_cli_help_states_the_formula(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "--help"]) == 0
    out = capsys.readouterr().out
    assert f"** -{TIME_EXPONENT}" in out and "balancedness / (1 + gap_mean)" in out


def test_a_corpus_without_proven_records_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score", "reference", "--corpus", str(tmp_path)]) == 2
    assert "no rebalance record with a proven optimum" in capsys.readouterr().err


def test_bad_options_are_the_callers_error() -> None:
    with pytest.raises(ValueError, match="cases must be an integer of at least 1"):
        evaluate("reference", cases=0)
    with pytest.raises(TypeError):
        evaluate("reference", no_such_option=1)


def test_a_candidate_of_another_api_is_scored_through_its_profile() -> None:
    """`--api` reaches the conformance check and every sandbox the score starts."""
    spec = str(APIS_DIR / "sglang_vec.py")
    result = score_candidate(spec, replace(QUICK, api="sglang"))
    assert result.valid, result.reason
    assert result.api["requested"] == "sglang" and result.api["profile"] == "sglang"
    assert result.balancedness > 0 and result.milliseconds > 0
    assert result.to_dict()["options"]["api"] == "sglang"


def test_the_api_options_reach_score_options() -> None:
    from verifier.cli.dispatch import build_parser
    from verifier.cli.options import options_from_args

    args = build_parser().parse_args(
        ["score", "x.py", "--api", "vllm", "--shared-instance", "--allow-cross-layer"]
    )
    options = options_from_args(ScoreOptions, args)
    assert (options.api, options.fresh_instance, options.allow_cross_layer) == ("vllm", False, True)
    checked = options.check_options()
    assert (checked.api, checked.fresh_instance, checked.allow_cross_layer) == ("vllm", False, True)
    with pytest.raises(ValueError, match="api must be one of"):
        ScoreOptions(api="nope")

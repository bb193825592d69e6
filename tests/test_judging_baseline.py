"""The quality gate (`verifier.judging.baseline`): a candidate against a baseline, case by case.

Without a baseline every check compares with the reference greedy (`quality.behind_greedy`, an
observation); with `--baseline SPEC` a layer above (1 + R) x the baseline is a violation.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from reference import VARIANTS
from verifier.cli.dispatch import main
from verifier.judging.baseline import BEHIND_GREEDY_MARGIN, classify, ratio
from verifier.runs.check import EngineOptions, check_candidate

GLOBAL_SKIPS_PACKING = "global_skips_packing.py"
BEHIND_GREEDY = "behind_greedy_packing.py"


def test_ratio_and_classification_are_exact_and_rounding_aware() -> None:
    assert ratio(Fraction(3), Fraction(2)) == Fraction(3, 2)
    assert ratio(Fraction(0), Fraction(0)) == 1
    assert ratio(Fraction(1), Fraction(0)) is None  # unbounded
    assert classify((Fraction(3), Fraction(2)), (Fraction(2), Fraction(3)), "int64") == "worse"
    assert classify((Fraction(2),), (Fraction(3),), "int64") == "better"
    assert classify((Fraction(5),), (Fraction(5),), "int64") == "equal"
    # float32 loads: a relative excess of 1e-7 is rounding, not a worse plan
    tiny = (Fraction(10**7 + 1, 10**7),)
    assert classify(tiny, (Fraction(1),), "float32") == "equal"
    assert classify(tiny, (Fraction(1),), "int64") == "worse"


def test_a_small_regression_is_only_an_observation_without_a_baseline(broken_dir: Path) -> None:
    result = check_candidate(str(broken_dir / BEHIND_GREEDY), EngineOptions(max_cases=40))
    assert result.exit_code == 0
    (record,) = [r for r in result.observations if r.finding.check == "quality.behind_greedy"]
    details = record.finding.details
    assert details["ratio"] > 1 + BEHIND_GREEDY_MARGIN
    assert details["baseline"] == "reference:greedy"
    assert record.finding.instance is not None and len(record.finding.instance.weights) == 1
    assert result.baseline.counts["worse"] >= 1 and result.baseline.worst_ratio is not None


def test_the_tolerance_lets_a_bounded_regression_pass(broken_dir: Path) -> None:
    spec = str(broken_dir / GLOBAL_SKIPS_PACKING)
    options = EngineOptions(max_cases=20, baseline="reference", max_regression=10.0)
    result = check_candidate(spec, options)
    assert result.exit_code == 0
    assert result.baseline.counts["worse"] >= 1  # worse, but within (1 + 10) x
    assert result.baseline.worst_ratio is not None and 1 < result.baseline.worst_ratio <= 11


def test_a_baseline_that_breaks_the_contract_is_not_held_against_the_candidate(
    broken_dir: Path,
) -> None:
    # The baseline overfills packs: a lower max pack load than any valid plan can reach.
    baseline = str(broken_dir / "wrong_pack_sizes.py")
    options = EngineOptions(max_cases=20, baseline=baseline, functions=("balanced_packing",))
    result = check_candidate("reference", options)
    checks = {record.finding.check for record in result.records.values()}
    assert "quality.baseline_invalid" in checks
    assert "quality.regression" not in checks
    assert result.exit_code == 0
    assert result.baseline.counts["baseline_invalid"] >= 1


@pytest.mark.slow  # ~1 min per variant; the default run checks each on seed 0 (mutation score)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reference_variants_are_never_behind_greedy(variant: str, seed: int) -> None:
    options = EngineOptions(budget=600.0, max_cases=200, seed=seed, edge_cases=False)
    result = check_candidate(f"reference:{variant}", options)
    assert "quality.behind_greedy" not in {r.finding.check for r in result.records.values()}
    if variant != "greedy":  # the greedy is not compared with itself
        assert result.baseline.compared >= 3 * 200
        assert result.baseline.worst_ratio is not None
        assert result.baseline.worst_ratio <= 1 + BEHIND_GREEDY_MARGIN


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_baseline_that_cannot_be_loaded_is_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.py"
    code, _, err = _cli(capsys, "check", "reference", "--baseline", str(missing), "--budget", "1")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--baseline" in err


def test_max_regression_needs_a_baseline_and_is_not_negative(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _cli(capsys, "check", "reference", "--max-regression", "0.1")
    assert code == 2 and "--max-regression applies only with --baseline" in err
    code, _, err = _cli(
        capsys, "fuzz", "reference", "--baseline", "reference", "--max-regression", "-1"
    )
    assert code == 2 and "must be a number of at least 0" in err


def test_check_gates_on_the_baseline_and_reports_the_tally(
    broken_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_json = tmp_path / "gate.json"
    spec = str(broken_dir / GLOBAL_SKIPS_PACKING)
    argv = ["--baseline", "reference", "--max-cases", "20", "--json", str(out_json)]
    code, out, _ = _cli(capsys, "check", spec, *argv)
    assert code == 1
    assert "quality.regression" in out and "against reference: worse on" in out
    data = json.loads(out_json.read_text())
    tally = data["baseline"]
    assert tally["spec"] == "reference" and tally["gating"] is True
    assert tally["worse"] >= 1 and tally["worst_ratio"] > 1
    assert (
        tally["cases_compared"]
        == tally["worse"] + tally["equal"] + tally["better"] + tally["baseline_invalid"]
    )
    assert data["options"]["baseline"] == "reference"


def test_fuzz_gates_on_the_baseline(
    broken_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_json = tmp_path / "fuzz.json"
    spec = str(broken_dir / GLOBAL_SKIPS_PACKING)
    argv = ["--baseline", "reference", "--budget", "5", "--no-database", "--json", str(out_json)]
    code, _, _ = _cli(capsys, "fuzz", spec, *argv)
    assert code == 1
    data = json.loads(out_json.read_text())
    assert "quality.regression" in {finding["check"] for finding in data["findings"]}
    assert data["baseline"]["worse"] >= 1

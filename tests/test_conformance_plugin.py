"""The pytest plugin, as another project runs it: a real pytest subprocess from a foreign folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from candidate_paths import APIS_DIR

GOOD = APIS_DIR / "vllm_policy" / "default.py"


def _suite(tmp_path: Path, spec: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "verifier.conformance",
        "--eplb-candidate", spec, "--eplb-cases", "8", "-p", "no:cacheprovider", "-q", *extra,
    ]  # fmt: skip
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_correct_candidate_passes(tmp_path: Path) -> None:
    done = _suite(tmp_path, f"{GOOD}:GreedyEplbPolicy")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "18 passed" in done.stdout
    summary = done.stdout.split("eplb-verify =", 1)[1]  # the plugin's terminal summary section
    assert "API profile: vllm" in summary and "migration:" in summary
    assert "device paths: the default-device probe" in summary
    assert "observations: " in summary  # they fail no item, so only the summary shows them


def test_broken_candidate_fails_with_its_reproducer_under_xdist(
    tmp_path: Path, broken_dir: Path
) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    broken = broken_dir / "vllm_slots_lost" / "policy.py"
    done = _suite(tmp_path, f"{broken}:SlotLosingPolicy", "-n", "2")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "1 failed" in done.stdout and "rebalance_experts-incremental" in done.stdout
    assert "incremental.slot_preservation" in done.stdout
    assert '"problem": "rebalance"' in done.stdout  # the reproducer instance


def test_without_a_candidate_every_item_is_skipped_with_a_reason(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "verifier.conformance",
        "-p", "no:cacheprovider", "-q", "-rs",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "no candidate: pass --eplb-candidate SPEC" in done.stdout


def test_options_are_registered_by_the_entry_point(pytestconfig: pytest.Config) -> None:
    # This very run has them: the pytest11 entry point loads the plugin into every session.
    assert pytestconfig.getoption("--eplb-candidate") is None
    assert pytestconfig.getoption("--eplb-api") == "auto"
    assert pytestconfig.getoption("--eplb-arrays") == "auto"
    assert pytestconfig.getoption("--eplb-old-placement") == "auto"
    assert pytestconfig.getoption("--eplb-max-moves") is None


def test_a_declared_move_budget_fails_the_incremental_item(
    tmp_path: Path, broken_dir: Path
) -> None:
    broken = f"{broken_dir / 'swap_over_budget.py'}:OverBudgetSwapPolicy"
    done = _suite(tmp_path, broken, "--eplb-max-moves", "4", "--eplb-no-device-probe")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "rebalance_experts-incremental" in done.stdout
    assert "migration.budget" in done.stdout


def test_baseline_options_gate_the_quality_item(tmp_path: Path, broken_dir: Path) -> None:
    broken = broken_dir / "global_skips_packing.py"
    done = _suite(tmp_path, str(broken), "--eplb-baseline", "reference", "-rf")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "1 failed" in done.stdout and "rebalance_experts-quality" in done.stdout
    assert "quality.regression" in done.stdout
    tolerated = _suite(
        tmp_path, str(broken), "--eplb-baseline", "reference", "--eplb-max-regression", "10"
    )
    assert tolerated.returncode == 0, tolerated.stdout[-3000:]


def test_sequence_option_drives_one_instance_through_consecutive_calls(
    tmp_path: Path, broken_dir: Path
) -> None:
    spec = f"{broken_dir / 'windowed_unseeded.py'}:UnseededWindowedPolicy"
    done = _suite(tmp_path, spec, "--eplb-sequence", "4", "--eplb-no-device-probe")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "1 failed" in done.stdout and "rebalance_experts-behaviour" in done.stdout
    assert "sequence step 2 of 4: two identical sequences differ" in done.stdout
    assert f"reproducer: eplb-verify check {spec} --sequence 4" in done.stdout
    assert "two identical sequences differ at step 2" in done.stdout  # the summary's line

"""`check` end to end on the numpy port and the required-old-placement policy: exit codes, the
printed profile with its axes, the overrides and `--max-moves`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from candidate_paths import APIS_DIR, BROKEN_DIR
from verifier.cli.dispatch import main

NUMPY_PORT = str(APIS_DIR / "numpy_port.py")
SWAP = f"{APIS_DIR / 'swap_policy.py'}:SwapEplbPolicy"
FEW = ("--max-cases", "6", "--budget", "60", "--no-device-probe")


def _check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["check", *argv, *FEW])
    return code, " ".join(capsys.readouterr().out.split())  # rich wraps long lines


def test_the_numpy_port_passes_as_it_is(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    code, text = _check(capsys, NUMPY_PORT, "--json", str(out))
    assert code == 0, text
    assert "API profile: deepseek (profile deepseek detected" in text
    assert "arrays numpy (its first parameter is annotated numpy.ndarray)" in text
    assert "index dtype int32 (a numpy port whose source casts its maps to np.int32)" in text
    data = json.loads(out.read_text())
    assert data["options"]["api"] == "auto"
    assert "loads passed as a numpy array" in data["api"]["adapted"]["rebalance_experts"]


@pytest.mark.parametrize(
    ("flags", "exit_code", "check"),
    [
        (("--api", "deepseek"), 1, "behaviour.exception"),  # torch tensors: `.astype` fails
        (("--api", "deepseek", "--arrays", "numpy"), 1, "behaviour.dtype"),  # int32 undeclared
        (("--api", "deepseek", "--arrays", "numpy", "--index-dtype", "int32"), 0, ""),
    ],
)
def test_numpy_port_under_overrides(
    capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], exit_code: int, check: str
) -> None:
    code, text = _check(capsys, NUMPY_PORT, *flags)
    assert code == exit_code, text
    assert "API profile: deepseek (profile deepseek requested" in text
    assert check in text


def test_a_required_old_placement_is_given_and_its_budget_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "check.json"
    code, text = _check(capsys, SWAP, "--max-moves", "4", "--json", str(out))
    assert code == 0, text
    data = json.loads(out.read_text())
    assert data["options"]["max_moves"] == 4 and data["migration"]["with_old_placement"]
    assert "old placement required (its source asserts that old_global_expert_indices" in text
    assert "every call without one gets the reference greedy's plan" in text
    assert "with the old placement passed" in text  # the migration line
    code, text = _check(capsys, SWAP, "--max-moves", "0")
    assert code == 1 and "migration.budget" in text


def test_over_budget_twin_is_caught_by_the_declared_budget(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = f"{BROKEN_DIR / 'swap_over_budget.py'}:OverBudgetSwapPolicy"
    code, text = _check(capsys, spec, "--max-moves", "4", "--seed", "1")
    assert code == 1 and "migration.budget" in text
    assert "a probe call without one raised AssertionError" in text


def test_max_moves_must_be_a_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", SWAP, "--max-moves", "-1"]) == 2
    assert "must be at least 0" in capsys.readouterr().err

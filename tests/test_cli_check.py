"""`eplb-verify check` end to end: verdicts, exit codes, reproducers and the JSON report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from verifier.cli.dispatch import main
from verifier.model.instances import PackingInstance, instance_from_dict
from verifier.runs.check import ALL_CHECKS


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _reproducers(text: str) -> list[dict[str, Any]]:
    """Every instance printed after 'reproducer (an instance file):'."""
    blocks = re.findall(r"reproducer \(an instance file\):\n(\{.*?\n\})", text, flags=re.S)
    return [json.loads(block) for block in blocks]


def test_reference_passes_and_writes_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "check.json"
    argv = ["--budget", "120", "--max-cases", "30", "--json", str(report)]
    code, out, _ = _run(capsys, "reference", *argv)
    assert code == 0
    assert "PASS: no violation" in out
    data = json.loads(report.read_text())
    assert data["exit_code"] == 0 and data["violations"] == 0
    assert set(data["cases"]) == {"balanced_packing", "replicate_experts", "rebalance_experts"}
    assert all(
        counts["edge"] > 0 and counts["generated"] >= 30 for counts in data["cases"].values()
    )
    assert data["options"]["max_cases"] == 30
    for finding in data["findings"]:
        assert finding["severity"] == "observation"
        assert finding["check"] in ALL_CHECKS
        instance_from_dict(finding["instance"])
    assert not list(tmp_path.glob(".check.json.*"))  # the temporary file was renamed away


def test_broken_candidate_fails_with_a_minimal_reproducer(
    broken_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "check.json"
    candidate = str(broken_dir / "wrong_pack_sizes.py")
    argv = ["--budget", "120", "--max-cases", "30", "--json", str(report)]
    code, out, _ = _run(capsys, candidate, *argv)
    assert code == 1
    assert "FAIL" in out and "packing.pack_size" in out
    (printed,) = _reproducers(out)
    instance = instance_from_dict(printed)
    assert isinstance(instance, PackingInstance)
    assert len(instance.weights) == 1 and len(instance.weights[0]) == 2
    findings = json.loads(report.read_text())["findings"]
    violation = next(f for f in findings if f["check"] == "packing.pack_size")
    assert violation["severity"] == "violation"
    assert instance_from_dict(violation["instance"]) == instance
    assert violation["occurrences"] >= 1


def test_exception_findings_show_the_traceback(
    broken_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, str(broken_dir / "raises.py"), "--budget", "1")
    assert code == 1
    assert "behaviour.exception" in out
    assert "RuntimeError: index out of bounds in the placement kernel" in out


def test_policy_global_accepts_a_deliberately_global_candidate(
    broken_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    candidate = str(broken_dir / "ignores_hierarchy.py")
    code, out, _ = _run(capsys, candidate, "--max-cases", "40", "--policy", "global")
    assert code == 0, out


def test_strict_turns_observations_into_failures(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "reference:rebalance_experts", "--budget", "1", "--strict")
    assert code == 1
    assert "placement.anti_affinity" in out
    assert _reproducers(out)


def test_same_seed_same_findings(
    broken_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    runs = []
    for run in range(2):
        report = tmp_path / f"run{run}.json"
        candidate = str(broken_dir / "ignores_hierarchy.py")
        argv = ["--max-cases", "40", "--seed", "7", "--json", str(report)]
        code, _, _ = _run(capsys, candidate, *argv)
        assert code == 1
        runs.append(json.loads(report.read_text()))
    first, second = runs
    assert first["cases"] == second["cases"]
    assert first["findings"] == second["findings"]  # same checks, counts and reproducers
    assert "rebalance.group_split" in {f["check"] for f in first["findings"]}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def balanced_packing(:\n", "syntax error"),
        ("x = 1\n", "defines none of"),
    ],
)
def test_unloadable_candidate_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str, message: str
) -> None:
    path = tmp_path / "candidate.py"
    path.write_text(source)
    code, out, err = _run(capsys, str(path), "--budget", "1")
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out


def test_a_candidate_error_is_one_usage_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The dispatcher turns the `EplbVerifyError` into exit 2 and one line on stderr."""
    path = tmp_path / "candidate.py"
    path.write_text("x = 1\n")
    code, _, err = _run(capsys, str(path), "--budget", "1")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eplb-verify check: error: "), err


def test_the_flags_reach_the_options() -> None:
    """check's and fuzz's options come from their flags through one function."""
    from verifier.cli.dispatch import build_parser
    from verifier.cli.options import options_from_args
    from verifier.runs.check import EngineOptions
    from verifier.runs.fuzz import FuzzOptions

    shared = ["--budget", "5", "--seed", "3", "--policy", "global", "--timeout", "2"]
    shared += ["--database", "examples", "--api", "vllm", "--shared-instance"]
    shared += ["--allow-cross-layer", "--no-device-probe"]
    check = ["check", "x.py", *shared, "--device", "all", "--strict", "--max-cases", "7"]
    options = options_from_args(EngineOptions, build_parser().parse_args(check))
    assert options == EngineOptions(
        budget=5.0,
        seed=3,
        policy="global",
        timeout=2.0,
        api="vllm",
        fresh_instance=False,
        allow_cross_layer=True,
        device_probe=False,
        device="all",
        strict=True,
        max_cases=7,
        database="examples",
    )
    fuzz = build_parser().parse_args(["fuzz", "x.py", *shared])
    assert options_from_args(FuzzOptions, fuzz, database="elsewhere") == FuzzOptions(
        budget=5.0,
        seed=3,
        policy="global",
        timeout=2.0,
        api="vllm",
        fresh_instance=False,
        allow_cross_layer=True,
        device_probe=False,
        database="elsewhere",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reference", "--budget", "0"], "--budget"),
        (["reference", "--budget", "soon"], "not a number"),
        (["reference", "--max-cases", "0"], "at least 1"),
        (["reference", "--json", "/no/such/folder/out.json"], "does not exist"),
        (["reference", "--policy", "local"], "invalid choice"),
        (["no_such_candidate_module_xyz"], "no module named"),
        ([], "CANDIDATE"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert message in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "reference", "--device", "cuda")
    assert code == 2
    assert "CUDA is not available" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_all_without_cuda_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "reference:balanced_packing", "--budget", "1", "--device", "all")
    assert code == 0
    assert "CUDA is not available" in out


def test_python_dash_m_entry_point() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "verifier", "check", "reference:heap", "--budget", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "PASS" in completed.stdout


def test_a_printed_reproducer_replays_to_the_same_violation(
    broken_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--replay FILE` checks exactly the instance a run printed, and finds the bug again."""
    candidate = str(broken_dir / "wrong_pack_sizes.py")
    code, out, _ = _run(capsys, candidate, "--budget", "60", "--max-cases", "10")
    assert code == 1
    reproducer = tmp_path / "reproducer.json"
    reproducer.write_text(json.dumps(_reproducers(out)[0]))
    report = tmp_path / "replay.json"
    code, _, _ = _run(capsys, candidate, "--replay", str(reproducer), "--json", str(report))
    data = json.loads(report.read_text())
    assert code == 1 and data["cases"] == {"balanced_packing": {"edge": 1, "generated": 0}}
    assert "packing.pack_size" in {finding["check"] for finding in data["findings"]}
    code, _, _ = _run(capsys, "reference", "--replay", str(reproducer))
    assert code == 0


def test_a_replayed_instance_with_an_unknown_field_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"problem": "packing", "weights": [[2, 1]], "num_pack": 2}))
    code, out, err = _run(capsys, "reference", "--replay", str(typo))
    assert code == 2 and out == ""
    assert str(typo) in err and "'num_pack'" in err

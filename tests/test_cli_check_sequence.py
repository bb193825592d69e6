"""`eplb-verify check --sequence N` end to end: the verdict, the summary lines, `--json`'s
`"sequence"`, the reproducer command, and the usage errors of its options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from candidate_paths import APIS_DIR
from verifier.corpus.bundled_traces import small_trace_paths
from verifier.runs.check import ALL_CHECKS

WINDOWED = f"{APIS_DIR / 'windowed_policy.py'}:WindowedPolicy"
QUICK = ["--max-cases", "3", "--no-device-probe"]
SMALL_TRACE = str(small_trace_paths()[".npy"])  # 40 steps


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from verifier.cli.dispatch import main

    code = main(["check", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_windowed_policy_passes_and_prints_its_observations(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "check.json"
    code, out, _ = _run(capsys, WINDOWED, "--sequence", "8", *QUICK, "--json", str(report))
    assert code == 0, out
    text = " ".join(out.split())  # the console wraps long lines
    assert "sequence: 8 of 8 calls on one instance" in text
    assert "window input tokens_per_expert [50, 4, 256]" in text
    assert "changed nothing on 0 of 7 calls" in text
    assert "stale-plan balancedness (plan t on loads t+1):" in text and "(greedy 0." in text
    assert "two identical sequences agree on all 8 calls" in text
    sequence = json.loads(report.read_text())["sequence"]
    assert sequence["completed"] == 8 and len(sequence["layers_changed"]) == 7
    assert sequence["old_placement"] and sequence["diverged_at"] is None
    assert 0 < sequence["stale_balancedness"] <= 1


def test_a_stateful_bug_fails_with_its_step_and_the_command_that_replays_it(
    broken_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = f"{broken_dir / 'windowed_unseeded.py'}:UnseededWindowedPolicy"
    report = tmp_path / "check.json"
    code, out, _ = _run(capsys, spec, "--sequence", "8", *QUICK, "--json", str(report))
    assert code == 1
    text = " ".join(out.split())
    assert "violation behaviour.nondeterministic in rebalance_experts" in text
    assert "sequence step 2 of 8: two identical sequences differ" in text
    assert f"reproducer: eplb-verify check {spec} --sequence 8" in text
    (finding,) = json.loads(report.read_text())["findings"][:1]
    assert finding["check"] in ALL_CHECKS and finding["details"]["step"] == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--trace", "loads.npy"], "--trace and --window go with --sequence N"),
        (["--window", "10"], "--trace and --window go with --sequence N"),
        (["--sequence", "0"], "at least 1"),
        (["--sequence", "8", "--trace", SMALL_TRACE, "--window", "10"], "at least 8 are needed"),
        (["--sequence", "2", "--trace", "no/such/loads.npy"], "no such file"),
    ],
)
def test_sequence_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(capsys, WINDOWED, *argv)
    assert code == 2
    assert message in err

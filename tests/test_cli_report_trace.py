"""`eplb-verify report --trace`: the generalisation section on a user's trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from verifier.cli.dispatch import main
from verifier.corpus.bundled_traces import small_trace_paths
from verifier.model.traces import load_trace
from verifier.report.trace_generalisation import trace_generalisation


def test_generalisation_on_a_trace_covers_every_layer_and_window() -> None:
    trace = load_trace(small_trace_paths()[".vllm.json"], window=10)
    found, problems = trace_generalisation(
        ["reference:greedy", "reference:balanced_packing"], trace, timeout=60.0
    )
    assert problems == []
    assert [item.candidate for item in found] == ["reference:greedy"]  # packing alone cannot plan
    greedy = found[0]
    assert greedy.windows == trace.layers * (len(trace.windows) - 1)
    assert 0 < greedy.stale_balancedness <= 1 and 0 < greedy.fresh_balancedness <= 1
    assert greedy.stale_gap is not None and greedy.stale_gap.count == greedy.windows
    assert greedy.stale_gap.mean >= 0  # certified bounds: no plan beats them


def test_report_rejects_a_malformed_trace_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "short.npy"
    bad.write_bytes(small_trace_paths()[".npy"].read_bytes())
    code = main(["report", "--trace", str(bad), "--window", "30", "--out", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err and "40 steps make 1 whole windows" in err
    assert not (tmp_path / "r").exists()

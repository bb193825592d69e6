"""`--workers N` of check and fuzz: engine processes on derived seed streams, merged findings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from candidate_paths import BROKEN_DIR
from verifier.cli.dispatch import main
from verifier.model.findings import Finding
from verifier.model.instances import PackingInstance
from verifier.runs.check import EngineOptions, EngineResult, FindingRecord
from verifier.runs.chunks import derived_seed
from verifier.runs.parallel import merge_engine_results, worker_seeds
from verifier.runs.results import CaseCounts

WRONG_PACK_SIZES = str(BROKEN_DIR / "wrong_pack_sizes.py")


def _result(instance: PackingInstance, occurrences: int, generated: int) -> EngineResult:
    finding = Finding("violation", "packing.pack_size", "wrong", "balanced_packing", instance)
    result = EngineResult("cand", ("balanced_packing",), EngineOptions())
    result.records[("violation", "balanced_packing", "packing.pack_size")] = FindingRecord(
        finding, occurrences
    )
    result.cases["balanced_packing"] = CaseCounts(edge=0, generated=generated)
    return result


def test_merging_adds_counts_and_keeps_the_smallest_reproducer() -> None:
    big = _result(PackingInstance([[5, 4, 3, 2]], 2), occurrences=3, generated=10)
    small = _result(PackingInstance([[1, 1]], 2), occurrences=2, generated=7)
    merged = merge_engine_results([big, small], EngineOptions(seed=9))
    (record,) = merged.records.values()
    assert record.occurrences == 5
    assert record.finding.instance == PackingInstance([[1, 1]], 2)
    assert merged.cases["balanced_packing"].generated == 17
    assert merged.options.seed == 9  # the run's options, not a worker's
    assert merged.to_dict().keys() == big.to_dict().keys()  # the one-worker shape


def test_worker_seed_streams() -> None:
    assert worker_seeds(5, 1) == [5]  # one worker is a plain run
    seeds = worker_seeds(5, 4)
    assert seeds[0] == 5 and seeds[1:] == [derived_seed(5, "worker", i) for i in (1, 2, 3)]
    assert len(set(seeds)) == 4 and worker_seeds(5, 4) == seeds
    with pytest.raises(ValueError, match="workers"):
        worker_seeds(5, 0)


def test_fuzz_with_two_workers_merges_into_one_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, database = tmp_path / "fuzz.json", tmp_path / "examples"
    argv = ["fuzz", WRONG_PACK_SIZES, "--budget", "4", "--workers", "2"]
    code = main([*argv, "--database", str(database), "--json", str(out)])
    assert code == 1
    data = json.loads(out.read_text())
    checks = [(f["severity"], f["function"], f["check"]) for f in data["findings"]]
    assert ("violation", "balanced_packing", "packing.pack_size") in checks
    assert len(checks) == len(set(checks))  # one entry per finding, however many workers saw it
    assert data["cases"]["balanced_packing"]["evaluated"] > 0
    assert data["seed"] == 0 and data["database"] == str(database)
    assert any(path.is_file() for path in database.rglob("*"))  # the shared database was used
    assert "2 workers fuzzing" in capsys.readouterr().err


def test_workers_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "reference", "--workers", "0"]) == 2
    assert main(["fuzz", "reference", "--workers", "x"]) == 2
    assert main(["fuzz", "reference", "--database", "d", "--no-database"]) == 2


def test_ctrl_c_still_reaches_python_after_a_cp_sat_solve(tmp_path: Path) -> None:
    # CP-SAT's own SIGINT catching used to reset SIGINT to its default action after every solve,
    # so a Ctrl-C killed a campaign (or a worker) outright instead of ending it with its summary.
    script = (
        "import os, signal, time\n"
        "from ortools.sat.python import cp_model\n"
        "from verifier.oracle.cpsat import Budget\n"
        "model = cp_model.CpModel(); x = model.new_int_var(0, 10, 'x'); model.maximize(x)\n"
        "Budget(1.0).solver().solve(model)\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"
        "except KeyboardInterrupt:\n"
        "    print('KeyboardInterrupt')\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert process.returncode == 0, (process.returncode, process.stderr[-500:])
    assert process.stdout.strip() == "KeyboardInterrupt"

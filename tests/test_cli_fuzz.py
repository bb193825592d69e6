"""`eplb-verify fuzz`: short real campaigns (sandbox, Hypothesis, oracle, corpus), checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from verifier.cli.dispatch import main
from verifier.corpus import load_corpus
from verifier.model.instances import Number, PackingInstance, RebalanceInstance, instance_to_dict
from verifier.runs.fuzz import FuzzStats, GapCase, measure_gap, single_layer


def test_measure_gap_is_exact_on_a_small_layer() -> None:
    # Round-robin packing of (8, 7, 2, 1) into 2 packs: {8, 2} and {7, 1}, max 10; optimum 9.
    instance = PackingInstance([[1, 1, 1, 1], [8, 7, 2, 1]], 2)
    gap = measure_gap("balanced_packing", instance, [Fraction(2), Fraction(10)])
    assert gap.exact and gap.reference == 9 and gap.objective == 10
    assert gap.gap == pytest.approx(1 / 9)
    assert gap.instance == PackingInstance([[8, 7, 2, 1]], 2)  # the worst layer alone


def test_single_layer_keeps_the_sizes() -> None:
    instance = RebalanceInstance([[1, 2, 3, 4], [5, 6, 7, 8]], 8, 2, 2, 4)
    assert single_layer(instance, 1) == RebalanceInstance([[5, 6, 7, 8]], 8, 2, 2, 4)


def test_worst_gaps_are_kept_worst_first_without_noise() -> None:
    stats = FuzzStats()

    def offer(weights: list[Number], objective: int, reference: int) -> None:
        instance = PackingInstance([weights], 1)
        gap = GapCase("balanced_packing", instance, Fraction(objective), Fraction(reference), True)
        stats.offer(gap)

    offer([3, 1], 11, 10)
    offer([3, 1], 11, 10)  # the same instance again: kept once
    offer([4, 1], 10, 10)  # no gap
    offer([5, 1], 10**12 + 1, 10**12)  # below the noise floor
    offer([6, 1], 13, 10)
    assert [case.gap for case in stats.worst] == pytest.approx([0.3, 0.1])


def test_fuzz_finds_and_shrinks_a_violation(
    broken_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, database = tmp_path / "fuzz.json", tmp_path / "examples"
    code = main(
        [
            *("fuzz", str(broken_dir / "wrong_pack_sizes.py"), "--budget", "4", "--seed", "1"),
            *("--database", str(database), "--json", str(out)),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 1
    data = json.loads(out.read_text())
    assert data["exit_code"] == 1 and data["violations"] >= 1
    finding = next(f for f in data["findings"] if f["check"] == "packing.pack_size")
    reproducer = finding["instance"]
    assert reproducer["problem"] == "packing" and reproducer["num_packs"] >= 2
    assert len(reproducer["weights"]) == 1 and len(reproducer["weights"][0]) <= 4  # shrunk
    assert '"problem": "packing"' in printed and "packing.pack_size" in printed
    assert data["cases"]["balanced_packing"]["evaluated"] > 0
    # The example database is kept where the user asked, per candidate and function.
    assert any(path.is_file() for path in database.rglob("*"))
    assert list(database.glob("wrong_pack_sizes.py-*/balanced_packing"))


def test_fuzz_records_worst_gaps_into_a_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus, out = tmp_path / "corpus", tmp_path / "fuzz.json"
    code = main(
        [
            *("fuzz", "reference:balanced_packing", "--budget", "4", "--seed", "3"),
            *("--no-database", "--corpus", str(corpus), "--time-limit", "1", "--json", str(out)),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    data = json.loads(out.read_text())
    assert data["violations"] == 0 and data["worst_gaps"]
    worst = data["worst_gaps"][0]
    assert worst["function"] == "balanced_packing" and worst["gap"] > 0
    assert "Worst-gap instances" in printed
    entries, broken = load_corpus(corpus)
    assert not broken and data["corpus_added"]
    recorded = [e for e in entries if e.family == "fuzz-worst-gap"]
    assert len(recorded) == 1
    entry = recorded[0]
    assert entry.provenance.source == "fuzz" and entry.provenance.seed == 3
    assert "reference:balanced_packing" in (entry.provenance.campaign or "")
    assert "--seed 3" in (entry.provenance.campaign or "") and entry.provenance.date
    assert instance_to_dict(entry.instance) == worst["instance"]
    # The corpus re-ran the reference greedy: the same objective the campaign measured.
    assert entry.baselines["greedy"].objectives[0] == Fraction(worst["objective"])
    assert entry.oracle.layers[0].bound <= Fraction(worst["objective"])


def test_fuzz_interrupted_keeps_what_it_found(broken_dir: Path, tmp_path: Path) -> None:
    out, database = tmp_path / "fuzz.json", tmp_path / "examples"
    candidate = str(broken_dir / "wrong_pack_sizes.py")
    command = [sys.executable, "-m", "verifier", "fuzz", candidate, "--budget", "120"]
    command += ["--database", str(database), "--json", str(out)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(p.is_file() for p in database.rglob("*")):
            time.sleep(0.2)  # the database gets the shrunk example once a violation is found
        assert process.poll() is None, "the campaign ended before it was interrupted"
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1  # the violation found before Ctrl-C still fails the run
    data = json.loads(out.read_text())
    assert data["interrupted"] is True and data["elapsed_seconds"] < 100
    assert any(f["check"] == "packing.pack_size" for f in data["findings"])
    assert b"packing.pack_size" in stdout


def test_fuzz_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["fuzz", "reference", "--budget", "0"]) == 2
    assert main(["fuzz", "no_such_module_xyz", "--budget", "1", "--no-database"]) == 2
    assert "no_such_module_xyz" in capsys.readouterr().err
    os.makedirs(tmp_path / "dir")
    assert main(["fuzz", "reference", "--json", str(tmp_path / "dir")]) == 2


def test_fuzz_gives_up_on_a_hanging_function(broken_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "fuzz.json"
    hangs = str(broken_dir / "hangs.py")
    args = ["fuzz", hangs, "--budget", "30", "--timeout", "1", "--no-database", "--json", str(out)]
    assert main(args) == 1
    data = json.loads(out.read_text())
    assert any(f["check"] == "behaviour.timeout" for f in data["findings"])
    assert any("stopped calling it" in note for note in data["notes"])
    assert data["elapsed_seconds"] < 15  # it did not wait out the 30 s budget

"""`eplb-verify corpus list|add|verify|rebaseline|stats`, end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from reference import VARIANTS
from verifier.cli.dispatch import main
from verifier.corpus import load_corpus, load_entry
from verifier.model.instances import RebalanceInstance, instance_hash, instance_json

ONE_HOT = RebalanceInstance([[1, 0, 0, 0, 0, 0]], 9, 1, 1, 3)  # optimum 1/3, greedy 1/2
PACKING = json.dumps(
    {"problem": "packing", "weights": [[14, 1, 17, 8, 15, 16], [3, 3, 2, 2, 1, 1]], "num_packs": 2}
)


@pytest.fixture(scope="module")
def added(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus built by `corpus add` from instance files."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "one_hot.json").write_text(instance_json(ONE_HOT), encoding="utf-8")
    (folder / "packing.json").write_text(PACKING, encoding="utf-8")
    corpus = folder / "corpus"
    code = main(
        [
            "corpus",
            "add",
            str(folder / "one_hot.json"),
            str(folder / "packing.json"),
            "--corpus",
            str(corpus),
            "--family",
            "cli-test",
            "--time-limit",
            "5",
        ]
    )
    assert code == 0
    return corpus


@pytest.fixture
def corpus(added: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "corpus"
    shutil.copytree(added, copy)
    return copy


def test_add_records_and_reports_duplicates(
    added: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries, broken = load_corpus(added)
    assert broken == [] and len(entries) == 2
    assert {entry.family for entry in entries} == {"cli-test"}
    one_hot = next(entry for entry in entries if entry.problem == "rebalance")
    assert one_hot.oracle.layers[0].proven
    assert one_hot.oracle.layers[0].objective == Fraction(1, 3)
    assert one_hot.baselines["greedy"].objectives == [Fraction(1, 2)]
    instance_file = tmp_path / "again.json"
    instance_file.write_text(instance_json(ONE_HOT), encoding="utf-8")
    before = one_hot.path.read_bytes() if one_hot.path else b""
    assert main(["corpus", "add", str(instance_file), "--corpus", str(added)]) == 0
    assert f"duplicate {instance_file}" in capsys.readouterr().out
    assert one_hot.path is not None and one_hot.path.read_bytes() == before


def test_add_bad_instance_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"problem": "packing", "weights": [[1, 2, 3]], "num_packs": 2}', "utf-8")
    assert main(["corpus", "add", str(bad), "--corpus", str(tmp_path / "c")]) == 2
    error = capsys.readouterr().err
    assert str(bad) in error and "num_packs" in error
    assert not (tmp_path / "c" / "packing").exists()


def test_add_an_instance_with_an_unknown_field_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "typo.json"
    data = {"problem": "packing", "weights": [[1, 2, 3, 4]], "num_packs": 2, "num_pakcs": 4}
    typo.write_text(json.dumps(data), "utf-8")
    assert main(["corpus", "add", str(typo), "--corpus", str(tmp_path / "c")]) == 2
    error = capsys.readouterr().err
    assert str(typo) in error and "'num_pakcs'" in error
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*.json"))


def test_missing_corpus_dir_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["corpus", "verify", "--corpus", str(tmp_path / "nope")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["corpus", "frobnicate"]) == 2


def test_verify_passes_then_fails_on_a_regression(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["corpus", "verify", "--corpus", str(corpus)]) == 0
    assert f"replayed 2 records x {len(VARIANTS)} variants" in capsys.readouterr().out
    path = corpus / "rebalance" / f"{instance_hash(ONE_HOT)}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    layer = data["baselines"]["heap"]["layers"][0]
    layer["objective"], layer["objective_float"] = "1/3", 1 / 3
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["corpus", "verify", "--corpus", str(corpus)]) == 1
    captured = capsys.readouterr()
    assert f"regression: {path} [heap]: worse than recorded: layer 0: 1/3 -> 1/2" in captured.err
    assert "FAILED: 1 failures, 0 broken records" in captured.out
    assert main(["corpus", "verify", "--corpus", str(corpus), "--variant", "greedy"]) == 0
    assert main(["corpus", "verify", "--corpus", str(corpus), "--variant", "nope"]) == 2


def test_verify_fails_on_a_broken_file_and_still_runs_the_rest(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = corpus / "rebalance" / f"{instance_hash(ONE_HOT)}.json"
    path.write_text("{", encoding="utf-8")
    assert main(["corpus", "verify", "--corpus", str(corpus)]) == 1
    captured = capsys.readouterr()
    assert f"BROKEN {path}: not valid JSON" in captured.err
    assert f"replayed 1 records x {len(VARIANTS)} variants: {len(VARIANTS)} ok" in captured.out


def test_rebaseline_shows_the_diff_and_rewrites(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = corpus / "rebalance" / f"{instance_hash(ONE_HOT)}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    layer = data["baselines"]["greedy"]["layers"][0]
    layer["objective"], layer["objective_float"] = "2/3", 2 / 3
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["corpus", "rebaseline", "--corpus", str(corpus), "--dry-run"]) == 0
    assert "~ greedy: layer 0: 2/3 -> 1/2" in capsys.readouterr().out
    assert load_entry(path).baselines["greedy"].objectives == [Fraction(2, 3)]
    assert main(["corpus", "rebaseline", "--corpus", str(corpus)]) == 0
    assert "rewrote 1 of 2 records" in capsys.readouterr().out
    assert load_entry(path).baselines["greedy"].objectives == [Fraction(1, 2)]
    assert path.read_text(encoding="utf-8").startswith('{\n  "baselines"')
    assert main(["corpus", "verify", "--corpus", str(corpus)]) == 0


def test_list_and_stats(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["corpus", "list", "--corpus", str(corpus)]) == 0
    listing = capsys.readouterr().out
    assert f"rebalance/{instance_hash(ONE_HOT)}" in listing and "cli-test" in listing
    assert main(["corpus", "stats", "--corpus", str(corpus), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["records"] == 2
    assert stats["families"] == {"cli-test": {"packing": 1, "rebalance": 1}}
    assert stats["layers"] == {"proven": 3, "open": 0}
    assert stats["proven_gap"]["greedy"]["max"] == pytest.approx(0.5)  # 1/2 vs 1/3
    assert stats["proven_gap"]["swap"]["count"] == 3
    assert main(["corpus", "stats", "--corpus", str(corpus)]) == 0
    assert "cli-test" in capsys.readouterr().out


def test_concurrent_add_processes_write_once(tmp_path: Path) -> None:
    """Three `eplb-verify corpus add` processes on the same instance: one record, whole."""
    instance_file = tmp_path / "one_hot.json"
    instance_file.write_text(instance_json(ONE_HOT), encoding="utf-8")
    corpus = tmp_path / "corpus"
    command = [sys.executable, "-m", "verifier", "corpus", "add", str(instance_file)]
    command += ["--corpus", str(corpus), "--time-limit", "5"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0]
    assert sum(output.startswith("added") for output in outputs) == 1, outputs
    assert sum(output.startswith("duplicate") for output in outputs) == 2, outputs
    entries, broken = load_corpus(corpus)
    assert broken == [] and len(entries) == 1
    assert sorted(p.name for p in (corpus / "rebalance").iterdir()) == [
        f"{instance_hash(ONE_HOT)}.json"
    ]

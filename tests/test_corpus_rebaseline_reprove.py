"""`corpus rebaseline --reprove`: re-solving every layer on local processes gives exactly the
records a sequential re-proof gives, takes stronger results and never writes a conflicting one.

Always on a copy of a few small shipped records (the shipped corpus is never rewritten).
"""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from verifier.cli.dispatch import main
from verifier.corpus import CorpusEntry, OracleLayer, default_corpus_dir, load_corpus
from verifier.corpus.reprove import classify

PROBLEMS = ("packing", "replication", "rebalance")


def small_records() -> list[CorpusEntry]:
    """Per problem, the first shipped record with 2+ layers, all proven, solved in no time."""
    entries, _ = load_corpus(default_corpus_dir())
    chosen: dict[str, CorpusEntry] = {}
    for entry in sorted(entries, key=lambda entry: entry.name):
        layers = entry.oracle.layers
        quick = sum(layer.seconds for layer in layers) < 0.05
        if len(layers) >= 2 and all(layer.proven for layer in layers) and quick:
            chosen.setdefault(entry.problem, entry)
    assert sorted(chosen) == sorted(PROBLEMS), "the shipped corpus lacks small proven records"
    return [chosen[problem] for problem in PROBLEMS]


def copy_records(entries: list[CorpusEntry], folder: Path) -> dict[str, Path]:
    """The records' files copied under `folder`, by problem."""
    copies = {}
    for entry in entries:
        assert entry.path is not None
        target = folder / entry.path.parent.name / entry.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(entry.path, target)
        copies[entry.problem] = target
    return copies


def set_exact(node: dict[str, Any], key: str, value: Fraction) -> None:
    node[key] = str(value)
    node[f"{key}_float"] = float(value)


def weaken(path: Path, layer: int) -> None:
    """Record a proven layer as only bounded (bound one below the optimum): the re-proof is
    stronger."""
    data = json.loads(path.read_text(encoding="utf-8"))
    record = data["oracle"]["layers"][layer]
    set_exact(record, "bound", Fraction(record["bound"]) - 1)
    record["status"], record["proven"] = "feasible", False
    path.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")


def without_seconds(value: Any) -> Any:
    """A record's JSON without the wall-clock `seconds` (the only field a pool may change)."""
    if isinstance(value, dict):
        return {key: without_seconds(item) for key, item in value.items() if key != "seconds"}
    if isinstance(value, list):
        return [without_seconds(item) for item in value]
    return value


def results(path: Path) -> list[tuple[str, str, str]]:
    layers = json.loads(path.read_text(encoding="utf-8"))["oracle"]["layers"]
    return [(layer["objective"], layer["bound"], layer["status"]) for layer in layers]


def test_pool_and_sequential_reproofs_write_identical_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = small_records()
    runs = {}
    for workers in ("1", "2"):
        copies = copy_records(entries, tmp_path / f"workers-{workers}")
        weaken(copies["packing"], 1)
        weaken(copies["rebalance"], 0)
        args = ["corpus", "rebaseline", "--reprove", "--workers", workers]
        assert main([*args, "--corpus", str(tmp_path / f"workers-{workers}")]) == 0
        out, err = capsys.readouterr()
        assert "re-proved" in out and "2 stronger, 0 weaker or in conflict, 1 unchanged" in out
        assert "stronger: layer 1:" in out and "stronger: layer 0:" in out
        total = sum(len(entry.oracle.layers) for entry in entries)
        assert f"corpus rebaseline: solves {total}/{total}" in err
        runs[workers] = copies
    for problem, entry in zip(PROBLEMS, entries, strict=True):
        assert entry.path is not None
        sequential, pooled = runs["1"][problem], runs["2"][problem]
        assert without_seconds(json.loads(sequential.read_text(encoding="utf-8"))) == (
            without_seconds(json.loads(pooled.read_text(encoding="utf-8")))
        )
        assert results(sequential) == results(entry.path), "the weakened layer is proven again"
    shipped = entries[PROBLEMS.index("replication")].path
    assert shipped is not None
    assert runs["1"]["replication"].read_bytes() == shipped.read_bytes()  # nothing new: unwritten


def test_a_conflicting_reproof_is_reported_and_not_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record claiming an optimum one below the true one: the re-proof's bound exceeds it."""
    [packing] = [entry for entry in small_records() if entry.problem == "packing"]
    path = copy_records([packing], tmp_path)["packing"]
    data = json.loads(path.read_text(encoding="utf-8"))
    record = data["oracle"]["layers"][0]
    claimed = Fraction(record["objective"]) - 1
    set_exact(record, "objective", claimed)
    set_exact(record, "bound", claimed)
    path.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    before = path.read_bytes()
    args = ["corpus", "rebaseline", "--reprove", "--workers", "1", "--corpus", str(tmp_path)]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert f"conflict: layer 0: optimal objective {claimed} bound {claimed}" in err
    assert "re-proof not written" in err and "FAILED: 1 records" in out
    assert path.read_bytes() == before


def layer(objective: int | None, bound: int, status: str = "feasible") -> OracleLayer:
    return OracleLayer(
        None if objective is None else Fraction(objective), Fraction(bound), status, 0
    )


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        (layer(10, 8), layer(9, 9, "optimal"), "stronger"),  # better objective, proven
        (layer(None, 8, "unknown"), layer(10, 8), "stronger"),  # an objective found
        (layer(9, 9, "optimal"), layer(10, 9), "weaker"),  # the proof lost
        (layer(10, 8), layer(None, 8, "unknown"), "weaker"),  # the objective lost
        (layer(10, 8), layer(10, 7), "weaker"),  # a lower bound
        (layer(9, 9, "optimal"), layer(10, 10, "optimal"), "conflict"),  # bound above optimum
        (layer(12, 10), layer(9, 9, "optimal"), "conflict"),  # objective below the bound
    ],
)
def test_classify(old: OracleLayer, new: OracleLayer, kind: str) -> None:
    assert classify(old, new) == kind


def test_workers_without_reprove_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["corpus", "rebaseline", "--workers", "2", "--dry-run"]) == 2
    assert "--reprove" in capsys.readouterr().err

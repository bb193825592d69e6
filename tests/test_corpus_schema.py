"""Record validation: a malformed record is rejected with a message naming file and field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from verifier.corpus.schema import (
    Baseline,
    CorpusEntry,
    OracleLayer,
    OracleRecord,
    Provenance,
    RecordError,
    entry_json,
    load_entry,
    pretty_json,
)
from verifier.corpus.store import record_path
from verifier.model.instances import PackingInstance


def sample_entry() -> CorpusEntry:
    """A well-formed record of a two-layer packing instance (values are hand-made, not solved)."""
    instance = PackingInstance([[5, 3, 2, 2], [1, 1, 1, 1]], 2)
    oracle = OracleRecord(
        solver="hand-made",
        method="solve",
        time_limit=1.0,
        seed=0,
        layers=[
            OracleLayer(Fraction(7), Fraction(7), "optimal", 0.01),
            OracleLayer(Fraction(2), Fraction(3, 2), "feasible", 0.02),
        ],
    )
    baselines = {"greedy": Baseline([Fraction(8), Fraction(2)])}
    return CorpusEntry(instance, Provenance(family="unit", date="2025-01-01"), oracle, baselines)


def write_record(folder: Path, data: dict[str, Any]) -> Path:
    entry = sample_entry()
    path = record_path(folder, entry.instance)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    return path


def test_round_trip_is_exact_and_pretty(tmp_path: Path) -> None:
    entry = sample_entry()
    text = entry_json(entry)
    path = write_record(tmp_path, json.loads(text))
    loaded = load_entry(path)
    assert loaded.instance == entry.instance
    assert loaded.oracle == entry.oracle
    assert loaded.baselines == entry.baselines
    assert loaded.provenance == entry.provenance
    data = json.loads(text)
    assert data["schema_version"] == 1
    assert data["oracle"]["layers"][1]["bound"] == "3/2"
    assert data["baselines"]["greedy"]["layers"][0]["gap"] == "1/7"
    assert data["baselines"]["greedy"]["max_gap"] == "1/3"
    assert text == pretty_json(data) + "\n"
    assert "      [5, 3, 2, 2],\n      [1, 1, 1, 1]\n" in text  # one line per layer


def test_gap_interval_is_honest() -> None:
    entry = sample_entry()
    assert entry.gap_interval("greedy", 0) == (Fraction(1, 7), Fraction(1, 7))
    assert entry.gap_interval("greedy", 1) == (Fraction(0), Fraction(1, 3))


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is KeyError:
            del node[last]
        else:
            node[int(last) if isinstance(node, list) else last] = value

    return mutate


def _both(path: str, exact: str) -> Mutation:
    """Set an exact value and its float twin together (a consistent hand edit)."""

    def mutate(data: dict[str, Any]) -> None:
        _set(path, exact)(data)
        _set(path + "_float", float(Fraction(exact)))(data)

    return mutate


BAD_RECORDS = [
    (_set("schema_version", 99), "schema_version"),
    (_set("schema_version", KeyError), "schema_version"),
    (_set("instance/num_packs", 3), "instance"),
    (_set("instance/weights", [[5, 3, 2, 2], [1, -1, 1, 1]]), "instance"),
    (_set("hash", "0123456789abcdef"), "hash"),
    (_set("provenance/family", KeyError), "provenance.family"),
    (_set("provenance/source", "rumour"), "provenance.source"),
    (_set("oracle/method", "guess"), "oracle.method"),
    (_set("oracle/layers", []), "oracle.layers"),
    (_set("oracle/layers/0/bound", 7.0), "oracle.layers[0].bound"),
    (_set("oracle/layers/0/bound", "seven"), "oracle.layers[0].bound"),
    (_set("oracle/layers/1/bound", "5/2"), "oracle.layers[1].bound_float"),
    (_both("oracle/layers/1/bound", "5/2"), "oracle.layers[1].bound': bound 5/2 exceeds"),
    (_both("oracle/layers/0/objective", "8"), "'optimal' needs objective == bound"),
    (_set("oracle/layers/0/status", "proven"), "oracle.layers[0].status"),
    (_set("oracle/layers/0/proven", False), "oracle.layers[0].proven"),
    (_set("oracle/layers/0/objective_float", 6.0), "oracle.layers[0].objective_float"),
    (_both("baselines/greedy/layers/0/objective", "6"), "below the oracle's certified bound"),
    (_set("baselines/greedy/layers/1", "x"), "baselines.greedy.layers[1]"),
    (_set("baselines/greedy/layers", [{"objective": "8", "objective_float": 8.0}]), "layers"),
    (_set("baselines/greedy/layers/0/objective_float", 9.0), "objective_float"),
]


@pytest.mark.parametrize(("mutate", "field"), BAD_RECORDS)
def test_invalid_record_names_file_and_field(tmp_path: Path, mutate: Mutation, field: str) -> None:
    data = json.loads(entry_json(sample_entry()))
    broken = copy.deepcopy(data)
    mutate(broken)
    path = write_record(tmp_path, broken)
    with pytest.raises(RecordError) as raised:
        load_entry(path)
    message = str(raised.value)
    assert message.startswith(str(path)), message
    assert field in message, message


def test_not_json_names_file(tmp_path: Path) -> None:
    path = tmp_path / "packing" / "deadbeefdeadbeef.json"
    path.parent.mkdir()
    path.write_text("{ not json", encoding="utf-8")
    with pytest.raises(RecordError, match=r"deadbeefdeadbeef\.json: not valid JSON"):
        load_entry(path)


def test_misplaced_file_is_rejected(tmp_path: Path) -> None:
    text = entry_json(sample_entry())
    path = tmp_path / "packing" / "renamed.json"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecordError, match="file name does not match field 'hash'"):
        load_entry(path)
    wrong_folder = tmp_path / "replication" / f"{sample_entry().hash}.json"
    wrong_folder.parent.mkdir()
    wrong_folder.write_text(text, encoding="utf-8")
    with pytest.raises(RecordError, match=r"instance\.problem"):
        load_entry(wrong_folder)

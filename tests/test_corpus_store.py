"""The corpus store: hash-named files, atomic writes, duplicates, concurrent adds."""

from __future__ import annotations

import multiprocessing
import os
import stat
from multiprocessing.synchronize import Barrier
from pathlib import Path

from test_corpus_schema import sample_entry

from verifier.corpus.schema import CorpusEntry, entry_json
from verifier.corpus.store import load_corpus, record_files, record_path, save_new_entry
from verifier.model.instances import PackingInstance, instance_hash


def test_record_path_is_problem_folder_and_content_hash(tmp_path: Path) -> None:
    entry = sample_entry()
    path = record_path(tmp_path, entry.instance)
    assert path == tmp_path / "packing" / f"{instance_hash(entry.instance)}.json"


def test_duplicate_is_not_written_twice(tmp_path: Path) -> None:
    entry = sample_entry()
    first = save_new_entry(tmp_path, entry)
    assert first is not None and first.is_file()
    before = first.read_text(encoding="utf-8")
    changed = entry.with_baselines({})
    assert save_new_entry(tmp_path, changed) is None
    assert first.read_text(encoding="utf-8") == before
    assert record_files(tmp_path) == [first]
    assert [p.name for p in first.parent.iterdir()] == [first.name], "temporary files left"


ROUNDS = 150  # instances every process races to add
PROCESSES = 4


def _scaled_entry(scale: int) -> CorpusEntry:
    entry = sample_entry()
    weights = [[value * scale for value in row] for row in entry.instance.weights]
    return CorpusEntry(PackingInstance(weights, 2), entry.provenance, entry.oracle, {})


def _race(folder: str, barrier: Barrier, results: multiprocessing.Queue[list[int]]) -> None:
    """Child process: wait for the others, then add every instance; report which ones it won."""
    entries = [_scaled_entry(scale) for scale in range(1, ROUNDS + 1)]
    barrier.wait()
    won = [scale for scale, entry in enumerate(entries, 1) if save_new_entry(Path(folder), entry)]
    results.put(won)


def test_concurrent_adds_from_processes(tmp_path: Path) -> None:
    """Processes add the same instances at the same time: each is written exactly once, whole."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=_race, args=(str(tmp_path), barrier, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    won = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    wins = sorted(scale for scales in won for scale in scales)
    assert wins == list(range(1, ROUNDS + 1)), "an instance was written twice or not at all"
    entries, broken = load_corpus(tmp_path)
    assert broken == []
    assert len(entries) == ROUNDS
    for entry in entries:
        expected = _scaled_entry(round(entry.instance.weights[0][0] / 5))
        assert entry_json(entry) == entry_json(expected)
    assert not list((tmp_path / "packing").glob(".tmp-*")), "temporary files left behind"


def test_broken_file_is_reported_and_the_rest_loads(tmp_path: Path) -> None:
    good = save_new_entry(tmp_path, sample_entry())
    bad = tmp_path / "rebalance" / "0000000000000000.json"
    bad.parent.mkdir()
    bad.write_text('{"schema_version": 1}', encoding="utf-8")
    (tmp_path / "README.md").write_text("not a record", encoding="utf-8")
    entries, broken = load_corpus(tmp_path)
    assert [entry.path for entry in entries] == [good]
    assert [record.path for record in broken] == [bad]
    assert str(bad) in broken[0].message and "instance" in broken[0].message


def test_new_records_get_ordinary_permissions(tmp_path: Path) -> None:
    """Records are shared files: mode 0o666 less the umask, not a temporary file's 0o600."""
    previous = os.umask(0o022)
    try:
        path = save_new_entry(tmp_path, sample_entry())
    finally:
        os.umask(previous)
    assert path is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o644

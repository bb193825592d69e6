"""Corpus records with an old placement and a move budget: OPT(max_moves) is re-proven on
`corpus verify`, so a recorded optimum the oracle no longer reproduces fails it."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

from verifier.cli.dispatch import main
from verifier.corpus import default_corpus_dir, load_corpus
from verifier.corpus.records import has_move_budget
from verifier.corpus.replay import check_record


def _budget_records() -> list[Path]:
    entries, _ = load_corpus(default_corpus_dir())
    return [entry.path for entry in entries if has_move_budget(entry.instance) and entry.path]


def test_shipped_budget_records_are_proven_and_reproduced() -> None:
    paths = _budget_records()
    assert len(paths) >= 3
    entries, _ = load_corpus(default_corpus_dir())
    for entry in entries:
        if entry.path in paths:
            assert all(layer.proven for layer in entry.oracle.layers), entry.path
            assert check_record(entry) == [], entry.path


def test_a_record_the_oracle_no_longer_reproduces_fails_corpus_verify(
    tmp_path: Path,
) -> None:
    source = min(_budget_records(), key=lambda path: path.stat().st_size)
    folder = tmp_path / "rebalance"
    folder.mkdir()
    target = folder / source.name
    shutil.copy(source, target)
    data = json.loads(target.read_text(encoding="utf-8"))
    layer = data["oracle"]["layers"][0]
    lowered = Fraction(layer["bound"]) - Fraction(1, 2)
    assert lowered >= 0
    # a self-consistent record claiming a lower optimum than the oracle proves
    layer.update(bound=str(lowered), bound_float=float(lowered), objective=str(lowered),
                 objective_float=float(lowered))  # fmt: skip
    target.write_text(json.dumps(data), encoding="utf-8")
    assert main(["corpus", "verify", "--corpus", str(tmp_path)]) == 1
    shutil.copy(source, target)
    assert main(["corpus", "verify", "--corpus", str(tmp_path)]) == 0


def test_corpus_runs_skip_budget_records_a_plan_from_scratch_could_beat() -> None:
    """OPT(max_moves) bounds only plans within the budget: the gap tables do not score a
    from-scratch plan against it (it would 'beat a certified bound')."""
    from verifier.runs.corpus_runs import run_corpus

    entries, _ = load_corpus(default_corpus_dir())
    budgeted = [entry for entry in entries if has_move_budget(entry.instance)]
    results = run_corpus(["reference:greedy"], budgeted, timeout=30.0)
    assert len(results) == len(budgeted)
    assert {result.status for result in results} == {"skipped"}

"""The regression test of the default run: replay the shipped corpus on every reference variant.

One test per record (so pytest-xdist spreads them): the contract holds, no variant is worse than
its recorded baseline, none beats a certified bound, every variant has a baseline, and the record
agrees with the oracle's cheap bound and any closed form.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reference import VARIANTS
from verifier.calling.pool import SandboxPool
from verifier.corpus import default_corpus_dir, load_corpus, load_entry
from verifier.corpus.records import has_move_budget
from verifier.corpus.replay import replay
from verifier.corpus.store import record_files
from verifier.model.examples import deepseek_example

CORPUS = default_corpus_dir()
FILES = record_files(CORPUS)


def test_shipped_corpus_loads_and_covers_every_family() -> None:
    entries, broken = load_corpus(CORPUS)
    assert [record.message for record in broken] == []
    families = {entry.family for entry in entries}
    assert {"deepseek-example", "worst-case-2g", "proven-small", "drift-trace"} <= families
    assert "migration-budget" in families
    assert {entry.problem for entry in entries} == {"packing", "replication", "rebalance"}
    proven = [entry for entry in entries if all(layer.proven for layer in entry.oracle.layers)]
    assert len(proven) >= len(entries) // 2, "most records should carry exact optima"


def test_deepseek_example_records_are_the_published_instance() -> None:
    """The corpus ships DeepSeek's published example itself (and its global-policy twin),
    proven optimal, not a mistyped copy of it."""
    entries, _ = load_corpus(CORPUS)
    examples = [entry for entry in entries if entry.family == "deepseek-example"]
    expected = [deepseek_example(), deepseek_example(num_nodes=1)]
    assert sorted((entry.instance for entry in examples), key=repr) == sorted(expected, key=repr)
    for entry in examples:
        assert all(layer.proven for layer in entry.oracle.layers), entry.path


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_replay_record(path: Path, reference_pool: SandboxPool) -> None:
    entry = load_entry(path)
    report = replay([entry], pool=reference_pool)
    problems = [
        outcome.describe()
        for outcome in report.outcomes
        if outcome.failed or outcome.kind == "unrecorded"
    ]
    assert problems == [], "\n".join(problems)
    if has_move_budget(entry.instance):  # OPT(max_moves) re-proven; variants plan from scratch
        assert entry.baselines == {} and {outcome.variant for outcome in report.outcomes} <= {""}
    else:
        assert {outcome.variant for outcome in report.outcomes} >= set(VARIANTS)

"""Replay catches regressions, violations and oracle inconsistencies; rebaseline records changes."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from reference import VARIANTS
from verifier.calling.pool import SandboxPool
from verifier.corpus import Provenance, add_instance, load_corpus, load_entry
from verifier.corpus.records import baseline_records
from verifier.corpus.replay import rebaseline_entry, replay
from verifier.model.instances import PackingInstance, RebalanceInstance, ReplicationInstance

# greedy packs this layer to 39, pool_split to 38, swap to the optimum 37 (checked below)
SWAP_WINS = PackingInstance([[14, 1, 17, 8, 15, 16]], 2)
ONE_HOT = RebalanceInstance([[1, 0, 0, 0, 0, 0, 0, 0]], 12, 1, 1, 4)  # optimum 1/4, greedy 2/5
SMALL_REPLICATION = ReplicationInstance([[9, 1, 4, 0], [3, 3, 3, 3]], 7)


@pytest.fixture(scope="module")
def solved_corpus(tmp_path_factory: pytest.TempPathFactory, reference_pool: SandboxPool) -> Path:
    """A small corpus solved by the real oracle and recorded from the real reference variants."""
    folder = tmp_path_factory.mktemp("corpus")
    for instance in (SWAP_WINS, ONE_HOT, SMALL_REPLICATION):
        provenance = Provenance(family="unit", source="manual", description="test")
        path = add_instance(folder, instance, provenance, time_limit=5.0, pool=reference_pool)
        assert path is not None
    return folder


@pytest.fixture
def corpus(solved_corpus: Path, tmp_path: Path) -> Path:
    """A private copy of the solved corpus, free to edit."""
    copy = tmp_path / "corpus"
    for path in solved_corpus.rglob("*.json"):
        target = copy / path.relative_to(solved_corpus)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return copy


def record_file(folder: Path, instance: Any) -> Path:
    from verifier.corpus import record_path

    return record_path(folder, instance)


def edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")


def set_exact(node: dict[str, Any], key: str, value: str) -> None:
    node[key] = value
    node[f"{key}_float"] = float(Fraction(value))


def test_recorded_values_are_what_the_variants_reach(solved_corpus: Path) -> None:
    entry = load_entry(record_file(solved_corpus, SWAP_WINS))
    assert entry.oracle.layers[0].proven and entry.oracle.layers[0].objective == 37
    assert entry.baselines["greedy"].objectives == [39]
    assert entry.baselines["pool_split"].objectives == [38]
    assert entry.baselines["swap"].objectives == [37]
    one_hot = load_entry(record_file(solved_corpus, ONE_HOT))
    assert one_hot.oracle.layers[0].objective == Fraction(1, 4)
    assert one_hot.baselines["greedy"].objectives == [Fraction(2, 5)]


def test_clean_corpus_replays_clean(solved_corpus: Path, reference_pool: SandboxPool) -> None:
    entries, broken = load_corpus(solved_corpus)
    report = replay(entries, broken, pool=reference_pool)
    assert not report.failed, [outcome.describe() for outcome in report.failures]
    assert len(report.of_kind("ok")) == len(entries) * len(VARIANTS)


def test_variant_worse_than_recorded_is_a_regression(
    corpus: Path, reference_pool: SandboxPool
) -> None:
    """The recorded greedy result is edited to be better than greedy reaches: replay fails."""
    path = record_file(corpus, ONE_HOT)
    edit(path, lambda data: set_exact(data["baselines"]["greedy"]["layers"][0], "objective", "1/4"))
    entries, broken = load_corpus(corpus)
    assert broken == []
    report = replay(entries, broken, pool=reference_pool)
    assert report.failed
    [failure] = report.failures
    assert failure.kind == "regression" and failure.variant == "greedy"
    assert failure.entry.path == path
    assert "layer 0: 1/4 -> 2/5" in failure.message
    assert str(path) in failure.describe()


def test_variant_better_than_recorded_is_reported_not_failed(
    corpus: Path, reference_pool: SandboxPool
) -> None:
    path = record_file(corpus, SWAP_WINS)
    edit(path, lambda data: set_exact(data["baselines"]["greedy"]["layers"][0], "objective", "45"))
    report = replay(*load_corpus(corpus), pool=reference_pool)
    assert not report.failed
    [gain] = report.of_kind("improvement")
    assert gain.variant == "greedy" and gain.changes[0].measured == 39


def test_variant_beating_a_recorded_optimum_is_an_error(
    corpus: Path, reference_pool: SandboxPool
) -> None:
    """A record claiming 38 is optimal is refuted by the swap (and fast) variant reaching 37."""

    def claim_38(data: dict[str, Any]) -> None:
        layer = data["oracle"]["layers"][0]
        set_exact(layer, "objective", "38")
        set_exact(layer, "bound", "38")
        for variant in ("swap", "fast"):  # both reach 37
            set_exact(data["baselines"][variant]["layers"][0], "objective", "38")

    edit(record_file(corpus, SWAP_WINS), claim_38)
    report = replay(*load_corpus(corpus), pool=reference_pool)
    assert {failure.variant for failure in report.failures} == {"swap", "fast"}
    for failure in report.failures:
        assert failure.kind == "below-bound"
        assert "below the recorded proven optimum 38" in failure.message


def test_wrong_closed_form_is_an_oracle_error(corpus: Path, reference_pool: SandboxPool) -> None:
    edit(
        record_file(corpus, ONE_HOT),
        lambda data: data["provenance"]["extra"].update(closed_form={"optimum": "1/3"}),
    )
    report = replay(*load_corpus(corpus), pool=reference_pool)
    assert [outcome.kind for outcome in report.failures] == ["oracle"]
    assert "closed form 1/3" in report.failures[0].message


def test_broken_file_is_named_and_the_rest_still_runs(
    corpus: Path, reference_pool: SandboxPool
) -> None:
    broken_path = record_file(corpus, SMALL_REPLICATION)
    edit(broken_path, lambda data: data["oracle"].pop("layers"))
    entries, broken = load_corpus(corpus)
    report = replay(entries, broken, pool=reference_pool)
    assert [record.path for record in report.broken] == [broken_path]
    assert "oracle.layers" in report.broken[0].message
    assert {outcome.entry.path for outcome in report.outcomes} == {
        record_file(corpus, SWAP_WINS),
        record_file(corpus, ONE_HOT),
    }
    assert report.failed and not report.failures


ALL_IN_PACK_ZERO = """
import torch

def balanced_packing(weight, num_packs):  # every item into pack 0: a contract violation
    pack_index = torch.zeros_like(weight, dtype=torch.int64)
    return pack_index, torch.arange(weight.shape[1]).expand_as(pack_index).clone()
"""
RAISES = """
def balanced_packing(weight, num_packs):
    raise RuntimeError("boom")
"""


def candidate_file(folder: Path, name: str, source: str) -> str:
    """A small candidate module written to `folder`, named by its path (a candidate spec)."""
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return str(path)


def test_contract_violation_and_failed_calls_fail(
    solved_corpus: Path, tmp_path: Path, broken_dir: Path
) -> None:
    """Sandboxed variants: a broken contract is a violation; raising, hanging and crashing
    (segfault) are errors, each named, and the run goes on. Neither gets a baseline."""
    entry = load_entry(record_file(solved_corpus, SWAP_WINS))
    variants = {
        "broken": candidate_file(tmp_path, "all_in_pack_zero", ALL_IN_PACK_ZERO),
        "raises": candidate_file(tmp_path, "raises", RAISES),
        "hangs": str(broken_dir / "hangs.py"),
        "segfaults": str(broken_dir / "segfaults.py"),
    }
    with SandboxPool(list(variants.values()), timeout=1.0) as pool:
        pool.start()
        report = replay([entry], variants=variants, pool=pool)
        notes: list[str] = []
        failing = {name: variants[name] for name in ("broken", "raises")}
        baselines = baseline_records(entry.instance, entry.oracle, failing, notes.append, pool)
    outcomes = {outcome.variant: outcome for outcome in report.outcomes if outcome.variant}
    kinds = {name: outcome.kind for name, outcome in outcomes.items()}
    assert kinds == {
        "broken": "violation",
        "raises": "error",
        "hangs": "error",
        "segfaults": "error",
    }
    assert "raised: RuntimeError: boom" in outcomes["raises"].message
    assert "hung: no answer within 1 s" in outcomes["hangs"].message
    assert "crashed: the worker was killed by SIGSEGV" in outcomes["segfaults"].message
    assert report.failed
    assert baselines == {}
    assert notes[0].startswith("variant 'broken' breaks the contract (")
    assert notes[1] == "variant 'raises' raised: RuntimeError: boom; no baseline"


def test_rebaseline_restores_measured_values_and_shows_the_diff(
    corpus: Path, reference_pool: SandboxPool
) -> None:
    path = record_file(corpus, ONE_HOT)

    def tamper(data: dict[str, Any]) -> None:
        set_exact(data["baselines"]["greedy"]["layers"][0], "objective", "1/4")
        data["baselines"]["retired"] = data["baselines"].pop("heap")

    edit(path, tamper)
    diff = rebaseline_entry(load_entry(path), pool=reference_pool)
    assert sorted(line.strip() for line in diff.lines()) == [
        "+ heap: new baseline",
        "- retired: baseline dropped",
        "~ greedy: layer 0: 1/4 -> 2/5 (+60.0000%)",
    ]
    assert diff.new_entry.baselines["greedy"].objectives == [Fraction(2, 5)]
    assert sorted(diff.new_entry.baselines) == sorted(VARIANTS)
    assert rebaseline_entry(diff.new_entry, pool=reference_pool).empty


POOL_SPLIT_BY_PATH = """
from reference import VARIANTS

balanced_packing = VARIANTS["pool_split"].balanced_packing
replicate_experts = VARIANTS["pool_split"].replicate_experts
rebalance_experts = VARIANTS["pool_split"].rebalance_experts
"""


def test_replays_a_candidate_named_by_path(solved_corpus: Path, tmp_path: Path) -> None:
    """What a user names: a candidate file (run in the sandbox), scored against its baseline."""
    spec = candidate_file(tmp_path, "pool_split_copy", POOL_SPLIT_BY_PATH)
    report = replay(*load_corpus(solved_corpus), variants={"pool_split": spec})
    assert [outcome.kind for outcome in report.outcomes] == ["ok"] * 3

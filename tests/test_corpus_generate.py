"""The corpus generator is deterministic, and the shipped corpus is exactly what it generates."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from verifier.corpus import default_corpus_dir, load_corpus
from verifier.corpus.generate import BUILDERS, build, corpus_specs, drift_windows, rng_for
from verifier.model.instances import (
    Number,
    RebalanceInstance,
    instance_from_dict,
    instance_hash,
    instance_to_dict,
)

HASHES_SCRIPT = (
    "import json; from verifier.corpus.generate import corpus_specs; "
    "from verifier.model.instances import instance_hash; "
    "print(json.dumps([instance_hash(spec.build()) for spec in corpus_specs()]))"
)


def test_same_specs_give_the_same_instances() -> None:
    first = [spec.build() for spec in corpus_specs()]
    second = [spec.build() for spec in corpus_specs()]
    assert first == second
    assert len({instance_hash(instance) for instance in first}) == len(first), "duplicate specs"


def test_generation_is_independent_of_the_process() -> None:
    """A fresh interpreter with another hash seed generates the same instances."""
    here = [instance_hash(spec.build()) for spec in corpus_specs()]
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    output = subprocess.run(
        [sys.executable, "-c", HASHES_SCRIPT],
        check=True,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    ).stdout
    assert json.loads(output) == here


def test_seed_changes_the_instance() -> None:
    spec = next(spec for spec in corpus_specs() if spec.builder == "random_packing")
    other = BUILDERS[spec.builder](rng_for(spec.builder, spec.seed + 1), **spec.params)
    assert other != spec.build()


def test_every_instance_is_valid_and_every_family_is_there() -> None:
    families = set()
    for spec in corpus_specs():
        instance = spec.build()
        assert instance_from_dict(instance_to_dict(instance)) == instance
        families.add(spec.family)
    assert families >= {
        "deepseek-example",
        "fixed-small",
        "ties-zeros",
        "worst-case-2g",
        "proven-small",
        "phase-transition",
        "moe-deepseek-v3",
        "moe-qwen",
        "moe-mixtral",
        "drift-trace",
    }


def test_real_shapes() -> None:
    shapes = {
        (spec.family, len(instance.weights), len(instance.weights[0]), *instance.sizes().values())
        for spec in corpus_specs()
        if spec.family.startswith("moe-")
        for instance in [spec.build()]
        if isinstance(instance, RebalanceInstance)
    }
    assert ("moe-deepseek-v3", 58, 256, 288, 8, 4, 32) in shapes
    assert ("moe-qwen", 48, 128, 144, 8, 1, 8) in shapes
    assert ("moe-mixtral", 32, 8, 16, 1, 1, 8) in shapes


def test_drift_trace_moves_slowly() -> None:
    """Consecutive windows are closer to each other than windows far apart (it is a trace)."""
    rows = drift_windows(rng_for("test", 0), 64, 40, 65536)

    def distance(a: list[Number], b: list[Number]) -> float:
        return sum((abs(x - y) for x, y in zip(a, b, strict=True)), 0.0)

    near = sum(distance(rows[t], rows[t + 1]) for t in range(39)) / 39
    far = sum(distance(rows[t], rows[t + 20]) for t in range(20)) / 20
    assert near < far


def test_shipped_corpus_is_reproducible_from_its_provenance() -> None:
    """Every generator record rebuilds to exactly its instance, and every spec is shipped."""
    entries, broken = load_corpus(default_corpus_dir())
    assert broken == []
    specs = {instance_hash(spec.build()): spec for spec in corpus_specs()}
    generated = [entry for entry in entries if entry.provenance.source == "generator"]
    for entry in generated:
        assert build(entry.provenance) == entry.instance, entry.path
        if entry.hash in specs:
            assert entry.provenance == specs[entry.hash].provenance(entry.provenance.date)
    shipped = {entry.hash for entry in entries}
    missing = [
        spec.description for spec in corpus_specs() if instance_hash(spec.build()) not in shipped
    ]
    assert missing == [], "regenerate with `python -m verifier.corpus.generate`"

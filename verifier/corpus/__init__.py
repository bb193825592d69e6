"""The corpus of hard instances: records with proven optima and heuristic baselines.

Library API (what `fuzz` and `report` use)::

    from verifier.corpus import default_corpus_dir, load_corpus, add_instance, Provenance
    entries, broken = load_corpus(default_corpus_dir())
    entry.instance, entry.family, entry.oracle.layers[i].bound, entry.baselines["greedy"]
    add_instance(corpus_dir, instance, Provenance(family="fuzz-worst-gap", source="fuzz",
                 campaign="..."))  # -> Path, or None for a duplicate
    entry.gap_interval("greedy", layer)  # honest (low, high) relative gap of a recorded result

    from verifier.corpus.replay import replay
    replay(entries, broken, variants={"mine": "my_eplb.py"}).failures  # any spec, sandboxed

The file format is documented in `verifier.corpus.schema` and corpora/README.md. This package
imports neither torch nor OR-Tools; `add_instance` and replay load them when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from verifier.corpus.schema import (
    SCHEMA_VERSION,
    Baseline,
    CorpusEntry,
    OracleLayer,
    OracleRecord,
    Provenance,
    load_entry,
)
from verifier.corpus.store import BrokenRecord, load_corpus, record_path
from verifier.model.errors import RecordError

if TYPE_CHECKING:
    from verifier.model.instances import Instance

CORPUS_DIRNAME = "corpora"


def default_corpus_dir() -> Path:
    """./corpora if it exists, else the repository's corpora/ next to the installed package."""
    local = Path.cwd() / CORPUS_DIRNAME
    if local.is_dir():
        return local
    return Path(__file__).resolve().parent.parent.parent / CORPUS_DIRNAME


def add_instance(
    corpus_dir: str | Path, instance: Instance, provenance: Provenance, **options: Any
) -> Path | None:
    """Solve, run the reference variants and write a new record; None if it is a duplicate.

    See `verifier.corpus.records.add_instance` for the options.
    """
    from verifier.corpus import records

    return records.add_instance(corpus_dir, instance, provenance, **options)


__all__ = [
    "SCHEMA_VERSION",
    "Baseline",
    "BrokenRecord",
    "CorpusEntry",
    "OracleLayer",
    "OracleRecord",
    "Provenance",
    "RecordError",
    "add_instance",
    "default_corpus_dir",
    "load_corpus",
    "load_entry",
    "record_path",
]

"""Where records live on disk: hash-named files under <corpus>/<problem>/, written atomically.

A new record is created with `verifier.model.atomic.create_atomically` (a temporary file
hard-linked to
its final name: of several processes adding the same instance at once exactly one wins and the
others see a duplicate); a rewrite (rebaseline) with `write_atomically`. No reader ever sees half
a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from verifier.corpus.schema import CorpusEntry, entry_json, load_entry
from verifier.model.atomic import create_atomically, write_atomically
from verifier.model.errors import RecordError
from verifier.model.instances import PROBLEMS, Instance, instance_hash


@dataclass(frozen=True)
class BrokenRecord:
    """A record file that could not be read or validated; `message` names file and field."""

    path: Path
    message: str


def record_path(corpus_dir: str | Path, instance: Instance) -> Path:
    """The file a record of this instance lives in: <corpus>/<problem>/<hash>.json."""
    return Path(corpus_dir) / instance.problem / f"{instance_hash(instance)}.json"


def record_files(corpus_dir: str | Path) -> list[Path]:
    """Every record file of a corpus, in a stable order (problem folder, then name)."""
    corpus_dir = Path(corpus_dir)
    files: list[Path] = []
    for problem in PROBLEMS:
        folder = corpus_dir / problem
        if folder.is_dir():
            files.extend(sorted(folder.glob("*.json")))
    return files


def load_corpus(corpus_dir: str | Path) -> tuple[list[CorpusEntry], list[BrokenRecord]]:
    """Load every record; broken ones are returned (named) instead of stopping the rest."""
    entries: list[CorpusEntry] = []
    broken: list[BrokenRecord] = []
    for path in record_files(corpus_dir):
        try:
            entries.append(load_entry(path))
        except RecordError as error:
            broken.append(BrokenRecord(path, str(error)))
    return entries, broken


def save_new_entry(corpus_dir: str | Path, entry: CorpusEntry) -> Path | None:
    """Write a new record; its path, or None if a record of the same instance exists."""
    path = record_path(corpus_dir, entry.instance)
    return path if create_atomically(path, entry_json(entry)) else None


def save_entry(entry: CorpusEntry) -> None:
    """Rewrite an existing record in place (atomically)."""
    if entry.path is None:
        raise ValueError("save_entry needs an entry loaded from a file")
    write_atomically(entry.path, entry_json(entry))

"""Where records live on disk: hash-named files under <corpus>/<problem>/, written atomically.

A new record is written to a temporary file in the target folder and then hard-linked to its
final name: `os.link` fails if the name exists, so of several processes adding the same instance
at once exactly one wins and the others see a duplicate, and no reader ever sees half a file.
Rewrites (rebaseline) go through a temporary file and `os.replace`.
"""

from __future__ import annotations

import errno
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from verifier.corpus.schema import CorpusEntry, entry_json, load_entry
from verifier.errors import RecordError
from verifier.instances import PROBLEMS, Instance, instance_hash


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


def _write_temp(folder: Path, text: str) -> Path:
    """Write text to a fresh temporary file in `folder` (same file system as the target).

    Created with mode 0o666 less the umask, like any ordinary file (mkstemp would make it 0o600).
    """
    folder.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    while True:
        path = folder / f".tmp-{os.getpid()}-{secrets.token_hex(8)}.json"
        try:
            handle = os.open(path, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def write_new(path: Path, text: str) -> bool:
    """Create `path` with `text` atomically; False (and nothing written) if it already exists."""
    temp = _write_temp(path.parent, text)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
            raise
        return _write_new_without_links(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return True


def _write_new_without_links(temp: Path, path: Path) -> bool:
    """Fallback for file systems without hard links: claim the name with O_EXCL, then replace."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    os.replace(temp, path)
    return True


def overwrite(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically (temporary file + os.replace)."""
    temp = _write_temp(path.parent, text)
    try:
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def save_new_entry(corpus_dir: str | Path, entry: CorpusEntry) -> Path | None:
    """Write a new record; its path, or None if a record of the same instance exists."""
    path = record_path(corpus_dir, entry.instance)
    return path if write_new(path, entry_json(entry)) else None


def save_entry(entry: CorpusEntry) -> None:
    """Rewrite an existing record in place (atomically)."""
    if entry.path is None:
        raise ValueError("save_entry needs an entry loaded from a file")
    overwrite(entry.path, entry_json(entry))

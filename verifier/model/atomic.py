"""Atomic file writes: a reader (or an interrupted run) never sees half a file.

Every write goes to a fresh temporary file in the target's folder (same file system), is flushed
to disk, and only then takes the target's name: `os.replace` to overwrite, `os.link` to create
without overwriting (it fails if the name exists, so of several processes adding the same file at
once exactly one wins). The one home of this logic: corpus records, reports, `check`/`fuzz`/`bench`
JSON and the report's plots all go through it. Temporary names are hidden and end in `.tmp`, so
nothing that globs for `*.json` or `*.png` picks up a half-written file.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from pathlib import Path
from typing import Any


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _write_temp(path: Path, content: str | bytes) -> Path:
    """Write `content` to a fresh temporary file next to `path` and return its name.

    Created with mode 0o666 less the umask, like any ordinary file (mkstemp would make it 0o600).
    """
    folder = _folder(path)
    folder.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    while True:
        temp = folder / f".{path.name}.{os.getpid()}-{secrets.token_hex(8)}.tmp"
        try:
            handle = os.open(temp, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_atomically(path: Path, content: str | bytes) -> None:
    """Replace (or create) `path` with `content` atomically: temporary file + `os.replace`."""
    temp = _write_temp(path, content)
    try:
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def create_atomically(path: Path, content: str | bytes) -> bool:
    """Create `path` with `content` atomically; False (and nothing written) if it already exists."""
    temp = _write_temp(path, content)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
            raise
        return _create_without_links(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return True


def _create_without_links(temp: Path, path: Path) -> bool:
    """Fallback for file systems without hard links: claim the name with O_EXCL, then replace."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    os.replace(temp, path)
    return True


def json_text(data: Any) -> str:
    """The project's JSON output format: indented by two, one trailing newline."""
    return json.dumps(data, indent=2) + "\n"


def write_json_atomically(path: Path, data: Any) -> None:
    """Write `data` as JSON (`json_text`) to `path` atomically."""
    write_atomically(path, json_text(data))

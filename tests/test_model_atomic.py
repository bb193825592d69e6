"""The one atomic writer: whole files or none, no overwrite on create, nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verifier.model.atomic import create_atomically, write_atomically, write_json_atomically


def test_write_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "folder" / "x.json"
    write_atomically(path, "a much longer old content\n")
    write_atomically(path, "new\n")
    assert path.read_text(encoding="utf-8") == "new\n"
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_create_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    assert create_atomically(path, "first\n")
    assert not create_atomically(path, "second\n")
    assert path.read_text(encoding="utf-8") == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_bytes_are_written_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "plot.png"
    data = bytes(range(256))
    write_atomically(path, data)
    assert path.read_bytes() == data


def test_a_failed_write_leaves_the_target_alone_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # a folder where the file should go: the rename must fail
    (target / "inside").write_text("kept", encoding="utf-8")
    with pytest.raises(OSError):
        write_atomically(target, "text")
    assert (target / "inside").read_text(encoding="utf-8") == "kept"
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_json_is_indented_with_one_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    data = {"b": [1, 2], "a": None}
    write_json_atomically(path, data)
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(data, indent=2) + "\n"
    assert json.loads(text) == data

"""`eplb-verify solve`: a real subprocess on real files, good and bad."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from verifier.cli.dispatch import main


def _write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "instance.json"
    path.write_text(content, encoding="utf-8")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "verifier", "solve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _json_layers(path: Path, *extra: str) -> list[dict[str, Any]]:
    result = _run(str(path), "--json", "--time-limit", "2", *extra)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return list(data["layers"])


def test_json_output_for_each_problem(tmp_path: Path) -> None:
    packing = {
        "problem": "packing",
        "weights": [[5, 1, 0, 3, 9, 2], [1, 1, 1, 1, 1, 1]],
        "num_packs": 3,
    }
    layers = _json_layers(_write(tmp_path, json.dumps(packing)))
    assert [layer["objective"] for layer in layers] == [9.0, 2.0]
    for layer in layers:
        assert layer["status"] == "optimal" and layer["bound"] == layer["objective"]
        assert isinstance(layer["seconds"], float)
        assert sorted(layer["assignment"]) == [0, 0, 1, 1, 2, 2]
    replication = {"problem": "replication", "weights": [[9, 1, 3.5]], "num_phy": 6}
    (layer,) = _json_layers(_write(tmp_path, json.dumps(replication)))
    assert layer["objective_exact"] == "3" and layer["assignment"] == [3, 1, 2]


def test_rebalance_json_reports_the_global_optimum(tmp_path: Path) -> None:
    instance = {
        "problem": "rebalance",
        "weights": [[8, 8, 1, 1]],
        "num_replicas": 4,
        "num_groups": 2,
        "num_nodes": 2,
        "num_gpus": 2,
    }
    (layer,) = _json_layers(_write(tmp_path, json.dumps(instance)))
    assert layer["objective"] == 16.0 and layer["status"] == "optimal"
    assert layer["details"]["global_optimum"] == "9"
    assert len(layer["assignment"]) == 4


def test_human_output_has_a_table_per_layer(tmp_path: Path) -> None:
    packing = {"problem": "packing", "weights": [[5, 1, 0, 3], [2, 2, 2, 2]], "num_packs": 2}
    result = _run(str(_write(tmp_path, json.dumps(packing))), "--time-limit", "1")
    assert result.returncode == 0, result.stderr
    assert "layer 0" in result.stdout and "layer 1" in result.stdout
    assert "optimal" in result.stdout and "objective" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"problem": "packing", "weights": [[1, 2]', "not valid JSON"),
        ('{"problem": "packing", "weights": [[1, 2]]}', "num_packs"),
        ('{"problem": "packing", "weights": [[1, 2, 3]], "num_packs": 2}', "impossible shape"),
        ('{"problem": "replication", "weights": [[1, 2, 3]], "num_phy": 2}', "impossible shape"),
        ('{"problem": "packing", "weights": [[1, -2]], "num_packs": 1}', "negative"),
        ('{"problem": "sorting", "weights": [[1]]}', "problem"),
    ],
)
def test_bad_files_exit_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = _write(tmp_path, content)
    assert main(["solve", str(path)]) == 2
    error = capsys.readouterr().err
    assert message in error and str(path) in error


def test_missing_file_and_bad_time_limit_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["solve", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    path = _write(tmp_path, '{"problem": "packing", "weights": [[1, 2]], "num_packs": 1}')
    assert main(["solve", str(path), "--time-limit", "0"]) == 2
    assert "--time-limit" in capsys.readouterr().err
    assert main(["solve", str(path), "--time-limit", "soon"]) == 2


def test_a_file_that_is_not_utf8_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "binary.json"
    path.write_bytes(b"\xff\xfe\x00 not text")
    assert main(["solve", str(path)]) == 2
    error = capsys.readouterr().err
    assert "not valid JSON" in error and str(path) in error


def test_an_unknown_instance_field_is_a_usage_error_naming_field_and_file(tmp_path: Path) -> None:
    """A misspelled field would otherwise solve another problem: exit 2, no answer printed."""
    instance = {"problem": "packing", "weights": [[5, 4, 3, 2]], "num_packs": 2, "num_pack": 4}
    path = _write(tmp_path, json.dumps(instance))
    result = _run(str(path))
    assert result.returncode == 2
    assert "'num_pack'" in result.stderr and str(path) in result.stderr
    assert result.stdout == ""


def test_free_form_metadata_is_accepted_and_ignored(tmp_path: Path) -> None:
    plain = {"problem": "packing", "weights": [[5, 4, 3, 2]], "num_packs": 2}
    noted = {**plain, "metadata": {"source": "a hand-made example"}}
    layers = [_json_layers(_write(tmp_path, json.dumps(data))) for data in (plain, noted)]
    for layer in (*layers[0], *layers[1]):
        layer.pop("seconds")
    assert layers[0] == layers[1]

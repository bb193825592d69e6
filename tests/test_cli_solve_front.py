"""`eplb-verify solve` on instances with an old placement: max_moves, --front, JSON, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

INSTANCE: dict[str, Any] = {
    "problem": "rebalance",
    "weights": [[90, 132, 40, 61, 104, 165, 39, 4]],
    "num_replicas": 12,
    "num_groups": 4,
    "num_nodes": 2,
    "num_gpus": 4,
    "old_phy2log": [[0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3]],
}


def _solve(tmp_path: Path, data: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "verifier", "solve", str(path), "--time-limit", "5", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_max_moves_is_proven_and_reports_the_moves(tmp_path: Path) -> None:
    result = _solve(tmp_path, {**INSTANCE, "max_moves": 5}, "--json")
    assert result.returncode == 0, result.stderr
    (layer,) = json.loads(result.stdout)["layers"]
    assert (layer["status"], layer["objective_exact"], layer["moves"]) == ("optimal", "185", 5)


def test_front_json_through_two_workers(tmp_path: Path) -> None:
    result = _solve(tmp_path, INSTANCE, "--front", "--json", "--workers", "2")
    assert result.returncode == 0, result.stderr
    (layer,) = json.loads(result.stdout)["layers"]
    points = layer["points"]
    assert [p["max_moves"] for p in points] == list(range(8))
    assert [p["status"] for p in points[:4]] == ["infeasible"] * 4  # old plan splits groups
    values = [Fraction(p["objective_exact"]) for p in points[4:]]
    assert values == sorted(values, reverse=True)
    assert values[-1] == Fraction(layer["unconstrained"]["objective_exact"]) == 163
    assert layer["unconstrained"]["moves"] == 7


def test_front_table_and_plain_solve_moves(tmp_path: Path) -> None:
    table = _solve(tmp_path, INSTANCE, "--front")
    assert table.returncode == 0, table.stderr
    words = " ".join(table.stdout.split())  # the title wraps at the terminal's width
    assert "reached with 7 moves" in words and "infeasible" in words
    plain = _solve(tmp_path, INSTANCE, "--json")
    (layer,) = json.loads(plain.stdout)["layers"]
    assert isinstance(layer["moves"], int) and layer["moves"] >= 7


def test_front_without_an_old_placement_exits_2(tmp_path: Path) -> None:
    data = {key: value for key, value in INSTANCE.items() if key != "old_phy2log"}
    result = _solve(tmp_path, data, "--front")
    assert result.returncode == 2
    assert "old_phy2log" in result.stderr and "Traceback" not in result.stderr

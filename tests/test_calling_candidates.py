"""Resolving candidate specs: every way of naming one, and a clear error for every way to fail."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from reference import VARIANTS
from verifier.calling.candidates import (
    ENTRY_POINT_GROUP,
    reference_partners,
    resolve_candidate,
)
from verifier.model.contract import FUNCTIONS
from verifier.model.errors import CandidateError

PACKING_ONLY = "def balanced_packing(weight, num_packs):\n    return weight, weight\n"


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder on sys.path (module caches restored afterwards by monkeypatch)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    return tmp_path


def test_reference_and_every_variant() -> None:
    default = resolve_candidate("reference")
    assert tuple(default.functions) == FUNCTIONS
    assert default.variant == "greedy"
    for name in VARIANTS:
        candidate = resolve_candidate(f"reference:{name}")
        assert candidate.variant == name
        assert tuple(candidate.functions) == FUNCTIONS


def test_reference_single_function() -> None:
    candidate = resolve_candidate("reference:replicate_experts")
    assert list(candidate.functions) == ["replicate_experts"]


def test_reference_partners_pair_the_replication_paths() -> None:
    assert reference_partners("greedy") == {
        "replicate_experts": "reference:heap",
        "rebalance_experts": "reference:heap",
    }
    assert reference_partners("heap")["rebalance_experts"] == "reference:greedy"
    swap = reference_partners("swap")
    assert swap["replicate_experts"] == "reference:heap"
    assert "rebalance_experts" not in swap  # no variant pairs swap packing with the heap path


def test_file_path_and_function(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(PACKING_ONLY + "def helper():\n    pass\n")
    assert list(resolve_candidate(str(path)).functions) == ["balanced_packing"]
    single = resolve_candidate(f"{path}:balanced_packing")
    assert list(single.functions) == ["balanced_packing"]


def test_file_can_import_its_siblings(tmp_path: Path) -> None:
    (tmp_path / "helpers_for_candidate.py").write_text(PACKING_ONLY)
    path = tmp_path / "uses_sibling.py"
    path.write_text("from helpers_for_candidate import balanced_packing\n")
    assert list(resolve_candidate(str(path)).functions) == ["balanced_packing"]


def test_dotted_module_and_namespace_attribute(on_path: Path) -> None:
    package = on_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "algo.py").write_text(
        PACKING_ONLY
        + "class _Variant:\n"
        + "    def replicate_experts(self, weight, num_phy):\n"
        + "        return weight\n"
        + "VARIANT = _Variant()\n"
    )
    assert list(resolve_candidate("mypkg.algo").functions) == ["balanced_packing"]
    assert list(resolve_candidate("mypkg.algo:VARIANT").functions) == ["replicate_experts"]


def test_entry_point(on_path: Path) -> None:
    (on_path / "ep_candidate_mod.py").write_text(PACKING_ONLY)
    dist = on_path / "ep_candidate-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-candidate\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nmy-heuristic = ep_candidate_mod\n"
    )
    assert list(resolve_candidate("my-heuristic").functions) == ["balanced_packing"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def broken(:\n", r"syntax error in .*bad\.py, line 1"),
        ("raise RuntimeError('boom at import')\n", "raised RuntimeError: boom at import"),
        ("import no_such_dependency_xyz\n", "raised ModuleNotFoundError"),
        ("x = 1\n", "defines none of balanced_packing, replicate_experts, rebalance_experts"),
    ],
    ids=["syntax", "import-raises", "missing-dependency", "no-functions"],
)
def test_unloadable_files(tmp_path: Path, source: str, message: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text(source)
    with pytest.raises(CandidateError, match=message):
        resolve_candidate(str(path))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty name"),
        ("no_such_module_xyz", "no module named 'no_such_module_xyz'"),
        ("reference:nope", "unknown reference variant 'nope'"),
        ("missing/file.py", "no such file"),
        ("not a module!", "not a .py file, a reference variant"),
        ("json:dumps", "json:dumps' defines none of"),
        ("json:no_attribute", "has no attribute 'no_attribute'"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(CandidateError, match=message):
        resolve_candidate(spec)

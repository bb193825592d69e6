"""The layout shows the architecture, checked from the imports themselves (every import form,
lazy ones included): `reference/` knows nothing of `verifier/`; `verifier/` is layer packages
with no import circle and no import pointing up a layer; ARCHITECTURE.md names every module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import reference
import verifier
from import_graph import (
    cycles,
    floors,
    import_graph,
    imported_names,
    module_name,
    room_graph,
)

REFERENCE_DIR = Path(reference.__file__).parent
VERIFIER_DIR = Path(verifier.__file__).parent
ROOT = VERIFIER_DIR.parent

# The layer packages of `verifier/`, lowest first: a package imports only from lower ranks.
RANKS = {
    "verifier.model": 1,
    "verifier.calling": 2,
    "verifier.oracle": 2,
    "verifier.judging": 3,
    "verifier.corpus": 4,
    "verifier.runs": 5,
    "verifier.report": 6,
    "verifier.conformance": 7,
    "verifier.cli": 7,
}
# The one arrow back up: `verifier.evaluate`, the search-loop face, imported lazily on first use.
FACE = ("verifier", "verifier.runs")
MAX_FLOORS = 10


def test_no_reference_file_imports_the_verifier() -> None:
    files = sorted(REFERENCE_DIR.rglob("*.py"))
    assert len(files) >= 5, f"expected the reference's modules under {REFERENCE_DIR}"
    offending = {
        str(path.relative_to(REFERENCE_DIR)): name
        for path in files
        for name in imported_names(path, module_name(path, ROOT))
        if name == "verifier" or name.startswith("verifier.")
    }
    assert offending == {}


def test_importing_the_reference_loads_no_verifier_module() -> None:
    """Checked in a fresh interpreter: this test process has the verifier loaded already."""
    probe = (
        "import json, sys\n"
        "import reference, reference.variants\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'verifier')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == []


def test_the_top_of_verifier_holds_only_its_face_and_layer_packages() -> None:
    modules = sorted(path.name for path in VERIFIER_DIR.glob("*.py"))
    assert modules == ["__init__.py", "__main__.py"]
    packages = {
        f"verifier.{path.name}"
        for path in VERIFIER_DIR.iterdir()
        if (path / "__init__.py").exists()
    }
    assert packages == set(RANKS)


def test_no_import_circle_between_modules() -> None:
    assert cycles(import_graph(VERIFIER_DIR)) == []


def test_no_import_points_up_a_layer() -> None:
    rooms = room_graph(import_graph(VERIFIER_DIR), "verifier")
    upward = {
        (room, target)
        for room, targets in rooms.items()
        for target in targets
        if room in RANKS and RANKS[target] >= RANKS[room]
    }
    assert upward == set()
    assert rooms["verifier"] - {"verifier.model"} == {FACE[1]}, "the top imports only its face"
    assert rooms["verifier.__main__"] == {"verifier.cli"}


def test_the_layers_stand_on_few_floors() -> None:
    rooms = room_graph(import_graph(VERIFIER_DIR), "verifier")
    rooms[FACE[0]].discard(FACE[1])
    assert cycles(rooms) == []
    assert floors(rooms) <= MAX_FLOORS


def test_the_import_graph_sees_every_import_form(tmp_path: Path) -> None:
    """A meta-test: absolute, relative, `from package import module` and lazy imports count."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.sub import c\n")
    (package / "b.py").write_text("from . import a\nimport pkg.sub.c\n")
    (package / "sub" / "__init__.py").write_text("from .c import name\n")
    (package / "sub" / "c.py").write_text("from ..b import x\nname = 1\n")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub.c"}
    assert graph["pkg.b"] == {"pkg.a", "pkg.sub.c"}
    assert graph["pkg.sub"] == {"pkg.sub.c"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]


def _architecture_sections() -> dict[str, str]:
    r"""ARCHITECTURE.md's text per `## \`PACKAGE/\`` section."""
    sections: dict[str, str] = {}
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for section in text.split("\n## ")[1:]:
        heading, _, body = section.partition("\n")
        if heading.startswith("`") and "/`" in heading:
            sections[heading.split("`")[1].rstrip("/")] = body
    return sections


def test_architecture_names_every_package_and_module() -> None:
    """One section per layer package; every module named in its package's section."""
    sections = _architecture_sections()
    assert set(sections) == {name.split(".")[1] for name in RANKS}
    missing = []
    for path in sorted(VERIFIER_DIR.rglob("*.py")):
        package, *inside = path.relative_to(VERIFIER_DIR).parts
        if (
            inside
            and inside != ["__init__.py"]
            and f"`{'/'.join(inside)}`" not in sections[package]
        ):
            missing.append(f"{package}/{'/'.join(inside)}")
    assert missing == []

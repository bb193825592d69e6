"""`reference/` knows nothing of `verifier/`: it must stay usable (and testable) on its own."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import reference

REFERENCE_DIR = Path(reference.__file__).parent


def _imported_modules(path: Path) -> list[str]:
    """Every module an `import` or `from ... import` statement in `path` names (absolute form)."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
    return modules


def test_no_reference_file_imports_the_verifier() -> None:
    files = sorted(REFERENCE_DIR.rglob("*.py"))
    assert len(files) >= 5, f"expected the reference's modules under {REFERENCE_DIR}"
    offending = {
        str(path.relative_to(REFERENCE_DIR)): module
        for path in files
        for module in _imported_modules(path)
        if module == "verifier" or module.startswith("verifier.")
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

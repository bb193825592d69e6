"""Not a broken candidate: loads a correct fixture of `tests/candidates/apis/` from its file, so a
broken twin can subclass it and the policy's algorithm is written once. The twins import it as
a sibling (a candidate file's folder is first on `sys.path` when the sandbox loads it)."""

import importlib.util
from pathlib import Path
from types import ModuleType

APIS = Path(__file__).resolve().parent.parent / "apis"


def api_fixture(file_name: str) -> ModuleType:
    """The module of `tests/candidates/apis/FILE_NAME`, freshly executed."""
    path = APIS / file_name
    spec = importlib.util.spec_from_file_location(f"eplb_api_fixture_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

"""The contract table agrees with the reference, the errors share one base, and ARCHITECTURE.md
matches the code: every module listed once, no import pointing down a layer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import reference
from verifier.contract import CONTRACTS, FUNCTIONS, contract_for, contract_of, natural_dtype
from verifier.errors import CandidateError, EplbVerifyError, InstanceError, RecordError

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("function", FUNCTIONS)
def test_reference_returns_what_the_contract_names(function: str) -> None:
    contract = contract_for(function)
    for name, instance in contract.edge_cases():
        assert contract_of(instance) is contract, name
        assert isinstance(instance, contract.instance_type), name
        weight = torch.tensor(instance.weights, dtype=getattr(torch, natural_dtype(instance)))
        outputs = getattr(reference, function)(weight, *contract.call_args(instance))
        assert len(outputs) == len(contract.outputs), name
        by_name = dict(zip(contract.outputs, outputs, strict=True))
        for output, shape in contract.output_shapes(instance).items():
            assert tuple(by_name[output].shape) == shape, (name, output)


def test_one_contract_per_problem() -> None:
    assert len({contract.problem for contract in CONTRACTS}) == len(CONTRACTS) == len(FUNCTIONS)


def test_every_error_shares_one_base() -> None:
    for error in (CandidateError, InstanceError, RecordError):
        assert issubclass(error, EplbVerifyError)
    assert issubclass(InstanceError, ValueError) and issubclass(RecordError, ValueError)


def _layers() -> dict[str, int]:
    """Module -> layer number, from the tables of ARCHITECTURE.md."""
    layers: dict[str, int] = {}
    layer = 0
    for line in (ROOT / "ARCHITECTURE.md").read_text().splitlines():
        heading = re.match(r"## (\d)\.", line)
        if heading:
            layer = int(heading.group(1))
        elif line.startswith("| `") and layer:
            for path in re.findall(r"`([\w/]+\.py|oracle/)`", line.split("|")[1]):
                layers[path.removesuffix(".py")] = layer
    return layers


def _module_key(path: Path) -> str:
    relative = path.relative_to(ROOT / "verifier").with_suffix("").as_posix()
    return "oracle/" if relative.startswith("oracle/") else relative


def test_architecture_lists_every_module_and_no_import_points_down() -> None:
    layers = _layers()
    modules = {
        _module_key(path): path
        for path in (ROOT / "verifier").rglob("*.py")
        if path.name != "__init__.py" or path.parent.name in ("corpus", "oracle")
    }
    assert not set(modules) - set(layers), f"not in ARCHITECTURE.md: {set(modules) - set(layers)}"
    for key, path in modules.items():
        for target in re.findall(r"^\s*from verifier\.([\w.]+) import", path.read_text(), re.M):
            parts = target.split(".")
            dep = "oracle/" if parts[0] == "oracle" else "/".join(parts)
            if dep not in layers:  # a package import (`verifier.sandbox`, `verifier.corpus`)
                dep = next((k for k in layers if k.startswith(parts[0] + "/")), dep)
            assert layers.get(dep, 0) <= layers[key], (
                f"{key} (layer {layers[key]}) imports {target}"
            )

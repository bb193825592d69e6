"""The contract table agrees with the reference, and the errors share one base."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import torch

import reference
import verifier
from verifier.model.contract import CONTRACTS, FUNCTIONS, contract_for, contract_of, natural_dtype
from verifier.model.errors import CandidateError, EplbVerifyError, InstanceError, RecordError


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


# Not importable as plain modules: the entry point runs the CLI, the conformance test module
# needs pytest's plugin options.
NOT_IMPORTED = {"verifier.__main__", "verifier.conformance.test_conformance"}


def _error_classes() -> dict[str, type]:
    """Every class named `...Error` defined in the verifier package, by qualified name."""
    errors: dict[str, type] = {}
    modules = pkgutil.walk_packages(verifier.__path__, prefix="verifier.")
    for info in modules:
        if info.name in NOT_IMPORTED:
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and name.endswith("Error")
                and value.__module__ == module.__name__
            ):
                errors[f"{module.__name__}.{name}"] = value
    return errors


def test_every_error_class_of_the_package_derives_from_the_base() -> None:
    errors = _error_classes()
    # the walk does reach the errors that live beside their module
    assert {
        "verifier.model.traces.TraceError",
        "verifier.oracle.distribute.DistributeError",
        "verifier.runs.database.DatabaseError",
        "verifier.runs.score.ScoreInputError",
    } <= set(errors)
    outside = sorted(
        name for name, error in errors.items() if not issubclass(error, EplbVerifyError)
    )
    assert not outside, f"not under EplbVerifyError: {outside}"
    for name in ("verifier.model.traces.TraceError", "verifier.runs.score.ScoreInputError"):
        assert issubclass(errors[name], ValueError), name  # were ValueErrors, still are

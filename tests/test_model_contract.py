"""The contract table agrees with the reference, and the errors share one base."""

from __future__ import annotations

import pytest
import torch

import reference
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

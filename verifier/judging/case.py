"""The case a relation or a replan check judges: one valid candidate call and how to call again.

The evaluator builds one `JudgedCase` per case once the primary call has passed the invariant
checker and its exact objectives are known, and hands it to every relation, differential and
replan check. A further call is run through the same invariant checker (`call_again`), so a
candidate that only breaks in float64, on CUDA or on a single layer is still caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from verifier.calling.caller import Caller
from verifier.calling.sandbox import CallOutcome
from verifier.judging.invariants import checked_outputs
from verifier.model.contract import Policy
from verifier.model.findings import Finding
from verifier.model.instances import Instance


@dataclass(frozen=True)
class FurtherCall:
    """One further call of the candidate, judged by the invariant checker."""

    outcome: CallOutcome
    findings: list[Finding]
    outputs: dict[str, Any] | None  # nested lists of ints; None when it broke the contract


@dataclass(frozen=True)
class JudgedCase:
    """One case whose primary call kept the contract: what was called, how, and what it gave."""

    caller: Caller
    function: str
    instance: Instance
    dtype: str  # of the primary call
    device: str  # of the primary call
    policy: Policy
    primary: CallOutcome
    outputs: dict[str, Any]  # the primary call's outputs as nested lists of ints
    objectives: tuple[Fraction, ...]  # the primary call's exact objective per layer

    @property
    def context(self) -> dict[str, Any]:
        """The primary call's dtype and device, as a finding's details hold them."""
        return {"dtype": self.dtype, "device": self.device}

    def call_again(
        self,
        instance: Instance,
        *,
        dtype: str | None = None,
        device: str | None = None,
        **context: Any,
    ) -> FurtherCall:
        """Call the candidate on `instance` (the case's dtype and device unless given) and judge
        the call; `context` is added to its findings' details after the dtype and device."""
        dtype = dtype or self.dtype
        device = device or self.device
        outcome = self.caller(instance, dtype=dtype, device=device)
        details = {"dtype": dtype, "device": device, **context}
        findings, outputs = self.checked(instance, outcome, details)
        return FurtherCall(outcome, findings, outputs)

    def checked(
        self, instance: Instance, outcome: CallOutcome, context: dict[str, Any]
    ) -> tuple[list[Finding], dict[str, Any] | None]:
        """The invariant checker on a further call of the case's function, under its policy."""
        return checked_outputs(
            self.function, instance, outcome, policy=self.policy, context=context
        )

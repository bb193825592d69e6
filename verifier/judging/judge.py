"""Judge what a candidate did on an instance: the one path every command takes.

`judge` runs the one invariant checker on a call's outcome and, when the contract holds,
recomputes the exact per-layer objectives from the assignment. `check`/`fuzz`
(`verifier.judging.evaluator`), the corpus runs behind the report (`verifier.runs.corpus_runs`),
`bench` and the corpus baselines (`verifier.corpus.records`) all go through `judge`, and all
call through `verifier.calling.caller.call_on` (sandboxed).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from verifier.calling.sandbox import CallOutcome
from verifier.judging.invariants import check_call, integer_outputs
from verifier.judging.quality import layer_objectives
from verifier.model.contract import Policy, function_for
from verifier.model.findings import Finding
from verifier.model.instances import Instance


@dataclass(frozen=True)
class Verdict:
    """One judged call: its findings and, when the contract holds, its exact objectives."""

    function: str
    instance: Instance
    outcome: CallOutcome
    findings: tuple[Finding, ...]
    outputs: dict[str, Any] | None = None  # the outputs as nested lists of ints, when valid
    objectives: tuple[Fraction, ...] | None = None  # per layer, when valid

    @property
    def violations(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.is_violation]

    @property
    def status(self) -> str:
        """ok | invalid (contract violations) | failed (raised, hung, crashed)."""
        if self.outcome.status != "ok":
            return "failed"
        return "invalid" if self.violations else "ok"


def _values_present(outcome: CallOutcome) -> bool:
    """Every output came back with its values (huge outputs are described without them)."""
    return all(getattr(value, "values", None) is not None for value in outcome.outputs or ())


def judge(
    instance: Instance,
    outcome: CallOutcome,
    *,
    policy: Policy = "auto",
    context: dict[str, Any] | None = None,
) -> Verdict:
    """The shared invariant checker on one call, then the exact objectives of a valid one."""
    function = function_for(instance)
    findings = tuple(check_call(function, instance, outcome, policy=policy, context=context))
    verdict = Verdict(function, instance, outcome, findings)
    if verdict.status != "ok" or not _values_present(outcome):
        return verdict
    outputs = integer_outputs(outcome, function)
    objectives = tuple(layer_objectives(function, instance, outputs))
    return Verdict(function, instance, outcome, findings, outputs, objectives)

"""Differentials: two implementations, or two devices, that must agree on one case.

The reference's vectorized and heap replication paths must give identical outputs. The same
candidate on CPU and CUDA may break ties differently (an observation) but must reach the same
objective (else a violation).
"""

from __future__ import annotations

from verifier.calling.sandbox import CallOutcome
from verifier.judging.case import JudgedCase
from verifier.judging.quality import layer_objectives
from verifier.model.findings import Finding, observation, violation

DIFFERENTIALS: dict[str, str] = {
    "device.tie_break": "CPU and CUDA differ, with the same objective (tie-breaking)",
    "device.objective": "CPU and CUDA give different objectives (a violation)",
    "differential.reference_paths": "the reference's vectorized and heap paths disagree",
}


def equal_output_values(left: CallOutcome, right: CallOutcome) -> bool:
    """Equal output values (devices aside)."""
    if left.outputs is None or right.outputs is None:
        return False
    return [getattr(v, "values", None) for v in left.outputs] == [
        getattr(v, "values", None) for v in right.outputs
    ]


def device_differential(case: JudgedCase) -> list[Finding]:
    """The case's CPU call against CUDA: identical passes; the same objective is tie-breaking;
    else a violation."""
    cuda = case.call_again(case.instance, device="cuda")
    if cuda.outputs is None or equal_output_values(case.primary, cuda.outcome):
        return cuda.findings
    cuda_objectives = layer_objectives(case.function, case.instance, cuda.outputs)
    details = {
        "dtype": case.dtype,
        "cpu_objectives": [str(v) for v in case.objectives],
        "cuda_objectives": [str(v) for v in cuda_objectives],
    }
    if list(case.objectives) == cuda_objectives:
        make, check = observation, "device.tie_break"
        message = "CPU and CUDA give different assignments with the same objective"
    else:
        make, check = violation, "device.objective"
        message = "CPU and CUDA give assignments with different objectives"
    finding = make(check, message, function=case.function, instance=case.instance, details=details)
    return [*cuda.findings, finding]


def partner_differential(case: JudgedCase, *, partner: str) -> list[Finding]:
    """Two implementations that must agree exactly (the reference's vectorized and heap paths):
    the case's primary outputs against those of the candidate `partner`."""
    outcome = case.caller(case.instance, dtype=case.dtype, device=case.device, spec=partner)
    if outcome.status == "ok" and equal_output_values(case.primary, outcome):
        return []
    what = "differ" if outcome.status == "ok" else f"cannot be compared ({outcome.error})"
    return [
        violation(
            "differential.reference_paths",
            f"the outputs of this candidate and of {partner} {what}",
            function=case.function,
            instance=case.instance,
            details={"partner": partner, "dtype": case.dtype, "device": case.device},
        )
    ]

"""The default-device probe: a device bug found on a machine without a GPU.

A tensor created without `device=` lands on torch's default device. On a GPU deployment the
loads live on the GPU and the default device is the host, so such a tensor combined with the
loads crashes on a device mismatch, and an output built that way comes back on the wrong device;
on a CPU-only machine both devices are the CPU and nothing shows. The probe calls the candidate
on CPU inputs (in a sandbox worker of its own, so nothing a probed call leaves behind reaches the
checked calls) while torch's default device is `meta` (`with torch.device("meta")` around the
call only). Its verdict on one case, `judge_probe`:

- passed: the call returns the CPU call's result, on the input's device;
- violated: the call fails on a device mismatch (`device.default_device`, naming the candidate's
  line), or returns an output on the default device (`device.default_output`);
- inconclusive: the failure is the probe device's own, and a real GPU would not fail there: a
  `meta` tensor has no data (`.item()`, `.tolist()`, `.cpu()`, numpy), has no kernel for a
  data-dependent op (`nonzero`, `unique`), or was read where torch does not check its device
  (indexing: the result differs from the CPU call's); also any other failure, a hang or a crash
  of the probed call, and host outputs under an API profile that moves them (vLLM).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from verifier.calling.sandbox import CallOutcome, TensorValue
from verifier.model.contract import FUNCTIONS, output_names
from verifier.model.findings import Finding, violation
from verifier.model.instances import Instance

PROBE_DEVICE = "meta"  # torch's default device during a probed call
DEFAULT_DEVICE_CHECKS: dict[str, str] = {
    "device.default_device": "with another default device than the input's, the call fails on a "
    "device mismatch (a tensor created without device=)",
    "device.default_output": "with another default device than the input's, an output comes "
    "back on the default device (created without device=)",
}
ProbeStatus = Literal["passed", "violated", "inconclusive"]

# A mismatch between the probe device and the input's: what a GPU deployment would raise too.
_MISMATCH = re.compile(r"same device|expected device|device mismatch", re.IGNORECASE)
# Failures of the meta device itself: no data to read, no kernel for a data-dependent op.
_NO_DATA = re.compile(
    r"on meta tensors|out of meta tensor|meta device type tensor|item\(\) cannot be called",
    re.IGNORECASE,
)
_NO_KERNEL = re.compile(r"meta tensors|meta kernel|register_meta|fake impl", re.IGNORECASE)
INCONCLUSIVE_NO_DATA = "a meta tensor has no data (.item(), .tolist(), .cpu(), numpy)"
INCONCLUSIVE_NO_KERNEL = "no meta kernel for a data-dependent op (nonzero, unique, ...)"
INCONCLUSIVE_OTHER_RESULT = "a result other than the CPU call's (a meta tensor was read unchecked)"
INCONCLUSIVE_HOST_OUTPUT = "outputs on the default device, which this API profile moves (vLLM)"


@dataclass(frozen=True)
class ProbeVerdict:
    """The probe's verdict on one case: its findings, and why it was inconclusive."""

    status: ProbeStatus
    findings: list[Finding] = field(default_factory=list)
    reason: str = ""  # for an inconclusive case

    def to_metric(self) -> dict[str, str]:
        """The verdict as a case metric (`CaseResult.metrics["device_probe"]`)."""
        return {"status": self.status, "reason": self.reason}


def mismatch_error(error: str) -> bool:
    """True for a device-mismatch error between the probe device and another one."""
    return bool(_MISMATCH.search(error)) and PROBE_DEVICE in error


def inconclusive_error(outcome: CallOutcome) -> str:
    """Why a failed probed call tells nothing about the candidate."""
    if outcome.status != "error":
        return f"the probed call ended in a {outcome.status}"
    if _NO_DATA.search(outcome.error):
        return INCONCLUSIVE_NO_DATA
    if _NO_KERNEL.search(outcome.error):
        return INCONCLUSIVE_NO_KERNEL
    return f"another error ({outcome.error.split(':', 1)[0]})"


def stray_outputs(function: str, outcome: CallOutcome) -> list[str]:
    """The outputs of a call that came back on the probe device, by the contract's names."""
    names = output_names(function) if function in FUNCTIONS else ()
    values = list(outcome.outputs or ()) if outcome.single is None else [outcome.single]
    return [
        names[index] if index < len(names) else f"output {index}"
        for index, value in enumerate(values)
        if isinstance(value, TensorValue) and value.device == PROBE_DEVICE
    ]


def judge_probe(
    function: str,
    instance: Instance,
    probed: CallOutcome,
    primary: CallOutcome,
    *,
    moves_host_outputs: bool,
    context: dict[str, object],
) -> ProbeVerdict:
    """The verdict on one probed call, against the case's valid call on the same inputs
    (`primary`); `moves_host_outputs`: the API profile moves host outputs to the input's device
    (an output on the default device is then no violation, only unreadable)."""
    details = {**context, "default_device": PROBE_DEVICE}
    if probed.status == "error" and mismatch_error(probed.error):
        where = probed.candidate_frame or "a line outside the candidate's file"
        message = (
            f"with torch's default device {PROBE_DEVICE} (inputs on {probed.input_device}), the "
            f"call fails on a device mismatch at {where}: a tensor created without device= "
            f"({probed.error})"
        )
        details |= {"candidate_frame": probed.candidate_frame, "traceback": probed.traceback}
        found = violation(
            "device.default_device", message, function=function, instance=instance, details=details
        )
        return ProbeVerdict("violated", [found])
    if probed.status != "ok":
        return ProbeVerdict("inconclusive", reason=inconclusive_error(probed))
    stray = stray_outputs(function, probed)
    if stray and moves_host_outputs:
        return ProbeVerdict("inconclusive", reason=INCONCLUSIVE_HOST_OUTPUT)
    if stray:
        message = (
            f"with torch's default device {PROBE_DEVICE} (inputs on {probed.input_device}), "
            f"{' and '.join(stray)} come{'s' if len(stray) == 1 else ''} back on "
            f"{PROBE_DEVICE}: created without device=, on a GPU deployment it would come back "
            "on the host"
        )
        found = violation(
            "device.default_output", message, function=function, instance=instance, details=details
        )
        return ProbeVerdict("violated", [found])
    if not probed.same_result(primary):
        return ProbeVerdict("inconclusive", reason=INCONCLUSIVE_OTHER_RESULT)
    return ProbeVerdict("passed")

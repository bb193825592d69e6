"""What a run says about devices: which device paths it exercised, and the probe's tally.

A run exercises real CUDA (`--device cuda`: the checked calls; `--device all`: the CPU/CUDA
differential), the default-device probe (`verifier.judging.default_device`, on by default), or
neither: CPU only, which is said as such, so a run blind to device bugs does not look complete.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from verifier.judging.default_device import PROBE_DEVICE

CudaUse = Literal["not requested", "unavailable", "checked calls", "differential"]
STATUSES = ("passed", "violated", "inconclusive")


@dataclass
class ProbeTally:
    """The probe's verdicts over a run's cases, and why the inconclusive ones were."""

    enabled: bool = False
    off_reason: str = "--no-device-probe"  # why it did not run, when it did not
    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, metric: dict[str, str]) -> None:
        self.counts[metric["status"]] += 1
        if metric["reason"]:
            self.reasons[metric["reason"]] += 1

    def turned_off(self, reason: str) -> None:
        self.enabled, self.off_reason = False, reason

    def merge(self, other: ProbeTally) -> None:
        if not self.enabled:  # a fresh record takes the workers' setting
            self.enabled, self.off_reason = other.enabled, other.off_reason
        self.counts.update(other.counts)
        self.reasons.update(other.reasons)

    @property
    def probed(self) -> int:
        return sum(self.counts.values())

    @property
    def conclusive(self) -> int:
        return self.counts["passed"] + self.counts["violated"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "off_reason": "" if self.enabled else self.off_reason,
            "default_device": PROBE_DEVICE,
            "probed": self.probed,
            **{status: self.counts[status] for status in STATUSES},
            "inconclusive_reasons": dict(sorted(self.reasons.items())),
        }

    def text(self) -> str:
        """What the probe did, in words."""
        if not self.enabled:
            return f"the default-device probe off ({self.off_reason})"
        counts = ", ".join(f"{self.counts[status]} {status}" for status in STATUSES)
        probed = f"{self.probed} case{'' if self.probed == 1 else 's'} probed"
        return f"the default-device probe ({PROBE_DEVICE}): {probed}, {counts}"


@dataclass
class DevicePaths:
    """The device paths a run exercised: the checked calls' device, CUDA, the probe."""

    primary: str = "cpu"  # the device of the checked calls
    cuda: CudaUse = "not requested"
    probe: ProbeTally = field(default_factory=ProbeTally)

    def started(self, primary: str, cuda: CudaUse, probe_off: str | None) -> None:
        """The paths a run has: its checked calls' device, CUDA's use, and why the probe is off
        (None: it is on)."""
        self.primary, self.cuda = primary, cuda
        self.probe.enabled = probe_off is None
        self.probe.off_reason = probe_off or ""

    def record(self, metrics: dict[str, Any]) -> None:
        if "device_probe" in metrics:
            self.probe.add(metrics["device_probe"])

    def merge(self, other: DevicePaths) -> None:
        """Add another worker's record (the same options: the same paths)."""
        if self.cuda == "not requested":
            self.primary, self.cuda = other.primary, other.cuda
        self.probe.merge(other.probe)

    @property
    def exercised(self) -> list[str]:
        """The device paths that judged something: "cuda", "probe"; empty: CPU only."""
        paths = ["cuda"] if self.cuda in ("checked calls", "differential") else []
        return paths + (["probe"] if self.probe.conclusive else [])

    def summary(self) -> str:
        """One line: the device paths exercised, or that there was none (CPU only)."""
        cuda = {
            "not requested": "CUDA not requested",
            "unavailable": "CUDA unavailable",
            "checked calls": "real CUDA (the checked calls)",
            "differential": "real CUDA (the CPU/CUDA differential)",
        }[self.cuda]
        if self.exercised:
            paths = [cuda] if "cuda" in self.exercised else []
            paths += [self.probe.text()] if self.probe.enabled else []
            return "device paths: " + "; ".join(paths)
        return (
            f"device paths: none, CPU only ({cuda}; {self.probe.text()}): "
            "device bugs such as a tensor created without device= were not checked"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercised": self.exercised,
            "cpu_only": not self.exercised,
            "checked_calls_on": self.primary,
            "cuda": self.cuda,
            "probe": self.probe.to_dict(),
            "summary": self.summary(),
        }

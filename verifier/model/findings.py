"""Structured findings: what every checker returns and every report prints.

A *violation* breaks the EPLB contract (or the candidate misbehaved: raised, hung, returned
garbage, was nondeterministic, mutated its input). An *observation* is worth reporting but is not
a failure unless the user asks for `--strict` (tie-breaking differences, anti-affinity,
suboptimal replication).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from verifier.model.instances import Instance, instance_to_dict

Severity = Literal["violation", "observation"]


@dataclass(frozen=True)
class Finding:
    """One thing a check found, with the instance that reproduces it (when there is one)."""

    severity: Severity
    check: str  # a stable identifier, e.g. "packing.pack_size" or "behaviour.timeout"
    message: str  # one human sentence naming what is wrong and where
    function: str = ""  # which EPLB function of the candidate (one of
    # `verifier.model.contract.FUNCTIONS`), if any
    instance: Instance | None = None
    layer: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_violation(self) -> bool:
        return self.severity == "violation"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the instance in the shared instance format)."""
        return {
            "severity": self.severity,
            "check": self.check,
            "message": self.message,
            "function": self.function,
            "layer": self.layer,
            "instance": instance_to_dict(self.instance) if self.instance is not None else None,
            "details": self.details,
        }


def violation(check: str, message: str, **kwargs: Any) -> Finding:
    return Finding("violation", check, message, **kwargs)


def observation(check: str, message: str, **kwargs: Any) -> Finding:
    return Finding("observation", check, message, **kwargs)

"""The sandbox: untrusted candidate calls in a persistent child process with a per-call time limit.

`requests` (what the parent asks, as plain data), `outcomes` (what the child answers), `parent`
(`Sandbox`, the harness side) and `child` (the loop inside the child process).
"""

from verifier.calling.sandbox.outcomes import (
    CallOutcome,
    CallStatus,
    LoadInfo,
    OtherValue,
    TensorValue,
    Value,
    outcome_of_result,
)
from verifier.calling.sandbox.parent import Sandbox

__all__ = [
    "CallOutcome",
    "CallStatus",
    "LoadInfo",
    "OtherValue",
    "Sandbox",
    "TensorValue",
    "Value",
    "outcome_of_result",
]

"""The caller protocol the judging modules use to call a candidate, and float32 rounding.

Which function an instance calls and with which arguments is in `verifier.contract`."""

from __future__ import annotations

import struct
from typing import Protocol

from verifier.instances import Instance
from verifier.sandbox import CallOutcome


def float32(value: float) -> float:
    """`value` rounded to the nearest float32 (returned as a Python float)."""
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


class Caller(Protocol):
    """Calls the candidate (or the reference variant `spec`) on an instance; never raises."""

    def __call__(
        self, instance: Instance, *, dtype: str, device: str, spec: str | None = None
    ) -> CallOutcome: ...

"""The caller protocol the judging modules use to call a candidate (or a reference variant).

Which function an instance calls and with which arguments is in `verifier.model.contract`."""

from __future__ import annotations

from typing import Protocol

from verifier.calling.sandbox import CallOutcome
from verifier.model.instances import Instance


class Caller(Protocol):
    """Calls the candidate (or the reference variant `spec`) on an instance; never raises."""

    def __call__(
        self, instance: Instance, *, dtype: str, device: str, spec: str | None = None
    ) -> CallOutcome: ...

"""How the judging modules call a candidate: the `Caller` protocol and `call_on`, the sandboxed
call an instance implies.

Which function an instance calls and with which arguments is in `verifier.model.contract`."""

from __future__ import annotations

from typing import Any, Protocol

from verifier.calling.sandbox import CallOutcome, Sandbox
from verifier.model.contract import call_args, function_for, hierarchical_rules_apply, natural_dtype
from verifier.model.elastic import mask_value
from verifier.model.instances import Instance


class Caller(Protocol):
    """Calls the candidate (or the reference variant `spec`) on an instance; never raises."""

    def __call__(
        self, instance: Instance, *, dtype: str, device: str, spec: str | None = None
    ) -> CallOutcome: ...


def call_on(
    sandbox: Sandbox,
    instance: Instance,
    *,
    dtype: str | None = None,
    device: str = "cpu",
    spec: str | None = None,
    timeout: float | None = None,
    old: list[list[int]] | None = None,
    default_device: str | None = None,
    window: list[list[list[Any]]] | None = None,
) -> CallOutcome:
    """The candidate's function for this instance, called in its sandbox (never raises).

    `dtype` defaults to the instance's natural dtype; `spec` names another candidate loaded in
    the same sandbox (a reference variant); `old` is an old placement for a rebalance function
    that accepts one (`verifier.judging.incremental`); `default_device` is torch's default device
    during the call (`verifier.judging.default_device`); `window` the `[steps, layers, experts]`
    steps the instance's loads sum, passed where the profile takes a window (sequence mode,
    `verifier.runs.sequence`). The call is told whether the hierarchical contract applies under
    the sandbox's policy, and given the instance's active-ranks mask when it has one
    (`verifier.calling.profiles.elastic`)."""
    return sandbox.call(
        function_for(instance),
        instance.weights,
        call_args(instance),
        dtype=dtype or natural_dtype(instance),
        device=device,
        spec=spec,
        timeout=timeout,
        old=old,
        hierarchical=hierarchical_rules_apply(instance, sandbox.policy),
        default_device=default_device,
        active_ranks=mask_value(instance),
        window=window,
    )

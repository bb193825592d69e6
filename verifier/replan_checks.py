"""The checks that plan a case again, run by the evaluator on every case after the relations.

Layer independence (every function, batches of two or more layers) and incremental rebalancing
with migration (rebalance). One entry point, so the evaluator makes a single call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from verifier.findings import Finding
from verifier.incremental import INCREMENTAL_CHECKS, incremental_checks
from verifier.instances import Instance, RebalanceInstance
from verifier.judge import call_on
from verifier.layers import LAYER_CHECKS, layer_independence
from verifier.sandbox import CallOutcome

if TYPE_CHECKING:
    from verifier.evaluator import Evaluator

REPLAN_CHECKS: dict[str, str] = {**LAYER_CHECKS, **INCREMENTAL_CHECKS}


def replan_checks(
    evaluator: Evaluator,
    function: str,
    instance: Instance,
    outputs: dict[str, Any],
    dtype: str,
) -> tuple[list[Finding], dict[str, Any]]:
    """Findings of the layer and incremental checks, and the case's metrics (migration)."""
    options, sandbox, info = evaluator.options, evaluator.sandbox, evaluator.info
    device = evaluator.primary_device
    context = {"dtype": dtype, "device": device}
    found: list[Finding] = []
    metrics: dict[str, Any] = {}
    caller = evaluator.caller(function)
    found += layer_independence(
        caller,
        function,
        instance,
        outputs,
        dtype,
        device,
        options.policy,
        options.allow_cross_layer,
    )
    if isinstance(instance, RebalanceInstance):

        def plain(other: RebalanceInstance) -> CallOutcome:
            return caller(other, dtype=dtype, device=device)

        def with_old(other: RebalanceInstance, old: list[list[int]]) -> CallOutcome:
            return call_on(sandbox, other, dtype=dtype, device=device, old=old)

        accepts = function in info.accepts_old
        more, migration = incremental_checks(
            plain,
            with_old if accepts else None,
            instance,
            outputs["phy2log"],
            options.policy,
            info.profile == "vllm",
            {**context, "role": "incremental"},
        )
        found += more
        if migration:
            metrics["migration"] = migration
    return found, metrics

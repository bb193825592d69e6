"""Evaluate one case: call the candidate in its sandbox, then judge what it did.

`Evaluator.evaluate(function, instance)` is the per-case evaluation of `check` and `fuzz`: the
sandboxed call, the one invariant checker, determinism, the metamorphic relations, differentials,
quality observations, and the checks that plan the case again (a layer alone: layer
independence; with an old placement: incremental rebalancing and migration). Results are cached
per instance (Hypothesis replays cases while shrinking).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from verifier.calling.caller import Caller
from verifier.calling.sandbox import CallOutcome, LoadInfo, Sandbox
from verifier.judging.incremental import INCREMENTAL_CHECKS, incremental_checks
from verifier.judging.invariants import CHECKS, check_determinism
from verifier.judging.judge import call_on, judge
from verifier.judging.layers import LAYER_CHECKS, layer_independence
from verifier.judging.relations import (
    RELATIONS,
    anti_affinity,
    device_differential,
    dtype_relation,
    partner_differential,
    permutation_relation,
    replication_optimality,
    scaling_relation,
)
from verifier.model.contract import natural_dtype
from verifier.model.findings import Finding
from verifier.model.instances import Instance, RebalanceInstance, canonical_json
from verifier.model.options import EngineOptions

# The checks that plan a case again (a layer alone; with an old placement).
REPLAN_CHECKS: dict[str, str] = {**LAYER_CHECKS, **INCREMENTAL_CHECKS}
ALL_CHECKS: dict[str, str] = {
    **CHECKS,
    **RELATIONS,
    **REPLAN_CHECKS,
}  # every check id an evaluation can report
CACHE_SIZE = 4096


@dataclass(frozen=True)
class CaseResult:
    """One evaluated case: every finding, and the exact per-layer objectives when valid."""

    function: str
    instance: Instance
    findings: tuple[Finding, ...]
    objectives: tuple[Fraction, ...] | None
    outcome: CallOutcome
    metrics: dict[str, Any] = field(default_factory=dict)  # e.g. migration

    @property
    def violations(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.is_violation]

    def failing(self, strict: bool) -> list[Finding]:
        """What fails the run: violations, and observations too under --strict."""
        return list(self.findings) if strict else self.violations


class Evaluator:
    """Evaluates cases of one candidate in its sandbox (results cached per instance)."""

    def __init__(self, sandbox: Sandbox, info: LoadInfo, options: EngineOptions) -> None:
        self.sandbox = sandbox
        self.info = info
        self.options = options
        self.cuda = options.device != "cpu" and _cuda_available()
        self.primary_device = "cuda" if options.device == "cuda" else "cpu"
        self._cache: OrderedDict[tuple[str, str], CaseResult] = OrderedDict()

    def cached(self, function: str, instance: Instance) -> CaseResult | None:
        return self._cache.get((function, canonical_json(instance)))

    def caller(self, function: str) -> Caller:
        def call(
            instance: Instance, *, dtype: str, device: str, spec: str | None = None
        ) -> CallOutcome:
            return call_on(self.sandbox, instance, dtype=dtype, device=device, spec=spec)

        return call

    def evaluate(self, function: str, instance: Instance) -> CaseResult:
        """Every check of one case (cached: the same instance is never run twice)."""
        key = (function, canonical_json(instance))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        result = self._evaluate(function, instance)
        self._cache[key] = result
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    def _evaluate(self, function: str, instance: Instance) -> CaseResult:
        options, caller = self.options, self.caller(function)
        dtype, device = natural_dtype(instance), self.primary_device
        first = caller(instance, dtype=dtype, device=device)
        context = {"dtype": dtype, "device": device}
        verdict = judge(instance, first, policy=options.policy, context=context)
        found = list(verdict.findings)
        if first.status in ("timeout", "crash"):
            return CaseResult(function, instance, tuple(found), None, first)
        second = caller(instance, dtype=dtype, device=device)
        found += check_determinism(function, instance, first, second, context)
        outputs, objectives = verdict.outputs, verdict.objectives
        if any(finding.is_violation for finding in found) or outputs is None or objectives is None:
            return CaseResult(function, instance, tuple(found), None, first)
        found += replication_optimality(function, instance, outputs, options.policy, dtype=dtype)
        found += anti_affinity(function, instance, outputs)
        if options.relations:
            found += self._relations(function, instance, first, objectives, dtype)
        extra, metrics = self._replan_checks(function, instance, outputs, dtype)
        found += extra
        return CaseResult(function, instance, tuple(found), tuple(objectives), first, metrics)

    def _relations(
        self,
        function: str,
        instance: Instance,
        primary: CallOutcome,
        objectives: Sequence[Fraction],
        dtype: str,
    ) -> list[Finding]:
        caller, policy, device = self.caller(function), self.options.policy, self.primary_device
        found = dtype_relation(caller, function, instance, primary, dtype, device, policy)
        found += scaling_relation(caller, function, instance, primary, dtype, device, policy)
        found += permutation_relation(caller, function, instance, objectives, dtype, device, policy)
        partner = self.info.partners.get(function)
        if partner:
            found += partner_differential(
                caller, function, instance, primary, partner, dtype, device
            )
        if self.options.device == "all" and self.cuda:
            found += device_differential(
                caller, function, instance, primary, objectives, dtype, policy
            )
        return found

    def _replan_checks(
        self, function: str, instance: Instance, outputs: dict[str, Any], dtype: str
    ) -> tuple[list[Finding], dict[str, Any]]:
        """Layer independence and incremental rebalancing: findings, and metrics (migration)."""
        options, caller, device = self.options, self.caller(function), self.primary_device
        found = layer_independence(
            caller,
            function,
            instance,
            outputs,
            dtype,
            device,
            options.policy,
            options.allow_cross_layer,
        )
        metrics: dict[str, Any] = {}
        if not isinstance(instance, RebalanceInstance):
            return found, metrics

        def plain(other: RebalanceInstance) -> CallOutcome:
            return caller(other, dtype=dtype, device=device)

        def with_old(other: RebalanceInstance, old: list[list[int]]) -> CallOutcome:
            return call_on(self.sandbox, other, dtype=dtype, device=device, old=old)

        more, migration = incremental_checks(
            plain,
            with_old if function in self.info.accepts_old else None,
            instance,
            outputs["phy2log"],
            options.policy,
            self.info.profile == "vllm",
            {"dtype": dtype, "device": device, "role": "incremental"},
        )
        found += more
        if migration:
            metrics["migration"] = migration
        return found, metrics


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())

"""Evaluate one case: call the candidate in its sandbox, then judge what it did.

`Evaluator.evaluate(function, instance)` is the per-case evaluation of `check` and `fuzz`: the
sandboxed call, the one invariant checker and determinism; then, on a valid call, one
`JudgedCase` for the quality observations, the metamorphic relations, the differentials, the
checks that plan the case again (a layer alone: layer independence; with an old placement:
incremental rebalancing and migration) and the default-device probe (in its own sandbox). Results
are cached per instance (Hypothesis replays cases while shrinking).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from verifier.calling.caller import Caller, call_on
from verifier.calling.sandbox import CallOutcome, LoadInfo, Sandbox
from verifier.judging.baseline import QUALITY_GATE_CHECKS, Gate, compare
from verifier.judging.case import JudgedCase
from verifier.judging.default_device import (
    DEFAULT_DEVICE_CHECKS,
    PROBE_DEVICE,
    ProbeVerdict,
    judge_probe,
)
from verifier.judging.differentials import (
    DIFFERENTIALS,
    device_differential,
    partner_differential,
)
from verifier.judging.incremental import INCREMENTAL_CHECKS, OldCall, incremental_checks
from verifier.judging.invariants import CHECKS, check_determinism
from verifier.judging.judge import Verdict, judge
from verifier.judging.layers import LAYER_CHECKS, layer_independence
from verifier.judging.quality import QUALITY_CHECKS, anti_affinity, replication_optimality
from verifier.judging.relations import (
    RELATIONS,
    dtype_relation,
    permutation_relation,
    scaling_relation,
)
from verifier.model.contract import natural_dtype
from verifier.model.elastic import has_dead_ranks
from verifier.model.errors import CandidateError
from verifier.model.findings import Finding
from verifier.model.instances import Instance, RebalanceInstance, canonical_json
from verifier.model.options import EngineOptions

# The checks that plan a case again (a layer alone; with an old placement).
REPLAN_CHECKS: dict[str, str] = {**LAYER_CHECKS, **INCREMENTAL_CHECKS}
ALL_CHECKS: dict[str, str] = {
    **CHECKS,
    **RELATIONS,
    **QUALITY_CHECKS,
    **QUALITY_GATE_CHECKS,
    **DIFFERENTIALS,
    **REPLAN_CHECKS,
    **DEFAULT_DEVICE_CHECKS,
}  # every check id an evaluation can report
CACHE_SIZE = 4096
# Observations shrunk to a minimal instance like violations (they still never fail a run).
SHRUNK_OBSERVATIONS = frozenset({"quality.behind_greedy"})
MAX_PROBE_TROUBLE = 2  # a function whose probed calls hang or crash this often is not probed again


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

    def pursued(self, strict: bool) -> list[str]:
        """The checks Hypothesis shrinks this case for: what fails, then `SHRUNK_OBSERVATIONS`."""
        checks = [finding.check for finding in self.failing(strict)]
        checks += [f.check for f in self.findings if f.check in SHRUNK_OBSERVATIONS]
        return list(dict.fromkeys(checks))


class Evaluator:
    """Evaluates cases of one candidate in its sandbox (results cached per instance)."""

    def __init__(
        self,
        sandbox: Sandbox,
        info: LoadInfo,
        options: EngineOptions,
        gate: Gate | None = None,
        *,
        probe: Sandbox | None = None,
    ) -> None:
        """`gate`: what every valid case is compared with (`verifier.judging.baseline`).
        `probe`: the sandbox of the default-device probe (None: no probe), which calls the
        candidate again on each valid case's inputs under torch's default device `meta`; it may
        still be loading (`Sandbox.launch`): its load is awaited at the first probed case."""
        self.sandbox = sandbox
        self.info = info
        self.options = options
        self.gate = gate
        self.cuda = options.device != "cpu" and _cuda_available()
        self.primary_device = "cuda" if options.device == "cuda" else "cpu"
        self.probe = probe
        self.probe_failure = ""  # why the probe's sandbox could not load the candidate
        self._probe_trouble: Counter[str] = Counter()
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
        """The primary call twice (contract, determinism); on a valid call, the further checks."""
        caller, device = self.caller(function), self.primary_device
        dtype = natural_dtype(instance)
        first = caller(instance, dtype=dtype, device=device)
        context = {"dtype": dtype, "device": device}
        verdict = judge(instance, first, policy=self.options.policy, context=context)
        found = list(verdict.findings)
        if first.status in ("timeout", "crash"):
            return CaseResult(function, instance, tuple(found), None, first)
        second = caller(instance, dtype=dtype, device=device)
        found += check_determinism(function, instance, first, second, context)
        valid = not any(finding.is_violation for finding in found)
        case = self._judged_case(caller, function, verdict, dtype) if valid else None
        if case is None:
            return CaseResult(function, instance, tuple(found), None, first)
        found += self._quality(case)
        if self.options.relations:
            found += self._relations(case)
        extra, metrics = self._replan_checks(case)
        found += extra
        if self.gate is not None and not has_dead_ranks(instance):  # baselines take no mask
            against, comparison = compare(case, self.gate)
            found += against
            if comparison is not None:
                metrics["baseline"] = comparison
        probe_verdict = self._probe(case)
        if probe_verdict is not None:
            found += probe_verdict.findings
            metrics["device_probe"] = probe_verdict.to_metric()
        return CaseResult(function, instance, tuple(found), case.objectives, first, metrics)

    def _judged_case(
        self, caller: Caller, function: str, verdict: Verdict, dtype: str
    ) -> JudgedCase | None:
        """The case the further checks judge; None when the call gave no outputs to judge."""
        if verdict.outputs is None or verdict.objectives is None:
            return None
        return JudgedCase(
            caller=caller,
            function=function,
            instance=verdict.instance,
            dtype=dtype,
            device=self.primary_device,
            policy=self.options.policy,
            primary=verdict.outcome,
            outputs=verdict.outputs,
            objectives=verdict.objectives,
        )

    @staticmethod
    def _quality(case: JudgedCase) -> list[Finding]:
        """Replication optimality (on the loads as given in the case's dtype), anti-affinity."""
        found = replication_optimality(
            case.function, case.instance, case.outputs, case.policy, dtype=case.dtype
        )
        return found + anti_affinity(case.function, case.instance, case.outputs)

    def _relations(self, case: JudgedCase) -> list[Finding]:
        """The metamorphic relations, and the differentials this candidate and device allow."""
        found = dtype_relation(case) + scaling_relation(case) + permutation_relation(case)
        partner = self.info.partners.get(case.function)
        if partner:
            found += partner_differential(case, partner=partner)
        if self.options.device == "all" and self.cuda:
            found += device_differential(case)
        return found

    def _replan_checks(self, case: JudgedCase) -> tuple[list[Finding], dict[str, Any]]:
        """Layer independence and incremental rebalancing: findings, and metrics (migration)."""
        found = layer_independence(case, allow_cross_layer=self.options.allow_cross_layer)
        metrics: dict[str, Any] = {}
        if not isinstance(case.instance, RebalanceInstance):
            return found, metrics
        takes_old = case.function in self.info.accepts_old and not has_dead_ranks(case.instance)
        old_call = self._old_call(case) if takes_old else None
        more, migration = incremental_checks(
            case,
            old_call=old_call,
            vllm_contract=self.info.profile == "vllm",
            requires_old=case.function in self.info.requires_old,
            max_moves=self.options.max_moves,
        )
        found += more
        if migration:
            metrics["migration"] = migration
        return found, metrics

    def _probe(self, case: JudgedCase) -> ProbeVerdict | None:
        """The default-device probe of a valid case (None when the case is not probed)."""
        if self.probe is None or self._probe_trouble[case.function] >= MAX_PROBE_TROUBLE:
            return None
        if self.probe.info is None:
            try:
                self.probe.start()
            except CandidateError as error:
                self.probe, self.probe_failure = None, str(error)
                return None
        probed = call_on(
            self.probe,
            case.instance,
            dtype=case.dtype,
            device=case.device,
            default_device=PROBE_DEVICE,
        )
        if probed.status in ("timeout", "crash"):
            self._probe_trouble[case.function] += 1
        return judge_probe(
            case.function,
            case.instance,
            probed,
            case.primary,
            moves_host_outputs=self.info.profile == "vllm",
            context=case.context,
        )

    def _old_call(self, case: JudgedCase) -> OldCall:
        """Calls the candidate with an old placement, in the case's dtype and on its device."""

        def with_old(other: RebalanceInstance, old: list[list[int]]) -> CallOutcome:
            return call_on(self.sandbox, other, dtype=case.dtype, device=case.device, old=old)

        return with_old


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())

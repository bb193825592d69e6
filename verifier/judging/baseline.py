"""The candidate against a baseline on one case: the quality gate.

With `--baseline SPEC` every valid case is also given to the baseline (its own sandbox, the same
instance, dtype and device) and the exact objectives are compared layer by layer, under the
candidate's contract: max pack load, max load per replica, max GPU load. A layer where the
candidate exceeds (1 + R) x the baseline is a `quality.regression` (a violation). A baseline that
breaks the contract on a case is reported (`quality.baseline_invalid`) and the case is not held
against the candidate.

Without a baseline the same comparison is made against the reference greedy, called in the
candidate's own sandbox (no second worker), and a candidate behind it by more than
`BEHIND_GREEDY_MARGIN` on some layer draws the observation `quality.behind_greedy`.

Differences that arithmetic in the call's dtype explains (float32 loads) are rounding, not a
regression (`verifier.judging.precision`). Every compared case is classified worse, equal or
better (worse on any layer is worse), which the run's summary counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from verifier.calling.caller import call_on
from verifier.calling.sandbox import CallOutcome, Sandbox
from verifier.judging.case import JudgedCase
from verifier.judging.judge import Verdict, judge
from verifier.judging.precision import within_rounding
from verifier.model.findings import Finding, observation, violation
from verifier.model.instances import Instance

QUALITY_GATE_CHECKS: dict[str, str] = {
    "quality.regression": "a layer's objective exceeds (1 + R) x the baseline's (--baseline)",
    "quality.baseline_invalid": "the baseline broke the contract on a case (not held against the "
    "candidate)",
    "quality.behind_greedy": "worse than the reference greedy by more than 2% on some layer",
}
GREEDY = "reference:greedy"
# Without a baseline, a layer more than 2% above the reference greedy's is an observation. Our own
# variants are never more than 0.x% behind greedy on a layer (measured on thousands of generated
# cases, `tests/test_judging_baseline.py`), while a plan that gives away a replica or a pack's
# balance is typically 5% or more behind: 2% separates the two with room for tie-breaking.
BEHIND_GREEDY_MARGIN = Fraction(2, 100)

BaselineCall = Callable[[Instance, str, str], CallOutcome]  # (instance, dtype, device)


@dataclass(frozen=True)
class Gate:
    """What one case is compared with: how the baseline is called, its name, the tolerance, and
    whether a regression is a violation (`--baseline`) or an observation (the greedy)."""

    call: BaselineCall
    spec: str
    tolerance: Fraction
    gating: bool
    functions: tuple[str, ...]  # the functions the baseline defines

    @property
    def check(self) -> str:
        return "quality.regression" if self.gating else "quality.behind_greedy"


def baseline_gate(box: Sandbox, tolerance: float, functions: tuple[str, ...]) -> Gate:
    """The gate of `--baseline`: the baseline in its own started sandbox, R = `tolerance`."""

    def call(instance: Instance, dtype: str, device: str) -> CallOutcome:
        return call_on(box, instance, dtype=dtype, device=device)

    return Gate(call, box.spec, Fraction(str(tolerance)), True, functions)


def greedy_gate(candidate_box: Sandbox, functions: tuple[str, ...]) -> Gate:
    """The comparison of every check without a baseline: the reference greedy, called in the
    candidate's sandbox (the reference is our own code; no second worker, no second torch)."""

    def call(instance: Instance, dtype: str, device: str) -> CallOutcome:
        return call_on(candidate_box, instance, dtype=dtype, device=device, spec=GREEDY)

    return Gate(call, GREEDY, BEHIND_GREEDY_MARGIN, False, functions)


def ratio(candidate: Fraction, baseline: Fraction) -> Fraction | None:
    """candidate / baseline; 1 when both are zero; None (unbounded) over a zero baseline."""
    if baseline == 0:
        return Fraction(1) if candidate == 0 else None
    return candidate / baseline


def _ratio_key(value: Fraction | None) -> tuple[bool, Fraction]:
    return (value is None, value if value is not None else Fraction(0))


def _layer_plan(outputs: dict[str, Any], layer: int) -> dict[str, Any]:
    return {name: rows[layer] for name, rows in outputs.items()}


def _beyond(excess: Fraction, dtype: str) -> bool:
    """A relative excess above zero that the dtype's rounding does not explain."""
    return excess > 0 and not within_rounding(excess, dtype)


def classify(candidate: tuple[Fraction, ...], baseline: tuple[Fraction, ...], dtype: str) -> str:
    """worse (on any layer), better (on some, worse on none) or equal, rounding aside."""
    worse = better = False
    for mine, theirs in zip(candidate, baseline, strict=True):
        if theirs == 0 or mine == 0:
            worse |= mine > theirs
            better |= theirs > mine
            continue
        worse |= _beyond((mine - theirs) / theirs, dtype)
        better |= _beyond((theirs - mine) / mine, dtype)
    return "worse" if worse else "better" if better else "equal"


def compare(case: JudgedCase, gate: Gate) -> tuple[list[Finding], dict[str, Any] | None]:
    """The case's objectives against the baseline's: findings, and the case's comparison
    (`verdict`, worst `ratio`, for the run's tally); no comparison when the baseline lacks the
    function."""
    if case.function not in gate.functions:
        return [], None
    outcome = gate.call(case.instance, case.dtype, case.device)
    verdict = judge(case.instance, outcome, policy=case.policy, context=case.context)
    if verdict.objectives is None or verdict.outputs is None:
        found = [_baseline_invalid(case, gate, verdict)] if gate.gating else []
        return found, {"verdict": "baseline_invalid", "ratio": None}
    pairs = zip(case.objectives, verdict.objectives, strict=True)
    ratios = [ratio(mine, theirs) for mine, theirs in pairs]
    layer = max(range(len(ratios)), key=lambda i: _ratio_key(ratios[i]), default=0)
    worst = ratios[layer] if ratios else Fraction(1)
    metrics = {
        "verdict": classify(case.objectives, verdict.objectives, case.dtype),
        "ratio": None if worst is None else float(worst),
    }
    if not _regressed(worst, gate.tolerance, case.dtype):
        return [], metrics
    return [_regression(case, gate, verdict, layer, worst)], metrics


def _regressed(worst: Fraction | None, tolerance: Fraction, dtype: str) -> bool:
    """Above (1 + R) x the baseline on the worst layer, beyond the dtype's rounding."""
    return worst is None or (worst > 1 + tolerance and _beyond(worst - 1 - tolerance, dtype))


def _regression(
    case: JudgedCase, gate: Gate, baseline: Verdict, layer: int, worst: Fraction | None
) -> Finding:
    assert baseline.objectives is not None and baseline.outputs is not None
    mine, theirs = case.objectives[layer], baseline.objectives[layer]
    shown = "unbounded" if worst is None else f"{float(worst):.4g}x"
    details = {
        "baseline": gate.spec,
        "max_regression": float(gate.tolerance),
        "objective": str(mine),
        "baseline_objective": str(theirs),
        "ratio": None if worst is None else float(worst),
        "plan": _layer_plan(case.outputs, layer),
        "baseline_plan": _layer_plan(baseline.outputs, layer),
        **case.context,
    }
    if gate.gating:
        make, what = violation, f"more than (1 + {float(gate.tolerance):g}) x"
    else:
        make, what = observation, f"more than {float(gate.tolerance):.0%} above"
    return make(
        gate.check,
        f"layer {layer}: objective {float(mine):.6g} is {what} {gate.spec}'s "
        f"{float(theirs):.6g} ({shown})",
        function=case.function,
        instance=case.instance,
        layer=layer,
        details=details,
    )


def _baseline_invalid(case: JudgedCase, gate: Gate, baseline: Verdict) -> Finding:
    first = baseline.findings[0] if baseline.findings else None
    why = f"{first.check}: {first.message}" if first else "it returned no outputs to judge"
    return observation(
        "quality.baseline_invalid",
        f"the baseline {gate.spec} broke the contract on this case ({why}); "
        "the case is not held against the candidate",
        function=case.function,
        instance=case.instance,
        details={"baseline": gate.spec, "baseline_checks": [f.check for f in baseline.findings]},
    )

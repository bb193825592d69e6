"""The first probe call (child side, at load, after `eplb_prepare()`): does a function whose
old placement looks optional in fact require one?

A function with an old-placement parameter that has a default, and no assertion on it in its own
source (a subclass whose parent asserts, a check in a helper), is called once on a small fixed
instance without an old placement. If that raises and the same call with the reference's old
placement (`verifier.calling.profiles.old_placement`) returns, the old placement is required,
with the probe's error as the reason. Only functions with an optional old placement (detected,
not requested) are probed; a probe that raises both ways leaves the axis as it was (the checked
calls then show the failure).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from verifier.calling.profiles.old_placement import reference_old_placement

if TYPE_CHECKING:
    from verifier.calling.profiles.binding import BoundCandidate

# A small hierarchical rebalance case: 8 experts in 4 groups, 12 replicas, 2 nodes, 4 GPUs.
PROBE_WEIGHTS = [[90, 132, 40, 61, 104, 165, 39, 4]]
PROBE_ARGS = (12, 4, 2, 4)


def _returns(bound: BoundCandidate, function: str, old: Any) -> str:
    """ "" when the call returns; else its error, `Type: message`."""
    import torch

    weight = torch.tensor(PROBE_WEIGHTS, dtype=torch.float32)
    fn = bound.function(function)
    axes = bound.axes_of(function)
    parts = bound.profile.call_parts(function, fn, weight, PROBE_ARGS, old, True, axes)
    try:
        fn(*parts.args, **parts.kwargs)
    except Exception as error:  # untrusted code: any failure is the probe's answer
        return f"{type(error).__name__}: {error}"[:200]
    return ""


def probe_old_placement(bound: BoundCandidate) -> None:
    """Mark as required each optional old placement the function cannot do without."""
    import torch

    for function in bound.accepts_old:
        axes = bound.axes_of(function)
        if axes.old_placement != "optional" or "old_placement" in dict(axes.reasons):
            continue
        without = _returns(bound, function, None)
        if not without:
            continue
        weight = torch.tensor(PROBE_WEIGHTS, dtype=torch.float32)
        old = reference_old_placement(weight, PROBE_ARGS, True)
        if old is None or _returns(bound, function, old):
            continue
        why = f"a probe call without one raised {without}; with one it returned"
        reasons = (*axes.reasons, ("old_placement", why))
        bound.axes[function] = replace(axes, old_placement="required", reasons=reasons)
        bound.notes.append(f"{function}: old placement required ({why})")

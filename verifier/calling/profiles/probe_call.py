"""First probe calls (child side, at load, after `eplb_prepare()`): what the signature and the
source did not tell.

- Old placement: a function whose old placement looks optional (a parameter with a default and
  no assertion in its own source: a subclass whose parent asserts, a check in a helper) is called
  once on a small fixed case without one. If that raises and the same call with the reference's
  old placement (`verifier.calling.profiles.old_placement`) returns, it is required.
- Arrays: under `--api auto`, a DeepSeek-named function of a module that imports numpy, with
  nothing in its annotations or source saying numpy, is called once with torch loads; if that
  raises and the call with numpy loads returns, it takes numpy (and int32 maps cast in its source
  are its declared index dtype).

The probe's error is the printed reason. Only axes left to detection are probed; a probe that
fails both ways leaves the axis as it was (the checked calls then show the failure). A probed
function is called on a tiny case only (at most 8 experts), under the load time limit.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from verifier.calling.profiles.axes import Axes
from verifier.calling.profiles.axis_detection import declared_int32, module_source_of
from verifier.calling.profiles.old_placement import reference_old_placement

if TYPE_CHECKING:
    from verifier.calling.profiles.binding import BoundCandidate

# Small cases per function; rebalance: 8 experts in 4 groups, 12 replicas, 2 nodes, 4 GPUs.
PROBE_CASES: dict[str, tuple[list[list[int]], tuple[int, ...]]] = {
    "balanced_packing": ([[5, 4, 3, 2, 1, 1]], (2,)),
    "replicate_experts": ([[6, 3, 1]], (5,)),
    "rebalance_experts": ([[90, 132, 40, 61, 104, 165, 39, 4]], (12, 4, 2, 4)),
}


def _error(bound: BoundCandidate, function: str, axes: Axes, old: Any = None) -> str:
    """ "" when the probe call returns; else its error, `Type: message`."""
    import torch

    weights, args = PROBE_CASES[function]
    weight = torch.tensor(weights, dtype=torch.float32)
    fn = bound.function(function, throwaway=True)  # a shared instance's state stays clean
    parts = bound.profile.call_parts(function, fn, weight, args, old, True, axes)
    try:
        fn(*parts.args, **parts.kwargs)
    except BaseException as error:  # untrusted code: any failure (SystemExit too) answers
        return f"{type(error).__name__}: {error}"[:200]
    return ""


def _with_reason(axes: Axes, axis: str, why: str) -> Axes:
    return replace(axes, reasons=(*axes.reasons, (axis, why)))


def probe_old_placement(bound: BoundCandidate) -> None:
    """Mark as required each optional old placement the function cannot do without."""
    import torch

    if bound.requested.old_placement != "auto":
        return
    for function in bound.accepts_old:
        axes = bound.axes_of(function)
        if axes.old_placement != "optional" or function not in PROBE_CASES:
            continue
        without = _error(bound, function, axes)
        weights, args = PROBE_CASES[function]
        old = reference_old_placement(torch.tensor(weights, dtype=torch.float32), args, True)
        if not without or old is None or _error(bound, function, axes, old):
            continue
        why = f"a probe call without one raised {without}; with one it returned"
        axes = _with_reason(replace(axes, old_placement="required"), "old_placement", why)
        bound.axes[function] = axes
        bound.notes.append(f"{function}: old placement required ({why})")


def _imports_numpy(fn: Any) -> bool:
    """The function's module imports numpy (`import numpy`, `import numpy as np`, `from numpy`)."""
    return re.search(r"^\s*(import|from)\s+numpy\b", module_source_of(fn), re.M) is not None


def probe_arrays(bound: BoundCandidate) -> None:
    """Switch to numpy loads each DeepSeek-named function that fails with torch loads only."""
    spec = bound.requested
    if spec.naming != "auto" or spec.arrays != "auto" or bound.profile.name != "deepseek":
        return
    for function, fn in bound.candidate.functions.items():
        axes = bound.axes_of(function)
        if axes.arrays != "preset" or function not in PROBE_CASES or not _imports_numpy(fn):
            continue
        with_torch = _error(bound, function, axes)
        numpy_axes = replace(axes, arrays="numpy")
        if not with_torch or _error(bound, function, numpy_axes):
            continue
        why = f"a probe call with torch loads raised {with_torch}; with numpy loads it returned"
        axes = _with_reason(numpy_axes, "arrays", why)
        int32 = declared_int32(fn, True) if spec.index_dtype == "auto" else ""
        if int32:
            axes = _with_reason(replace(axes, index_dtype="int32"), "index_dtype", int32)
        bound.axes[function] = axes
        bound.notes.append(f"{function}: {axes.note()}")

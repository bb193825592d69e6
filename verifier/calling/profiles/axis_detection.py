"""Resolving a function's axes (child side): an override wins; under `--api auto` each axis is
detected from the signature, the annotations and the source; under an explicit naming the preset
keeps today's defaults (`verifier.calling.profiles.axes`).

Detection, axis by axis:
- arrays: numpy when the first parameter is annotated as a numpy array, or the source treats it
  as one (`weight.astype(`, `np.asarray(weight`); else the naming's convention (a first probe
  call may still find numpy: `verifier.calling.profiles.probe_call`);
- index dtype: int32 where the project declares it: SGLang's contract, a return annotation that
  names int32, or a numpy port whose module casts to `np.int32` (in the function or a helper);
  else int64 (int32 a violation);
- return form: under DeepSeek's names, a return annotation of a 2-tuple is `(phy2log, logcnt)`
  (`pair`) and a single array from `rebalance_experts` is `phy2log`; else the naming's
  convention (vLLM's results are recognised by their shape);
- old placement: none without an old-placement parameter; required when it has no default or the
  source asserts that it is given (`assert NAME is not None`, `if NAME is None: raise`); else
  optional.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from verifier.calling.profiles.axes import ApiSpec, Axes
from verifier.calling.profiles.signature import old_placement_parameter, parameters
from verifier.model.errors import CandidateError

NUMPY_IDIOMS = ("{}.astype(", "np.asarray({}", "np.array({}", "numpy.asarray({}")
# int32 in a numpy port's source: `np.int32`, `numpy.int32`, `from numpy import int32`, "int32"
NUMPY_INT32 = re.compile(r"\b(?:np|numpy)\.int32\b|\bimport\b[^\n]*\bint32\b|[\"']int32[\"']")


def source_of(fn: Callable[..., Any]) -> str:
    """The function's source text ("" when it has none, e.g. a builtin)."""
    try:
        return inspect.getsource(inspect.unwrap(getattr(fn, "__func__", fn)))
    except (OSError, TypeError):
        return ""


def module_source_of(fn: Callable[..., Any]) -> str:
    """The source text of the module that defines the function ("" when it has none)."""
    module = inspect.getmodule(inspect.unwrap(getattr(fn, "__func__", fn)))
    try:
        return inspect.getsource(module) if module is not None else ""
    except (OSError, TypeError):
        return ""


def _numpy_input(fn: Callable[..., Any]) -> str:
    """Why the function takes numpy loads ("" when nothing says so)."""
    params = parameters(fn)
    if not params:
        return ""
    first = params[0]
    annotation = (
        "" if first.annotation is first.empty else inspect.formatannotation(first.annotation)
    )
    if "ndarray" in annotation or "NDArray" in annotation or "np." in annotation:
        return f"its first parameter is annotated {annotation}"
    source = source_of(fn)
    for idiom in NUMPY_IDIOMS:
        if idiom.format(first.name) in source:
            return f"its source calls {idiom.format(first.name)}"
    return ""


def declared_int32(fn: Callable[..., Any], numpy_input: bool) -> str:
    """Why int32 outputs are the function's declared contract ("" when they are not)."""
    try:
        returned = inspect.signature(fn).return_annotation
    except (TypeError, ValueError):
        returned = inspect.Signature.empty
    if returned is not inspect.Signature.empty and "int32" in str(returned):
        return "its return annotation declares int32"
    if numpy_input and NUMPY_INT32.search(module_source_of(fn)):
        return "a numpy port whose source casts its maps to np.int32"  # its helpers' too
    return ""


def _returned_items(fn: Callable[..., Any]) -> int | None:
    """How many items the return annotation declares: n for `tuple[...n...]`, 1 for one array,
    None when it says nothing (or something else)."""
    try:
        returned = inspect.signature(fn).return_annotation
    except (TypeError, ValueError):
        return None
    if returned is inspect.Signature.empty:
        return None
    text = returned if isinstance(returned, str) else inspect.formatannotation(returned)
    text = text.replace(" ", "")
    match = re.fullmatch(r"(?:typing\.)?[Tt]uple\[(.*)\]", text)
    if match:
        depth, items = 0, 1
        for char in match.group(1):
            depth += {"[": 1, "]": -1}.get(char, 0)
            items += char == "," and depth == 0
        return items
    return 1 if re.search(r"(ndarray|NDArray|Tensor)", text) else None


def detect_returns(function: str, fn: Callable[..., Any]) -> tuple[str, str]:
    """`pair` / `phy2log` from the return annotation ("preset", "" when it says neither)."""
    items = _returned_items(fn)
    if items == 2 and function in ("replicate_experts", "rebalance_experts"):
        return "pair", "its return annotation is a pair"
    if items == 1 and function == "rebalance_experts":
        return "phy2log", "its return annotation is a single array"
    return "preset", ""


def _asserts_given(source: str, name: str) -> bool:
    """The source asserts (or raises unless) that parameter `name` is given."""
    asserted = rf"assert\s+{name}\s+is\s+not\s+None"
    raised = rf"if\s+{name}\s+is\s+None\s*:\s*raise\b"
    return bool(re.search(asserted, source) or re.search(raised, source))


def detect_old_placement(fn: Callable[..., Any]) -> tuple[str, str]:
    """none / optional / required for the function's old-placement parameter, and why."""
    name = old_placement_parameter(fn)
    if name is None:
        return "none", ""
    param = next(p for p in parameters(fn) if p.name == name)
    if param.default is param.empty:
        return "required", f"its parameter {name} has no default"
    if _asserts_given(source_of(fn), name):
        return "required", f"its source asserts that {name} is given"
    return "optional", ""


def _old_axis(function: str, fn: Callable[..., Any], spec: ApiSpec, naming: str) -> Axes:
    """The old-placement axis alone (only `rebalance_experts` takes an old placement)."""
    requested = spec.old_placement
    if function != "rebalance_experts":
        return Axes()
    detected, why = detect_old_placement(fn)
    if requested == "auto":
        if naming == "deepseek" and spec.naming == "deepseek":
            return Axes()  # today's deepseek preset: never called with an old placement
        reasons = (("old_placement", why),) if detected == "required" else ()
        return Axes(old_placement=detected, reasons=reasons)
    if requested != "none" and detected == "none":
        raise CandidateError(
            f"{function}: --old-placement {requested} but it has no old-placement parameter "
            "(old_global_expert_indices)"
        )
    return Axes(old_placement=requested, reasons=(("old_placement", "requested"),))


def resolve_axes(function: str, fn: Callable[..., Any], spec: ApiSpec, naming: str) -> Axes:
    """The axes of one function under `spec`, whose naming resolved to `naming`."""
    detecting = spec.naming == "auto"
    old_axis = _old_axis(function, fn, spec, naming)
    reasons, old = list(old_axis.reasons), old_axis.old_placement
    arrays, why = spec.arrays, "requested"
    if arrays == "auto":
        why = _numpy_input(fn) if detecting and naming == "deepseek" else ""
        arrays = "numpy" if why else "preset"
    if arrays != "preset":
        reasons.append(("arrays", why))
    index, why = spec.index_dtype, "requested"
    if index == "auto":
        index, why = "int64", ""
        if naming == "sglang":
            index, why = "int32", "SGLang's contract declares int32 maps"
        elif detecting:
            why = declared_int32(fn, arrays == "numpy")
            index = "int32" if why else "int64"
    if why:
        reasons.append(("index_dtype", why))
    returns, why = spec.returns, "requested"
    if returns == "auto":
        returns, why = "preset", ""
        if detecting and naming == "deepseek":
            returns, why = detect_returns(function, fn)
    if why:
        reasons.append(("returns", why))
    return Axes(arrays, index, returns, old, tuple(reasons))

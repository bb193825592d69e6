"""What a candidate function's signature says: its parameter names and the input kind it wants."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from verifier.model.elastic import MASK_NAME

SGLANG_NAMES = frozenset(
    {
        "tokens_per_expert",
        "num_physical_experts",
        "num_local_physical_experts",
        "enable_hierarchical",
    }
)
VLLM_NAMES = frozenset({"num_ranks", "old_global_expert_indices"})
OLD_PLACEMENT_NAMES = ("old_global_expert_indices",)


def parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    """The parameters a caller passes (bound `self`/`cls` excluded); [] when not inspectable."""
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return []


def parameter_names(function: Callable[..., Any]) -> set[str]:
    return {parameter.name for parameter in parameters(function)}


def wants_numpy(function: Callable[..., Any], default: bool) -> bool:
    """True when the first parameter is annotated as a numpy array (else `default` when the
    annotation says nothing, False when it names a torch tensor)."""
    params = parameters(function)
    if not params or params[0].annotation is inspect.Parameter.empty:
        return default
    text = str(params[0].annotation)
    if "ndarray" in text or "np." in text or "numpy" in text:
        return True
    return False if "Tensor" in text else default


def old_placement_parameter(function: Callable[..., Any]) -> str | None:
    """The name of the parameter that takes an old placement, if the function has one."""
    names = parameter_names(function)
    return next((name for name in OLD_PLACEMENT_NAMES if name in names), None)


def mask_parameter(function: Callable[..., Any]) -> str | None:
    """The parameter that takes an active-ranks mask (its name contains SGLang's `active_ranks`,
    e.g. `active_ranks_cpu`), if the function has one (`verifier.calling.profiles.elastic`)."""
    return next((name for name in sorted(parameter_names(function)) if MASK_NAME in name), None)


def unbindable(function: Callable[..., Any], known: set[str]) -> list[str]:
    """Required parameters the harness has no value for (no default, unknown name)."""
    missing = []
    for parameter in parameters(function):
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name not in known and parameter.default is parameter.empty:
            missing.append(parameter.name)
    return missing

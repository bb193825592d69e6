"""The worker's two profile steps around a candidate call: prepare it, adapt its result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from verifier.calling.profiles.base import CallParts, Notes
from verifier.calling.profiles.runtime import BoundCandidate


def _hierarchical(request: dict[str, Any]) -> bool:
    """SGLang's `enable_hierarchical`: the hierarchical contract applies under this policy."""
    args = request["args"]
    if request["function"] != "rebalance_experts" or len(args) != 4:
        return False
    num_groups, num_nodes = args[1], args[2]
    return request.get("policy", "auto") == "auto" and num_nodes > 0 and num_groups % num_nodes == 0


def prepare_call(
    bound: BoundCandidate, request: dict[str, Any], weight: Any
) -> tuple[Callable[..., Any], CallParts]:
    """The callable (a policy instance made now, outside the timed call) and its arguments."""
    import torch

    name = request["function"]
    function = bound.function(name)
    old = request.get("old")
    old_tensor = None if old is None else torch.tensor(old, dtype=torch.int64, device=weight.device)
    parts = bound.call_parts(
        name, function, weight, tuple(request["args"]), old_tensor, _hierarchical(request)
    )
    return function, parts


def adapt_result(
    bound: BoundCandidate, request: dict[str, Any], result: Any, weight: Any
) -> tuple[Any, Notes]:
    """The result in DeepSeek's contract, and what was adapted (unchanged if adapting fails)."""
    num_log = weight.shape[1] if weight.dim() == 2 else 0
    try:
        return bound.adapt(request["function"], result, weight, num_log)
    except Exception as error:  # a hostile result: judge it as returned
        return result, [f"could not adapt the result ({type(error).__name__})"]

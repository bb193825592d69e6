"""The active-ranks mask axis (child side): elastic EP's `active_ranks`, detected and passed.

SGLang's elasticity-aware `rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus,
enable_hierarchical, active_ranks)` takes the mask as an int32 tensor [num_gpus] (1 live, 0 dead;
`ElasticEPStateManager.healthy_rank_state` makes it `torch.ones(n, dtype=torch.int32)`). A
function has the axis when one of its parameters is named like it (its name contains
`active_ranks`, e.g. `active_ranks_cpu`), under any profile. Such a function always gets a mask:
the instance's, or all ranks live when the instance has none. What a plan must do with dead ranks,
and the placeholder its dead slots hold, is in `verifier.model.elastic`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from verifier.calling.profiles.base import CallParts, named_values
from verifier.calling.profiles.signature import mask_parameter
from verifier.model.elastic import PLACEHOLDER


def mask_note(functions: dict[str, Callable[..., Any]]) -> list[str]:
    """The profile note of the axis: which function takes the mask, and the convention judged."""
    notes = []
    for function, fn in functions.items():
        name = mask_parameter(fn)
        if name is not None:
            notes.append(
                f"active-ranks mask axis detected: {function} takes {name} (SGLang's elastic EP; "
                f"int32 [num_gpus], 1 live, 0 dead); dead ranks' slots must hold the "
                f"placeholder expert {PLACEHOLDER}"
            )
    return notes


def with_mask(
    function: str,
    parts: CallParts,
    fn: Callable[..., Any],
    mask: list[int] | None,
    weight: Any,
    args: tuple[int, ...],
) -> CallParts:
    """A rebalance call's arguments with the mask added by name (all ranks live when `mask` is
    None); unchanged for another function or a function without the axis."""
    import torch

    name = mask_parameter(fn)
    if function != "rebalance_experts" or name is None:
        return parts
    gpus = named_values(function, weight, args, False)["num_gpus"]
    values = mask if mask is not None else [1] * gpus
    tensor = torch.tensor(values, dtype=torch.int32, device=weight.device)
    note = f"the active-ranks mask passed as {name} (int32, 1 live, 0 dead)"
    return replace(parts, kwargs={**parts.kwargs, name: tensor}, notes=[*parts.notes, note])

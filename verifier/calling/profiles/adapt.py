"""Output adaptations shared by the profiles (child side: they work on live tensors/arrays).

Each returns the adapted value and a note saying what was done, so every output can say what the
harness adapted. None of them hides a violation: they only convert, or derive what a profile's
contract does not return (a derived log2phy always matches its phy2log, so the log2phy checks then
judge the harness, and say so in the note).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from verifier.calling.profiles.axes import Axes

Notes = list[str]


def is_numpy(value: Any) -> bool:
    return type(value).__module__ == "numpy" and type(value).__name__ == "ndarray"


def numpy_to_torch(result: Any) -> tuple[Any, list[str]]:
    """numpy arrays (alone or in a tuple/list) become torch tensors of the same dtype."""
    import torch

    if is_numpy(result):
        return torch.from_numpy(result.copy()), ["numpy output converted to a torch tensor"]
    if isinstance(result, (tuple, list)) and any(is_numpy(item) for item in result):
        items = tuple(torch.from_numpy(item.copy()) if is_numpy(item) else item for item in result)
        return items, ["numpy outputs converted to torch tensors"]
    return result, []


def _integer_matrix(value: Any) -> bool:
    import torch

    return (
        isinstance(value, torch.Tensor)
        and value.dim() == 2
        and not value.is_floating_point()
        and not value.is_complex()
        and value.dtype != torch.bool
    )


def replica_ranks(phy2log: Any) -> Any:
    """rank[l][p]: how many earlier slots of layer l hold the same expert as slot p."""
    import torch

    ranks = []
    for row in phy2log.detach().cpu().tolist():
        seen: dict[int, int] = {}
        ranked = []
        for expert in row:
            ranked.append(seen.get(expert, 0))
            seen[expert] = ranked[-1] + 1
        ranks.append(ranked)
    return torch.tensor(ranks, dtype=torch.int64).reshape(phy2log.shape).to(phy2log.device)


def derive_rank(result: Any) -> tuple[Any, list[str]]:
    """vLLM's `(phy2log, logcnt)` replication result -> DeepSeek's `(phy2log, rank, logcnt)`."""
    if isinstance(result, (tuple, list)) and len(result) == 2 and _integer_matrix(result[0]):
        phy2log, logcnt = result
        rank = replica_ranks(phy2log)
        return (phy2log, rank, logcnt), [
            "rank derived from phy2log (vLLM returns (phy2log, logcnt))"
        ]
    return result, []


def counts_and_slots(phy2log: Any, num_log: int) -> tuple[Any, Any]:
    """logcnt [layers, num_log] and log2phy [layers, num_log, width] (slots ascending, -1 padded)
    of a phy2log; entries outside 0..num_log-1 are left out (the range check reports them)."""
    import torch

    rows = phy2log.detach().cpu().tolist()
    slots_of: list[list[list[int]]] = [[[] for _ in range(num_log)] for _ in rows]
    for layer, row in enumerate(rows):
        for slot, expert in enumerate(row):
            if 0 <= expert < num_log:
                slots_of[layer][expert].append(slot)
    width = max([len(slots) for layer in slots_of for slots in layer], default=0)
    width = max(width, 1)
    logcnt = [[len(slots) for slots in layer] for layer in slots_of]
    log2phy = [[slots + [-1] * (width - len(slots)) for slots in layer] for layer in slots_of]
    device = phy2log.device
    return (
        torch.tensor(logcnt, dtype=torch.int64).reshape(len(rows), num_log).to(device),
        torch.tensor(log2phy, dtype=torch.int64).reshape(len(rows), num_log, width).to(device),
    )


def derive_log2phy(result: Any, num_log: int) -> tuple[Any, list[str]]:
    """A phy2log-only rebalance result -> `(phy2log, log2phy, logcnt)`."""
    phy2log = result[0] if isinstance(result, (tuple, list)) and len(result) == 1 else result
    if not _integer_matrix(phy2log):
        return result, []
    logcnt, log2phy = counts_and_slots(phy2log, num_log)
    return (phy2log, log2phy, logcnt), [
        "log2phy and logcnt derived from phy2log (the candidate returns phy2log only)"
    ]


def derive_log2phy_from_pair(result: Any, num_log: int) -> tuple[Any, list[str]]:
    """A `(phy2log, logcnt)` rebalance result -> `(phy2log, log2phy, logcnt)`; the candidate's
    own logcnt is kept (and judged against its phy2log)."""
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        return result, []
    phy2log, logcnt = result
    if not _integer_matrix(phy2log):
        return result, []
    _, log2phy = counts_and_slots(phy2log, num_log)
    return (phy2log, log2phy, logcnt), ["log2phy derived from phy2log (returns (phy2log, logcnt))"]


def widen_int32(result: Any, why: str = "SGLang's contract") -> tuple[Any, list[str]]:
    """int32 output tensors become int64 (where the project declares int32 maps, `why`)."""
    import torch

    items = result if isinstance(result, (tuple, list)) else None
    if items is None or not any(
        isinstance(item, torch.Tensor) and item.dtype == torch.int32 for item in items
    ):
        return result, []
    widened = tuple(
        item.to(torch.int64)
        if isinstance(item, torch.Tensor) and item.dtype == torch.int32
        else item
        for item in items
    )
    return widened, [f"int32 outputs accepted ({why}) and widened to int64"]


def to_device(result: Any, device: Any, who: str = "vLLM") -> tuple[Any, list[str]]:
    """Host outputs moved to the input's device (vLLM and numpy ports plan on the host)."""
    import torch

    items = result if isinstance(result, (tuple, list)) else None
    if items is None or str(device) == "cpu":
        return result, []
    moved = [isinstance(item, torch.Tensor) and item.device.type == "cpu" for item in items]
    if not any(moved):
        return result, []
    adapted = tuple(
        item.to(device) if flag else item for item, flag in zip(items, moved, strict=True)
    )
    return adapted, [f"host outputs moved to {device} ({who} plans on the host)"]


def by_axes(function: str, result: Any, weight: Any, num_log: int, axes: Axes) -> tuple[Any, Notes]:
    """The adaptations a function's axes call for (`verifier.calling.profiles.axes`), after its
    naming profile's own: numpy outputs to torch on the input's device, the declared return form
    completed to DeepSeek's, declared int32 maps widened."""
    notes: Notes = []
    steps: list[Callable[[Any], tuple[Any, Notes]]] = []
    if axes.arrays == "numpy":
        steps += [numpy_to_torch, lambda value: to_device(value, weight.device, "numpy")]
    if axes.returns == "pair" and function == "replicate_experts":
        steps.append(derive_rank)
    if axes.returns == "pair" and function == "rebalance_experts":
        steps.append(lambda value: derive_log2phy_from_pair(value, num_log))
    if axes.returns == "phy2log" and function == "rebalance_experts":
        steps.append(lambda value: derive_log2phy(value, num_log))
    if axes.index_dtype == "int32":
        steps.append(lambda value: widen_int32(value, _int32_reason(axes)))
    for step in steps:
        result, more = step(result)
        notes += more
    return result, notes


def _int32_reason(axes: Axes) -> str:
    return dict(axes.reasons).get("index_dtype", "requested")

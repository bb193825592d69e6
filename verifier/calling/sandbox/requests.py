"""What the parent asks the child: load a candidate, or call one of its functions.

Requests cross the process boundary as one JSON object per line; the parent sends `to_data()`,
the child reads it back with `request_from_data`. The parent sends what it already knows (for
example whether the hierarchical contract applies to a call), so the child only acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Binding:
    """Which candidate the child calls, through which API profile (`verifier.calling.profiles`),
    and whether a policy class gets a fresh instance per call."""

    spec: str
    api: str = "deepseek"
    fresh_instance: bool = True

    def to_data(self) -> dict[str, Any]:
        return {"spec": self.spec, "api": self.api, "fresh_instance": self.fresh_instance}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Binding:
        return cls(data["spec"], data["api"], bool(data["fresh_instance"]))


@dataclass(frozen=True)
class LoadRequest:
    """Load the candidate and set torch up for calls on `devices` (outside any call's time)."""

    binding: Binding
    devices: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        return {"op": "load", **self.binding.to_data(), "devices": list(self.devices)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> LoadRequest:
        return cls(Binding.from_data(data), tuple(data["devices"]))


@dataclass(frozen=True)
class CallRequest:
    """Call `function(tensor(weights, dtype, device), *args)` of the bound candidate (loaded
    first if it is not yet)."""

    binding: Binding
    function: str
    weights: list[list[Any]]
    args: tuple[int, ...]
    dtype: str = "float32"
    device: str = "cpu"
    hierarchical: bool = False  # the hierarchical contract applies (SGLang's enable_hierarchical)
    old: list[list[int]] | None = None  # an old placement, for functions that accept one
    # torch's default device during the call (the default-device probe); None: left as it is
    default_device: str | None = None
    active_ranks: list[int] | None = None  # elastic EP's mask, for functions that take one
    # the loads as a window of steps `[steps, layers, experts]` (sequence mode), passed where the
    # profile takes one (SGLang's tokens_per_expert); None: the loads as one step
    window: list[list[list[Any]]] | None = None

    def to_data(self) -> dict[str, Any]:
        return {
            "op": "call",
            **self.binding.to_data(),
            "function": self.function,
            "weights": self.weights,
            "args": list(self.args),
            "dtype": self.dtype,
            "device": self.device,
            "hierarchical": self.hierarchical,
            "old": self.old,
            "default_device": self.default_device,
            "active_ranks": self.active_ranks,
            "window": self.window,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CallRequest:
        return cls(
            Binding.from_data(data),
            data["function"],
            data["weights"],
            tuple(data["args"]),
            data["dtype"],
            data["device"],
            bool(data["hierarchical"]),
            data["old"],
            data["default_device"],
            data.get("active_ranks"),
            data.get("window"),
        )


Request = LoadRequest | CallRequest


def request_from_data(data: dict[str, Any]) -> Request:
    """The request one protocol line carries (its `op` says which)."""
    if data["op"] == "load":
        return LoadRequest.from_data(data)
    return CallRequest.from_data(data)

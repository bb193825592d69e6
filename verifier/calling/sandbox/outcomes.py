"""What the child answers: a loaded candidate (`LoadInfo`) and a call's outcome, as plain data.

Results cross the process boundary only as plain data (dtype, device, shape, nested-list values,
the type name of anything that is not a tensor), so a garbage result cannot crash the harness.
Both sides use this module: the child describes a result (`result_reply`), the parent rebuilds the
`CallOutcome` (`outcome_from_reply`). The requests are in `verifier.calling.sandbox.requests`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

CallStatus = Literal["ok", "error", "timeout", "crash"]
MAX_VALUES = 1_000_000  # larger outputs are described without their values


@dataclass(frozen=True)
class TensorValue:
    """A tensor the candidate returned, as plain data (`values` is None when it was too large)."""

    dtype: str  # e.g. "torch.int64"
    device: str  # e.g. "cpu", "cuda:0"
    shape: tuple[int, ...]
    values: Any


@dataclass(frozen=True)
class OtherValue:
    """Something that is not a tensor: only its type name and a short repr cross the boundary."""

    type_name: str
    text: str


Value = TensorValue | OtherValue


@dataclass(frozen=True)
class CallOutcome:
    """What one candidate call did."""

    status: CallStatus
    result_type: str = ""  # type name of the returned object ("tuple" for DeepSeek's signature)
    outputs: tuple[Value, ...] | None = None  # the items of a returned tuple/list; else None
    single: Value | None = None  # the returned object itself when it was not a tuple/list
    input_device: str = "cpu"
    mutated: bool = False
    seconds: float = 0.0
    error: str = ""  # "ExcType: message", or what happened to the worker
    traceback: str = ""  # the exception's traceback, or the tail of the worker's stderr
    candidate_frame: str = ""  # where in the candidate's own file an exception was raised
    adapted: tuple[str, ...] = ()  # what the API profile adapted (verifier.calling.profiles)

    def same_result(self, other: CallOutcome) -> bool:
        """True when both calls returned exactly the same thing (types, dtypes, shapes, values)."""
        return (
            self.status == other.status == "ok"
            and self.result_type == other.result_type
            and nan_equal(self.outputs, other.outputs)
            and nan_equal(self.single, other.single)
        )


def nan_equal(left: Any, right: Any) -> bool:
    """Equality that treats NaN as equal to NaN (a NaN output is still the same output)."""
    if isinstance(left, float) and isinstance(right, float):
        return left == right or (left != left and right != right)
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(map(nan_equal, left, right))
    if isinstance(left, TensorValue) and isinstance(right, TensorValue):
        same_kind = (left.dtype, left.device, left.shape) == (
            right.dtype,
            right.device,
            right.shape,
        )
        return same_kind and nan_equal(left.values, right.values)
    return bool(left == right)


@dataclass(frozen=True)
class LoadInfo:
    """What the worker reports after loading a candidate."""

    spec: str
    functions: tuple[str, ...]
    variant: str | None = None
    partners: dict[str, str] = field(default_factory=dict)
    profile: str = "deepseek"  # the API profile the worker called it through
    profile_notes: tuple[str, ...] = ()  # why that profile, and how a policy class is called
    accepts_old: tuple[str, ...] = ()  # functions that take an old placement (incremental)
    takes_mask: tuple[str, ...] = ()  # functions that take an active-ranks mask (elastic EP)
    requires_old: tuple[str, ...] = ()  # of those, the ones that cannot plan without one

    def to_data(self) -> dict[str, Any]:
        """The child's reply to a load request that succeeded."""
        return {
            "ok": True,
            "spec": self.spec,
            "functions": list(self.functions),
            "variant": self.variant,
            "partners": self.partners,
            "profile": self.profile,
            "profile_notes": list(self.profile_notes),
            "accepts_old": list(self.accepts_old),
            "takes_mask": list(self.takes_mask),
            "requires_old": list(self.requires_old),
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> LoadInfo:
        return cls(
            data["spec"],
            tuple(data["functions"]),
            data["variant"],
            data["partners"],
            data["profile"],
            tuple(data["profile_notes"]),
            tuple(data["accepts_old"]),
            tuple(data.get("takes_mask", ())),
            tuple(data["requires_old"]),
        )


def value_from_data(data: dict[str, Any]) -> Value:
    if data["kind"] == "tensor":
        return TensorValue(data["dtype"], data["device"], tuple(data["shape"]), data["values"])
    return OtherValue(data["type"], data["text"])


def outcome_from_reply(reply: dict[str, Any]) -> CallOutcome:
    if reply["status"] != "ok":
        return CallOutcome(
            "error",
            error=reply.get("error", ""),
            traceback=reply.get("traceback", ""),
            candidate_frame=reply.get("candidate_frame", ""),
            input_device=reply.get("input_device", "cpu"),
            mutated=bool(reply.get("mutated", False)),
            seconds=float(reply.get("seconds", 0.0)),
        )
    outputs = reply.get("outputs")
    single = reply.get("single")
    return CallOutcome(
        "ok",
        result_type=reply["result_type"],
        outputs=None if outputs is None else tuple(value_from_data(item) for item in outputs),
        single=None if single is None else value_from_data(single),
        input_device=reply["input_device"],
        mutated=bool(reply["mutated"]),
        seconds=float(reply["seconds"]),
        adapted=tuple(reply.get("adapted", ())),
    )


def _describe(value: Any) -> dict[str, Any]:
    """Plain data for one returned object (tensors with their values, anything else by type)."""
    try:
        return _describe_unchecked(value)
    except Exception as error:  # a tensor subclass or object that fights back
        return {"kind": "other", "type": type(value).__name__, "text": f"<{error!r}>"[:200]}


def _describe_unchecked(value: Any) -> dict[str, Any]:
    import torch

    if isinstance(value, torch.Tensor):
        data: dict[str, Any] = {
            "kind": "tensor",
            "dtype": str(value.dtype),
            "device": str(value.device),
            "shape": list(value.shape),
            "values": None,
        }
        readable = value.device.type != "meta" and not value.is_complex()
        if readable and value.numel() <= MAX_VALUES:
            data["values"] = value.detach().cpu().tolist()
        return data
    try:
        text = repr(value)[:200]
    except Exception as error:  # a hostile __repr__
        text = f"<repr raised {type(error).__name__}>"
    return {"kind": "other", "type": type(value).__name__, "text": text}


def outcome_of_result(
    result: Any, *, input_device: str = "cpu", mutated: bool = False
) -> CallOutcome:
    """The `CallOutcome` of a result computed in this process (hand-built outputs, trusted code)."""
    return outcome_from_reply(result_reply(result, input_device, mutated, 0.0))


def result_reply(result: Any, input_device: str, mutated: bool, seconds: float) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "status": "ok",
        "input_device": input_device,
        "mutated": mutated,
        "seconds": seconds,
        "result_type": type(result).__name__,
    }
    if isinstance(result, (tuple, list)):
        reply["outputs"] = [_describe(item) for item in result]
    else:
        reply["single"] = _describe(result)
    return reply

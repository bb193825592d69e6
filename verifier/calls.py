"""How an instance becomes a candidate call: its function, positional arguments and input dtype."""

from __future__ import annotations

import struct
from typing import Protocol

from verifier.instances import Instance, PackingInstance, ReplicationInstance
from verifier.worker import CallOutcome

FUNCTION_OF_PROBLEM: dict[str, str] = {
    "packing": "balanced_packing",
    "replication": "replicate_experts",
    "rebalance": "rebalance_experts",
}


def function_for(instance: Instance) -> str:
    """The EPLB function that solves an instance's problem."""
    return FUNCTION_OF_PROBLEM[instance.problem]


def call_args(instance: Instance) -> tuple[int, ...]:
    """The positional arguments after `weight`, in DeepSeek's order."""
    if isinstance(instance, PackingInstance):
        return (instance.num_packs,)
    if isinstance(instance, ReplicationInstance):
        return (instance.num_phy,)
    return (instance.num_replicas, instance.num_groups, instance.num_nodes, instance.num_gpus)


def natural_dtype(instance: Instance) -> str:
    """int64 for integer loads; float32 (what serving systems pass) when any load is a float."""
    floats = any(isinstance(value, float) for row in instance.weights for value in row)
    return "float32" if floats else "int64"


def float32(value: float) -> float:
    """`value` rounded to the nearest float32 (returned as a Python float)."""
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


class Caller(Protocol):
    """Calls the candidate (or the reference variant `spec`) on an instance; never raises."""

    def __call__(
        self, instance: Instance, *, dtype: str, device: str, spec: str | None = None
    ) -> CallOutcome: ...

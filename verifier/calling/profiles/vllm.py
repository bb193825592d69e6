"""The `vllm` profile: vLLM's policy class (`vllm/distributed/eplb/policy/default.py`).

Its helpers take and return numpy arrays, `replicate_experts` returns `(phy2log, logcnt)`,
`rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_ranks,
old_global_expert_indices=None)` takes a torch tensor and returns phy2log only (or the triple),
planned on the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from verifier.calling.profiles import adapt
from verifier.calling.profiles.base import NamedProfile, Notes
from verifier.calling.profiles.signature import wants_numpy

NUMPY_HELPERS = ("balanced_packing", "replicate_experts")


class VllmProfile(NamedProfile):
    name = "vllm"

    def input_for(self, function: str, fn: Callable[..., Any], weight: Any) -> tuple[Any, Notes]:
        """numpy for the helpers (unless annotated as torch), torch for rebalance_experts."""
        if wants_numpy(fn, default=function in NUMPY_HELPERS):
            return weight.cpu().numpy(), ["loads passed as a numpy array"]
        return weight, []

    def adapt(self, function: str, result: Any, weight: Any, num_log: int) -> tuple[Any, Notes]:
        result, notes = adapt.numpy_to_torch(result)
        if function == "replicate_experts":
            result, more = adapt.derive_rank(result)
            notes += more
        if function == "rebalance_experts":
            result, more = adapt.derive_log2phy(result, num_log)
            notes += more
        result, more = adapt.to_device(result, weight.device)
        return result, notes + more

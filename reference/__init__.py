"""Reference implementation of the expert-parallel load balancer (EPLB) and its known variants.

Pure torch, runs on CPU and CUDA, and knows nothing of the verifier: the verifier treats it as one
candidate among others.

`FastEplbPolicy` (`reference.policy`, the `fast` variant as a vLLM policy class) is imported on
first use, so that `import reference` does not import numba.
"""

from typing import Any

from reference.packing import PACKING_METHODS, balanced_packing
from reference.rebalance import rebalance_experts
from reference.replication import REPLICATION_METHODS, replicate_experts
from reference.variants import DEFAULT_VARIANT, VARIANTS, ReferenceVariant

POLICY_CLASSES = ("FastEplbPolicy",)  # vLLM-style policy classes, candidates `reference:NAME`

__all__ = [
    "DEFAULT_VARIANT",
    "PACKING_METHODS",
    "POLICY_CLASSES",
    "REPLICATION_METHODS",
    "VARIANTS",
    "ReferenceVariant",
    "balanced_packing",
    "rebalance_experts",
    "replicate_experts",
]


def __getattr__(name: str) -> Any:
    if name == "FastEplbPolicy":
        from reference.policy import FastEplbPolicy

        return FastEplbPolicy
    raise AttributeError(f"module 'reference' has no attribute {name!r}")

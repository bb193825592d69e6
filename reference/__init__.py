"""Reference implementation of the expert-parallel load balancer (EPLB) and its known variants.

Pure torch, runs on CPU and CUDA, and knows nothing of the verifier: the verifier treats it as one
candidate among others.
"""

from reference.packing import PACKING_METHODS, balanced_packing
from reference.rebalance import rebalance_experts
from reference.replication import REPLICATION_METHODS, replicate_experts
from reference.variants import DEFAULT_VARIANT, VARIANTS, ReferenceVariant

__all__ = [
    "DEFAULT_VARIANT",
    "PACKING_METHODS",
    "REPLICATION_METHODS",
    "VARIANTS",
    "ReferenceVariant",
    "balanced_packing",
    "rebalance_experts",
    "replicate_experts",
]

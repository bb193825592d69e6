"""The `sglang` profile: SGLang's EPLB algorithms (`python/sglang/srt/eplb/eplb_algorithms/`).

`deepseek_vec.rebalance_experts(tokens_per_expert [steps, layers, experts], num_physical_experts,
num_local_physical_experts, num_groups, num_nodes, enable_hierarchical)` and `deepseek.py`'s
`rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus, enable_hierarchical)`;
the maps are int32 by contract. The harness passes an instance's loads as one step,
`num_local_physical_experts = num_replicas // num_gpus` and `enable_hierarchical` from the policy.
"""

from __future__ import annotations

from verifier.calling.profiles.base import NamedProfile


class SglangProfile(NamedProfile):
    """Binds by SGLang's names; its int32 maps are the index-dtype axis's preset (int32)."""

    name = "sglang"

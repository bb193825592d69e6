"""An SGLang-style algorithm (imitates `eplb_algorithms/deepseek_vec.py`'s signature).

Loads come as `tokens_per_expert` [steps, layers, experts]; the maps go back as int32.
"""

import torch

from reference import rebalance_experts as reference_rebalance


def rebalance_experts(
    tokens_per_expert: torch.Tensor,
    num_physical_experts: int,
    num_local_physical_experts: int,
    num_groups: int | None,
    num_nodes: int,
    enable_hierarchical: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    weight = tokens_per_expert.sum(dim=0)
    num_gpus = num_physical_experts // num_local_physical_experts
    if enable_hierarchical and num_groups is not None:
        maps = reference_rebalance(weight, num_physical_experts, num_groups, num_nodes, num_gpus)
    else:
        maps = reference_rebalance(weight, num_physical_experts, 1, 1, num_gpus)
    phy2log, log2phy, logcnt = maps
    return phy2log.int(), log2phy.int(), logcnt.int()

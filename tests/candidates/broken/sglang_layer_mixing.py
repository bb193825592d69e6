"""Bug (SGLang-style): plans every layer on the loads summed over all layers (one plan for all)."""

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
    mixed = weight.sum(dim=0, keepdim=True).expand_as(weight).contiguous()
    num_gpus = num_physical_experts // num_local_physical_experts
    groups, nodes = (num_groups, num_nodes) if enable_hierarchical and num_groups else (1, 1)
    phy2log, log2phy, logcnt = reference_rebalance(
        mixed, num_physical_experts, groups, nodes, num_gpus
    )
    return phy2log.int(), log2phy.int(), logcnt.int()

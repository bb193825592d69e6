"""Bug: raises on every call."""

import torch


def rebalance_experts(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    raise RuntimeError("index out of bounds in the placement kernel")

"""Bug (or a deliberate design): always uses the global policy, so groups get split across nodes.

Caught under the default policy; passes with `--policy global`.
"""

import torch

from reference import rebalance_experts as reference_rebalance


def rebalance_experts(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return reference_rebalance(weight, num_replicas, 1, 1, num_gpus)

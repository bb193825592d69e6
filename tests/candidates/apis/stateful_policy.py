"""A stateful policy class: plain methods, made with no arguments, smoothing loads over calls.

Correct when each case gets a fresh instance (the default); with one shared instance its plans
depend on the calls before (what `--shared-instance` shows).
"""

import torch

from reference import balanced_packing as reference_packing
from reference import rebalance_experts as reference_rebalance


class SmoothingPolicy:
    def __init__(self) -> None:
        self.history: torch.Tensor | None = None

    def _smoothed(self, weight: torch.Tensor) -> torch.Tensor:
        loads = weight.double()
        if self.history is not None and self.history.shape == loads.shape:
            loads = 0.5 * self.history + 0.5 * loads
        self.history = loads
        return loads

    def balanced_packing(
        self, weight: torch.Tensor, num_packs: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return reference_packing(self._smoothed(weight).to(weight.dtype), num_packs)

    def rebalance_experts(
        self,
        weight: torch.Tensor,
        num_replicas: int,
        num_groups: int,
        num_nodes: int,
        num_gpus: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loads = self._smoothed(weight).to(weight.dtype)
        return reference_rebalance(loads, num_replicas, num_groups, num_nodes, num_gpus)

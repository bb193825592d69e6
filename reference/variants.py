"""Every reference variant as a candidate with DeepSeek's signatures.

The verifier treats these exactly like third-party candidates: each exposes `balanced_packing`,
`replicate_experts` and `rebalance_experts` with the standard positional arguments and a fixed
method choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reference.packing import balanced_packing
from reference.rebalance import rebalance_experts
from reference.replication import replicate_experts


@dataclass(frozen=True)
class ReferenceVariant:
    """The reference with one packing method and one replication path fixed."""

    name: str
    packing: str = "greedy"
    replication: str = "vectorized"
    seed: int = 0

    def eplb_prepare(self) -> None:
        """Compile the `fast` variant's kernels now (or load them from the on-disk cache), so
        that no first call pays for it; nothing to do for the other variants."""
        if self.packing == "fast":
            from reference.fast_kernels import compile_ahead

            compile_ahead()

    def balanced_packing(
        self, weight: torch.Tensor, num_packs: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return balanced_packing(weight, num_packs, method=self.packing, seed=self.seed)

    def replicate_experts(
        self, weight: torch.Tensor, num_phy: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return replicate_experts(weight, num_phy, method=self.replication)

    def rebalance_experts(
        self,
        weight: torch.Tensor,
        num_replicas: int,
        num_groups: int,
        num_nodes: int,
        num_gpus: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return rebalance_experts(
            weight,
            num_replicas,
            num_groups,
            num_nodes,
            num_gpus,
            packing=self.packing,
            replication=self.replication,
            seed=self.seed,
        )


VARIANTS: dict[str, ReferenceVariant] = {
    variant.name: variant
    for variant in (
        ReferenceVariant("greedy"),
        ReferenceVariant("swap", packing="swap"),
        ReferenceVariant("pool_split", packing="pool_split"),
        ReferenceVariant("heap", replication="heap"),
        ReferenceVariant("fast", packing="fast"),
    )
}
DEFAULT_VARIANT = "greedy"

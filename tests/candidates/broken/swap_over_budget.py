"""Bug (a required-old-placement vLLM-style policy): a layer its swaps leave more than 10% above
the mean GPU load is planned again from scratch, a fallback that forgets the move budget its
deployment declares (`--max-moves 4`): `migration.budget`. The policy itself is the fixture
`tests/candidates/apis/swap_policy.py`, loaded from its file."""

import torch
from _api_fixture import api_fixture

from reference import rebalance_experts as plan_from_scratch

_MODULE = api_fixture("swap_policy.py")


class OverBudgetSwapPolicy(_MODULE.SwapEplbPolicy):  # type: ignore[name-defined]
    @classmethod
    def rebalance_experts(
        cls,
        weight: torch.Tensor,
        num_replicas: int,
        num_groups: int,
        num_nodes: int,
        num_ranks: int,
        old_global_expert_indices: torch.Tensor | None = None,
    ) -> torch.Tensor:
        phy2log = super().rebalance_experts(
            weight, num_replicas, num_groups, num_nodes, num_ranks, old_global_expert_indices
        )
        fresh, _, _ = plan_from_scratch(
            weight.double().cpu(), num_replicas, num_groups, num_nodes, num_ranks
        )
        loads = weight.double().cpu()
        for layer in range(phy2log.shape[0]):
            per_replica = loads[layer] / torch.bincount(phy2log[layer], minlength=loads.shape[1])
            gpu = per_replica[phy2log[layer]].view(num_ranks, -1).sum(dim=-1)
            if gpu.max() > 1.1 * gpu.mean():
                phy2log[layer] = fresh[layer]
        return phy2log

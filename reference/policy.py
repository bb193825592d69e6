"""`FastEplbPolicy`: `reference:fast` as a vLLM policy class, a drop-in for vLLM's default.

vLLM's current policy contract (`vllm/distributed/eplb/policy/`): classmethods, and
`rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_ranks,
old_global_expert_indices=None)` returning `phy2log` `[layers, num_replicas]` (int64, on the host).
Hierarchical when the groups divide into the nodes, else global, as vLLM's default policy decides.

With an old placement (the current `phy2log`, same shape), each GPU's slots are reordered as
vLLM's `preserve_intragpu_slots` does: an expert that stays on a GPU keeps its old slot (as many
of them as the GPU keeps), and the incoming experts fill the freed slots in their planned order.
The GPUs' sets of experts are the plan made without it; only the slots within a GPU move, so
the transfers a rebalance needs are only the replicas that change GPU.
"""

from __future__ import annotations

import numpy as np
import torch

from reference.fast_kernels import jit
from reference.rebalance import rebalance_phy2log


class FastEplbPolicy:
    """The `fast` reference variant behind vLLM's policy interface (classmethods only)."""

    @classmethod
    def eplb_prepare(cls) -> None:
        """Compile the kernels now (or load them from the on-disk cache): a harness calls this
        once after loading the policy, so that no first planning call pays for it."""
        from reference.fast_kernels import compile_ahead

        compile_ahead()

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
        """`phy2log` `[layers, num_replicas]` of the loads `weight` `[layers, experts]` on
        `num_ranks` GPUs; with `old_global_expert_indices` (the current placement), experts that
        stay on a GPU keep their slots."""
        phy2log = rebalance_phy2log(
            weight.detach().cpu(), num_replicas, num_groups, num_nodes, num_ranks, packing="fast"
        )
        if old_global_expert_indices is None:
            return phy2log
        old = old_global_expert_indices.detach().cpu().to(torch.int64)
        return cls.preserve_intragpu_slots(phy2log, num_ranks, old)

    @classmethod
    def preserve_intragpu_slots(
        cls, phy2log: torch.Tensor, num_ranks: int, old_phy2log: torch.Tensor
    ) -> torch.Tensor:
        """Per GPU, the new experts reordered so that those already there keep their old slots.

        Left as planned when the old placement has another shape (the cluster changed)."""
        if old_phy2log.shape != phy2log.shape or phy2log.shape[1] % num_ranks:
            return phy2log
        new = np.ascontiguousarray(phy2log.numpy())
        old = np.ascontiguousarray(old_phy2log.numpy())
        out = np.empty_like(new)
        preserve_slots(new, old, phy2log.shape[1] // num_ranks, out)
        return torch.from_numpy(out)


@jit
def preserve_slots(new: np.ndarray, old: np.ndarray, per_gpu: int, out: np.ndarray) -> None:
    """vLLM's `preserve_intragpu_slots` (compiled when numba is present): per layer and GPU,
    each old slot in order keeps its expert when the GPU's new experts still hold an unused
    copy of it (the first one); the remaining new experts fill the remaining slots in order."""
    layers, num_slots = new.shape
    used = np.zeros(per_gpu, dtype=np.bool_)
    kept = np.zeros(per_gpu, dtype=np.bool_)
    for layer in range(layers):
        for start in range(0, num_slots, per_gpu):
            for i in range(per_gpu):
                used[i] = False
                kept[i] = False
            for slot in range(per_gpu):
                expert = old[layer, start + slot]
                for position in range(per_gpu):
                    if not used[position] and new[layer, start + position] == expert:
                        out[layer, start + slot] = expert
                        used[position] = True
                        kept[slot] = True
                        break
            position = 0
            for slot in range(per_gpu):
                if not kept[slot]:
                    while used[position]:
                        position += 1
                    out[layer, start + slot] = new[layer, start + position]
                    used[position] = True

"""Bug: relabels the packs at random (unseeded), so the same input gives different outputs."""

import torch

from reference import balanced_packing as reference_packing


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    pack_index, rank_in_pack = reference_packing(weight, num_packs)
    relabel = torch.randperm(num_packs, device=pack_index.device)
    return relabel[pack_index], rank_in_pack

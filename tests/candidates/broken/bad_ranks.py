"""Bug: every item gets rank 0 inside its pack."""

import torch

from reference import balanced_packing as reference_packing


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    pack_index, rank_in_pack = reference_packing(weight, num_packs)
    return pack_index, torch.zeros_like(rank_in_pack)

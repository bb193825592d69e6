"""Bug: returns float outputs with NaN where a layer has no load (0 / 0)."""

import torch

from reference import balanced_packing as reference_packing


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    pack_index, rank_in_pack = reference_packing(weight, num_packs)
    share = weight.double() / weight.double().sum(dim=-1, keepdim=True)
    scale = share * 0 + 1  # NaN on an all-zero layer
    return pack_index.double() * scale, rank_in_pack.double()

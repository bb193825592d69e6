"""Bug: returns its outputs on another device than the input's (here the 'meta' device)."""

import torch

from reference import balanced_packing as reference_packing


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    pack_index, rank_in_pack = reference_packing(weight, num_packs)
    return pack_index.to("meta"), rank_in_pack.to("meta")

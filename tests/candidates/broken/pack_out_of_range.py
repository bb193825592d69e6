"""Bug: numbers packs from 1 (pack indices 1..num_packs instead of 0..num_packs-1)."""

import torch

from reference import balanced_packing as reference_packing


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    pack_index, rank_in_pack = reference_packing(weight, num_packs)
    return pack_index + 1, rank_in_pack

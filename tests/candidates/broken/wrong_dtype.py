"""Bug: returns int32 outputs (the contract is int64)."""

import torch

from reference import balanced_packing as reference_packing


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    pack_index, rank_in_pack = reference_packing(weight, num_packs)
    return pack_index.to(torch.int32), rank_in_pack.to(torch.int32)

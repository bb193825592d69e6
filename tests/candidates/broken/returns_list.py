"""Bug: returns Python lists instead of tensors."""

from typing import Any

import torch

from reference import balanced_packing as reference_packing


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[Any, Any]:
    pack_index, rank_in_pack = reference_packing(weight, num_packs)
    return pack_index.tolist(), rank_in_pack.tolist()

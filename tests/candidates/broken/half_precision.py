"""Bug: a float32 "fast path" that rounds loads to float16, so float32 input packs differently."""

import torch

from reference import balanced_packing as reference_packing


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    if weight.dtype == torch.float32:
        weight = weight.half().float()
    return reference_packing(weight, num_packs)

"""Bug: casts loads to integers, so fractional loads are truncated (scaling then changes ties)."""

import torch

from reference import balanced_packing as reference_packing


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    return reference_packing(weight.to(torch.int64), num_packs)

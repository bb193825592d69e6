"""Bug: dereferences a null pointer (a segmentation fault, as a broken extension would)."""

import ctypes

import torch


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    ctypes.string_at(0)
    raise AssertionError("unreachable")

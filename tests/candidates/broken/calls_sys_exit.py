"""Bug: calls sys.exit() (SystemExit) instead of raising a ValueError."""

import sys

import torch


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    sys.exit("bad input")

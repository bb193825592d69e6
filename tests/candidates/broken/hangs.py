"""Bug: never returns."""

import time

import torch


def balanced_packing(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    while True:
        time.sleep(3600)

"""Bug: kills the interpreter (os._exit skips every handler)."""

import os

import torch


def replicate_experts(
    weight: torch.Tensor, num_phy: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    os._exit(3)

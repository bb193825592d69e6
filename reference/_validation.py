"""Argument checks shared by the reference functions: every bad input is a ValueError naming it."""

from __future__ import annotations

import math

import torch

# Integer loads are compared in float64; above 2^53 they would no longer be exact.
MAX_EXACT_INTEGER = 2**53
# Replica counts stay far below this so the exact ratio comparison keeps a wide safety margin.
MAX_SLOTS = 2**20


def check_weight(weight: object) -> torch.Tensor:
    """A 2-D tensor of finite, non-negative int or float loads."""
    if not isinstance(weight, torch.Tensor):
        raise ValueError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() != 2:
        raise ValueError(f"weight must be 2-D [layers, n], got shape {tuple(weight.shape)}")
    if weight.is_complex() or weight.dtype == torch.bool:
        raise ValueError(f"weight must hold real numbers, got dtype {weight.dtype}")
    if weight.numel() == 0:
        return weight
    # One reduction for the common, valid case (min and max both propagate NaN); the checks
    # that name the problem run only when it fails.
    low, high = torch.aminmax(weight)
    if weight.is_floating_point():
        if not (float(low) >= 0 and float(high) < math.inf):
            _reject_floats(weight)
    else:
        if int(low) < 0:
            raise ValueError("weight contains a negative load")
        if int(high) > MAX_EXACT_INTEGER:
            raise ValueError(
                f"weight: integer loads above 2^53 are not supported (max {int(high)})"
            )
    return weight


def _reject_floats(weight: torch.Tensor) -> None:
    """Name what is wrong with float loads whose min or max is NaN, infinite or negative."""
    if torch.isnan(weight).any():
        raise ValueError("weight contains NaN")
    if torch.isinf(weight).any():
        raise ValueError("weight contains an infinite value")
    raise ValueError("weight contains a negative load")


def check_int(value: object, name: str) -> int:
    """A Python int (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return value


def check_positive(value: object, name: str) -> int:
    """A positive Python int (bools rejected)."""
    value = check_int(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def check_divides(numerator: int, denominator: int, what: str) -> None:
    if numerator % denominator:
        raise ValueError(f"{what} ({numerator} is not divisible by {denominator})")


def check_method(method: object, name: str, known: tuple[str, ...]) -> str:
    if method not in known:
        raise ValueError(f"unknown {name} {method!r}; expected one of {list(known)}")
    return str(method)


def as_float64(weight: torch.Tensor) -> torch.Tensor:
    """Loads in float64: exact for every float32/float16 value and every integer up to 2^53."""
    return weight.to(torch.float64)

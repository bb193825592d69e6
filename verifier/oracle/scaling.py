"""Exact integer views of loads, so CP-SAT (an integer solver) never sees a rounded float.

Integers stay as they are. Rationals whose common denominator is small (floats such as 0.5 or
per-replica loads w/c) are scaled by that common denominator and stay exact. Anything else (a float
like 0.1 is the dyadic rational 3602879701896397/2^55) is scaled by a power of two S and rounded
*both ways*: the optimum of every problem here is monotone in each load, so

    OPT(floor(S*w)) / S  <=  OPT(w)  <=  OPT(ceil(S*w)) / S,

and a bound proven on the floored loads is a certified bound on the real ones. Nothing is rounded
silently: `ScaledLoads.exact` says whether the integers are the loads themselves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from verifier.model.objectives import exact

Load = int | float | Fraction

#: Precision of inexact scaling: the largest load becomes an integer of about this many bits.
DEFAULT_PRECISION_BITS = 20
#: Exact scaling is used while every scaled load stays below this (CP-SAT needs sums within int64).
EXACT_LIMIT = 2**40


@dataclass(frozen=True)
class ScaledLoads:
    """Integer loads `low` <= S*w <= `high` (equal, and exact, when `exact`)."""

    low: list[int]
    high: list[int]
    scale: Fraction
    exact: bool

    def unscale(self, value: int | Fraction) -> Fraction:
        """A value in scaled units back in load units (exactly)."""
        return Fraction(value) / self.scale


def exact_loads(values: Sequence[Load]) -> list[Fraction]:
    """Every load as an exact rational (ints, floats and Fractions alike)."""
    return [exact(v) for v in values]


def scale_loads(
    values: Sequence[Load],
    *,
    multiplier: int = 1,
    precision_bits: int = DEFAULT_PRECISION_BITS,
) -> ScaledLoads:
    """Integer loads for `values`, each also multiplied by `multiplier` (exact when possible).

    `multiplier` lets a caller ask for loads that stay integral after a later division (rebalance
    divides every expert load by its replica count, so it asks for a multiple of lcm(1..c_max)).
    """
    loads = exact_loads(values)
    denominator = math.lcm(1, *(load.denominator for load in loads))
    scale = Fraction(denominator * multiplier)
    peak = max(loads, default=Fraction(0))
    if peak * scale * max(1, len(loads)) < EXACT_LIMIT:
        scaled = [int(load * scale) for load in loads]
        return ScaledLoads(scaled, scaled, scale, True)
    exponent = precision_bits - (peak.numerator // peak.denominator).bit_length()
    scale = Fraction(2) ** exponent * multiplier
    low = [math.floor(load * scale) for load in loads]
    high = [math.ceil(load * scale) for load in loads]
    return ScaledLoads(low, high, scale, low == high)

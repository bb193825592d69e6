"""The values a candidate was actually given, and how many digits show a real difference.

Quality is judged on the dtype-rounded loads the candidate saw (float32 rounds most decimals and
every integer above 2^24), never on the Python numbers before rounding: otherwise a correct
candidate is charged with the rounding the harness itself did. A candidate handed float32 loads
may also compute in float32 (as vLLM and SGLang do), so an excess within float32's resolution is
rounding, not a quality loss; a candidate handed exact int64 or float64 loads gets no tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from verifier.model.instances import Number, float32

# Relative excess that arithmetic in the given dtype can produce (a few units in the last place).
ROUNDING_TOLERANCE: dict[str, Fraction] = {"float32": Fraction(1, 2**21)}
MAX_DIGITS = 17


def given_value(value: Number, dtype: str | None) -> Fraction:
    """The exact value of one load as the candidate received it in `dtype`."""
    if dtype == "float32":
        return Fraction(float32(float(value)))
    if dtype == "float64":
        return Fraction(float(value))
    return Fraction(value)


def given_loads(row: Sequence[Number], dtype: str | None) -> list[Fraction]:
    return [given_value(value, dtype) for value in row]


def within_rounding(excess: Fraction, dtype: str | None) -> bool:
    """True when a relative excess is no more than arithmetic in `dtype` explains."""
    return excess <= ROUNDING_TOLERANCE.get(dtype or "", Fraction(0))


def distinct_digits(left: Fraction, right: Fraction) -> tuple[str, str]:
    """Both numbers with the fewest significant digits (at least 6) that tell them apart."""
    for digits in range(6, MAX_DIGITS + 1):
        a, b = f"{float(left):.{digits}g}", f"{float(right):.{digits}g}"
        if a != b:
            return a, b
    return f"{left}", f"{right}"

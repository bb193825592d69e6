"""Cheap lower bounds that hold at any size (no search, a few passes over the sorted loads).

Every bound here is a theorem about *every* packing, so the largest of them is a certified lower
bound on the optimum; a heuristic's gap against it is an honest upper bound on its true gap. The
packing bounds work on integers (call them on scaled loads; see `scaling`).

Notation: loads sorted in decreasing order w[0] >= w[1] >= ... >= w[n-1], m packs of k = n/m items,
`smallest(j)` the sum of the j smallest loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from itertools import accumulate

from verifier.oracle.scaling import Load, scale_loads


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


class _SortedLoads:
    """Loads sorted in decreasing order, with O(1) sums of the j smallest."""

    def __init__(self, weights: Sequence[int]) -> None:
        self.w = sorted(weights, reverse=True)
        self.n = len(self.w)
        self._suffix = [0, *accumulate(reversed(self.w))]  # _suffix[j] = sum of j smallest

    def smallest(self, count: int) -> int:
        return self._suffix[max(0, count)]

    def top(self, count: int) -> int:
        return self._suffix[self.n] - self._suffix[self.n - count]


def _pigeonhole(s: _SortedLoads, m: int, k: int) -> int:
    """Of the j*m+1 largest items, some pack holds j+1: it weighs at least their j+1 smallest
    plus the k-j-1 smallest items of all."""
    best = 0
    for j in range(1, k):
        top = j * m + 1
        best = max(best, sum(s.w[top - j - 1 : top]) + s.smallest(k - j - 1))
    return best


def _spread(s: _SortedLoads, m: int, k: int) -> int:
    """The i+1 largest items either share a pack (two of them together) or sit in i+1 distinct packs
    whose (k-1)(i+1) companions come from the rest; the smaller of the two cases bounds the optimum.

    For k = 2 this is max_i w[i] + w[n-1-i], the optimum of pairing (so pairs are always proven).
    """
    if k < 2:
        return 0
    best = 0
    for i in range(1, m):
        companions = (k - 1) * (i + 1)
        shared = s.w[i] + s.w[i - 1] + s.smallest(k - 2)
        # the highest-ranked companion ranks at most n - companions and shares a top item's pack
        apart = s.w[i] + s.w[s.n - companions] + s.smallest(k - 2)
        apart = max(apart, ceil_div(s.top(i + 1) + s.smallest(companions), i + 1))
        best = max(best, min(shared, apart))
    return best


def packing_bounds(weights: Sequence[int], num_packs: int) -> dict[str, int]:
    """Every cheap lower bound on the best largest pack load, by name (integer loads)."""
    s = _SortedLoads(weights)
    if s.n == 0:
        return {"average": 0}
    k = s.n // num_packs
    return {
        "average": ceil_div(sum(s.w), num_packs),
        "largest_item": s.w[0],
        "cardinality": s.w[0] + s.smallest(k - 1),
        "pigeonhole": _pigeonhole(s, num_packs, k),
        "spread": _spread(s, num_packs, k),
    }


def packing_lower_bound(weights: Sequence[int], num_packs: int) -> int:
    """The best of the cheap packing bounds (integer loads)."""
    return max(packing_bounds(weights, num_packs).values())


def rational_packing_bound(loads: Sequence[Load], num_packs: int) -> Fraction:
    """The cheap packing bound for any loads: computed on the loads scaled to integers (rounded
    down when inexact, see `scaling`), so it stays certified for the real loads."""
    scaled = scale_loads(loads)
    return scaled.unscale(packing_lower_bound(scaled.low, num_packs))

"""Recursive bisection: find a packing with every load <= C by splitting the packs in halves.

To pack n items into m packs under a cap C, choose m1 = m // 2 packs' worth of items (exactly
k * m1 of them) whose sum lies in [total - (m - m1) C, m1 C] (so that both sides can still meet the
cap), with the sum as close as possible to the proportional share, then recurse on both sides; two
packs end in an exact two-way split. Near the lower bound most instances have many such packings,
so the first choices usually work (a few alternative sums and item orders are tried when a side
fails). It is a heuristic for finding the perfect packings that local search misses, not a proof:
failure says nothing. Every choice is deterministic and the number of tries is bounded.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from verifier.oracle.twoway import subset_in_window

#: Alternative subsets tried at each split before giving up on it.
TRIES_PER_SPLIT = 8


def _split(
    weights: Sequence[int], items: list[int], packs: int, size: int, cap: int
) -> list[list[int]] | None:
    if packs == 1:
        return [items] if sum(weights[i] for i in items) <= cap else None
    left_packs = packs // 2
    loads = [weights[i] for i in items]
    total = sum(loads)
    low, high = total - (packs - left_packs) * cap, left_packs * cap
    preferred = total * left_packs // packs
    for attempt in range(TRIES_PER_SPLIT):
        order = list(items)
        random.Random(attempt).shuffle(order)  # a different, reproducible subset each try
        chosen = subset_in_window(
            [weights[i] for i in order], size * left_packs, low, high, preferred, attempt
        )
        if chosen is None:
            return None
        left = [i for i, c in zip(order, chosen, strict=True) if c]
        right = [i for i, c in zip(order, chosen, strict=True) if not c]
        left_packing = _split(weights, left, left_packs, size, cap)
        if left_packing is None:
            continue
        right_packing = _split(weights, right, packs - left_packs, size, cap)
        if right_packing is not None:
            return left_packing + right_packing
    return None


def pack_under_cap(weights: Sequence[int], num_packs: int, cap: int) -> list[int] | None:
    """A packing (pack index per item) with every load <= `cap`, or None if none was found."""
    size = len(weights) // num_packs
    packing = _split(weights, list(range(len(weights))), num_packs, size, cap)
    if packing is None:
        return None
    assignment = [0] * len(weights)
    for pack, members in enumerate(packing):
        for item in members:
            assignment[item] = pack
    return assignment

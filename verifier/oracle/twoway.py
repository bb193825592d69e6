"""Exact two-way partition with a cardinality constraint, by dynamic programming over bitsets.

Choose exactly `size` of the items for side A so that max(sum A, sum B) is smallest. `reach[j]` is a
Python integer whose bit s is set when some j items sum to s; adding an item is one shift-or per
count. The table is pseudo-polynomial (items x size x total bits), so callers check `dp_cost` first.
This is exact for m = 2 and is the workhorse of the pairwise re-partitioning local search.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

#: Largest table (items * (size + 1) * (total + 1) bits) the DP may build: 32 MiB.
DP_BIT_LIMIT = 2**28
#: Most subsets enumerated instead of building a table.
ENUMERATION_LIMIT = 20_000
#: Most reachable sums of a window considered by `subset_in_window`.
WINDOW_SUMS = 4096
#: Most items split by meet-in-the-middle (2^(items/2) subsets per half).
MITM_ITEMS = 30


@dataclass(frozen=True)
class TwoWaySplit:
    """The best split: its larger side's load and which items go to side A."""

    larger_side: int
    in_a: list[bool]


def dp_cost(weights: Sequence[int], size: int) -> int:
    """Bits the DP table for these items would hold."""
    return len(weights) * (size + 1) * (sum(weights) + 1)


def can_split(weights: Sequence[int], size: int) -> bool:
    """Whether `best_two_way_split` stays within its work limits for these items."""
    return (
        math.comb(len(weights), size) <= ENUMERATION_LIMIT
        or dp_cost(weights, size) <= DP_BIT_LIMIT
        or len(weights) <= MITM_ITEMS
    )


def _best_sum(reachable: int, total: int) -> int:
    """The reachable sum s minimising max(s, total - s)."""
    half_up = -(-total // 2)
    above = reachable >> half_up
    candidates = []
    if above:
        candidates.append(half_up + ((above & -above).bit_length() - 1))
    below = reachable & ((1 << (total // 2 + 1)) - 1)
    if below:
        candidates.append(below.bit_length() - 1)
    return min(candidates, key=lambda s: max(s, total - s))


def _enumerate_split(weights: Sequence[int], size: int) -> TwoWaySplit:
    total = sum(weights)
    best: tuple[int, tuple[int, ...]] | None = None
    for chosen in combinations(range(len(weights)), size):
        side_a = sum(weights[i] for i in chosen)
        larger = max(side_a, total - side_a)
        if best is None or larger < best[0]:
            best = (larger, chosen)
    assert best is not None  # combinations always yields at least the empty choice
    picked = set(best[1])
    return TwoWaySplit(best[0], [i in picked for i in range(len(weights))])


def best_two_way_split(weights: Sequence[int], size: int) -> TwoWaySplit:
    """An optimal split of `weights` into `size` items (side A) and the rest (side B)."""
    if not 0 <= size <= len(weights):
        raise ValueError(f"size must be in [0, {len(weights)}], got {size}")
    if math.comb(len(weights), size) <= ENUMERATION_LIMIT:
        return _enumerate_split(weights, size)
    if dp_cost(weights, size) <= DP_BIT_LIMIT:
        return _dp_split(weights, size)
    return _meet_in_the_middle_split(weights, size)


def _subset_sums(weights: Sequence[int]) -> dict[int, list[tuple[int, int]]]:
    """Every subset of `weights` as (sum, bitmask), grouped by its size and sorted by sum."""
    by_count: dict[int, list[tuple[int, int]]] = {}
    for mask in range(1 << len(weights)):
        total = sum(w for i, w in enumerate(weights) if mask >> i & 1)
        by_count.setdefault(mask.bit_count(), []).append((total, mask))
    for subsets in by_count.values():
        subsets.sort()
    return by_count


def _meet_in_the_middle_split(weights: Sequence[int], size: int) -> TwoWaySplit:
    total = sum(weights)
    half = len(weights) // 2
    left, right = _subset_sums(weights[:half]), _subset_sums(weights[half:])
    best: tuple[int, int, int] | None = None  # (larger side, left mask, right mask)
    for count, left_subsets in left.items():
        right_subsets = right.get(size - count)
        if not right_subsets:
            continue
        right_sums = [s for s, _ in right_subsets]
        for left_sum, left_mask in left_subsets:
            at = bisect.bisect_left(right_sums, -(-total // 2) - left_sum)
            for j in (at - 1, at):
                if 0 <= j < len(right_subsets):
                    side_a = left_sum + right_subsets[j][0]
                    candidate = (max(side_a, total - side_a), left_mask, right_subsets[j][1])
                    if best is None or candidate < best:
                        best = candidate
    assert best is not None  # some count split always exists for 0 <= size <= len(weights)
    larger, left_mask, right_mask = best
    mask = left_mask | right_mask << half
    return TwoWaySplit(larger, [bool(mask >> i & 1) for i in range(len(weights))])


def _reach_table(
    weights: Sequence[int], size: int, ceiling: int | None = None
) -> tuple[list[list[int]], int]:
    """The DP table: for each item, the reachable-sum bitsets per count before it; and the final
    bitset of sums reachable with exactly `size` items (sums above `ceiling` dropped)."""
    mask = -1 if ceiling is None else (1 << (ceiling + 1)) - 1
    reach = [1] + [0] * size
    history: list[list[int]] = []
    for index, weight in enumerate(weights):
        history.append(reach.copy())
        for count in range(min(index + 1, size), 0, -1):
            reach[count] |= (reach[count - 1] << weight) & mask
    return history, reach[size]


def _reconstruct(
    weights: Sequence[int], history: list[list[int]], size: int, target: int
) -> list[bool]:
    """Which items make up a reachable `target` with exactly `size` items."""
    in_a = [False] * len(weights)
    remaining, count = target, size
    for index in range(len(weights) - 1, -1, -1):
        if count and not (history[index][count] >> remaining) & 1:
            in_a[index] = True
            remaining -= weights[index]
            count -= 1
    return in_a


def _dp_split(weights: Sequence[int], size: int) -> TwoWaySplit:
    total = sum(weights)
    history, reachable = _reach_table(weights, size)
    target = _best_sum(reachable, total)
    return TwoWaySplit(max(target, total - target), _reconstruct(weights, history, size, target))


def subset_in_window(
    weights: Sequence[int], size: int, low: int, high: int, preferred: int, rank: int = 0
) -> list[bool] | None:
    """Exactly `size` items whose sum lies in [low, high], the sum being the `rank`-th closest to
    `preferred` among those reachable; None when no sum in the window is reachable (or the table
    would be too large)."""
    if high < max(low, 0) or len(weights) * (size + 1) * (high + 1) > DP_BIT_LIMIT:
        return None
    history, reachable = _reach_table(weights, size, ceiling=high)
    window = reachable >> max(low, 0)
    sums: list[int] = []
    while window and len(sums) < WINDOW_SUMS:
        lowest = window & -window
        sums.append(max(low, 0) + lowest.bit_length() - 1)
        window ^= lowest
    if not sums:
        return None
    sums.sort(key=lambda s: (abs(s - preferred), s))
    return _reconstruct(weights, history, size, sums[min(rank, len(sums) - 1)])

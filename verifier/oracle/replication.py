"""The exact replication optimum, found by search over candidate values, not by the greedy rule.

min over replica counts c (every c_e >= 1, sum c_e = P) of max_e w_e / c_e.

A value t is achievable exactly when sum_e max(1, ceil(w_e / t)) <= P, and achievability is
monotone in t, so the optimum is the smallest achievable *candidate* w_e / c. We bisect on exact
rationals between total/P (nothing below is achievable) and max w (always achievable); every
achievable midpoint is snapped down to the value its counts actually attain, and once few candidates
remain between the ends they are listed and bisected directly. This never adds replicas one at a
time the way the greedy does, so it checks that rule instead of restating it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

#: Candidates per expert (on average) below which they are listed rather than bisected.
LISTING_THRESHOLD = 4


def counts_for(weights: Sequence[Fraction], value: Fraction) -> list[int]:
    """Fewest replicas per expert so that no replica carries more than `value` (value > 0)."""
    return [max(1, math.ceil(w / value)) for w in weights]


def _achievable(weights: Sequence[Fraction], num_phy: int, value: Fraction) -> bool:
    return sum(counts_for(weights, value)) <= num_phy


def _attained(weights: Sequence[Fraction], counts: Sequence[int]) -> Fraction:
    return max(w / c for w, c in zip(weights, counts, strict=True))


def _candidates_between(
    weights: Sequence[Fraction], low: Fraction, high: Fraction
) -> list[Fraction]:
    """Every w / c with low <= w / c < high (c >= 1), sorted."""
    found = set()
    for w in weights:
        if w == 0:
            continue
        for count in range(math.floor(w / high) + 1, math.floor(w / low) + 1):
            found.add(w / count)
    return sorted(v for v in found if low <= v < high)


def _count_between(weights: Sequence[Fraction], low: Fraction, high: Fraction) -> int:
    return sum(math.floor(w / low) - math.floor(w / high) for w in weights)


def optimal_max_per_replica(weights: Sequence[Fraction], num_phy: int) -> Fraction:
    """The smallest achievable largest load per replica."""
    if num_phy < len(weights):
        raise ValueError(f"num_phy ({num_phy}) < number of experts ({len(weights)})")
    total = sum(weights, Fraction(0))
    if total == 0:
        return Fraction(0)
    low = total / num_phy  # every value below is unachievable: sum ceil(w/t) >= total/t > num_phy
    high = max(weights)  # achievable with one replica each
    limit = LISTING_THRESHOLD * len(weights) + 16
    while _count_between(weights, low, high) > limit:
        middle = (low + high) / 2
        if _achievable(weights, num_phy, middle):
            high = _attained(weights, counts_for(weights, middle))
        else:
            low = middle
    candidates = [*_candidates_between(weights, low, high), high]
    first, last = 0, len(candidates) - 1  # candidates[last] is achievable
    while first < last:
        pick = (first + last) // 2
        if _achievable(weights, num_phy, candidates[pick]):
            last = pick
        else:
            first = pick + 1
    return candidates[last]


def optimal_counts(weights: Sequence[Fraction], num_phy: int) -> list[int]:
    """Replica counts attaining the optimum (spare slots go to the most loaded replicas first)."""
    best = optimal_max_per_replica(weights, num_phy)
    counts = counts_for(weights, best) if best > 0 else [1] * len(weights)
    for _ in range(num_phy - sum(counts)):
        busiest = max(range(len(weights)), key=lambda e: (weights[e] / counts[e], -e))
        counts[busiest] += 1
    return counts

"""The oracle's own upper bounds: a cardinality-aware LPT and a pairwise re-partitioning search.

These give CP-SAT a good starting solution and, often, the optimum outright (when they meet a lower
bound). They are written here on purpose rather than borrowed from the reference: the oracle must
not trust the code it checks. Everything is deterministic and bounded by step counts, not by a
clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from verifier.oracle.twoway import best_two_way_split, can_split


def pack_loads_int(weights: Sequence[int], assignment: Sequence[int], num_packs: int) -> list[int]:
    loads = [0] * num_packs
    for weight, pack in zip(weights, assignment, strict=True):
        loads[pack] += weight
    return loads


def lpt_cardinality(weights: Sequence[int], num_packs: int) -> list[int]:
    """Largest item first into the lightest pack that still has a free slot (ties: lowest pack)."""
    capacity = len(weights) // num_packs
    order = sorted(range(len(weights)), key=lambda i: (-weights[i], i))
    loads = [0] * num_packs
    sizes = [0] * num_packs
    assignment = [0] * len(weights)
    for item in order:
        pack = min((p for p in range(num_packs) if sizes[p] < capacity), key=lambda p: loads[p])
        assignment[item] = pack
        loads[pack] += weights[item]
        sizes[pack] += 1
    return assignment


def _repartition(
    weights: Sequence[int], assignment: list[int], heavy: int, other: int, capacity: int
) -> int | None:
    """Re-split packs `heavy` and `other` optimally; apply it and return the new larger load if it
    beats the heavy pack's load, else leave the assignment alone and return None."""
    members = [i for i, p in enumerate(assignment) if p in (heavy, other)]
    loads = [weights[i] for i in members]
    if not can_split(loads, capacity):
        return None
    split = best_two_way_split(loads, capacity)
    if split.larger_side >= sum(loads[j] for j, i in enumerate(members) if assignment[i] == heavy):
        return None
    for item, in_a in zip(members, split.in_a, strict=True):
        assignment[item] = heavy if in_a else other
    return split.larger_side


def improve_by_pairs(
    weights: Sequence[int],
    assignment: Sequence[int],
    num_packs: int,
    *,
    target: int,
    max_steps: int = 2000,
) -> list[int]:
    """Repeatedly re-split the heaviest pack with a lighter one (exact two-way DP) until the largest
    load reaches `target` (a lower bound), no pair improves, or `max_steps` re-splits are spent.

    Each accepted step lowers the sorted load vector lexicographically, so the search terminates.
    """
    result = list(assignment)
    capacity = len(weights) // num_packs if num_packs else 0
    steps = 0
    while steps < max_steps and num_packs > 1:
        loads = pack_loads_int(weights, result, num_packs)
        peak = max(loads)
        if peak <= target:
            break
        heavy = loads.index(peak)
        improved = False
        for other in sorted(range(num_packs), key=lambda p: (loads[p], p)):
            if other == heavy:
                continue
            steps += 1
            if _repartition(weights, result, heavy, other, capacity) is not None:
                improved = True
                break
            if steps >= max_steps:
                break
        if not improved:
            break
    return result

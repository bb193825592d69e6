"""Balanced packing: n weighted items into m packs of exactly n/m items each, as even as possible.

Every method is batched over layers (rows), so one call packs all layers of a model at once; the
only Python loop is over items (greedy) or refinement steps, never over layers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from reference._validation import (
    as_float64,
    check_divides,
    check_int,
    check_method,
    check_positive,
    check_weight,
)
from reference.fast import fast_packing

PACKING_METHODS = ("greedy", "swap", "pool_split", "fast")
NUM_STARTS = 8  # start 0 is the plain greedy; the rest run it on perturbed loads
PERTURBATION = 0.1  # multiplicative factors are drawn from [1 - p, 1 + p]
MAX_REFINE_STEPS = 64  # iteration cap of the swap and pool-split refinements

Packing = tuple[torch.Tensor, torch.Tensor]
Refinement = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]
Step = Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


def balanced_packing(
    weight: torch.Tensor, num_packs: int, *, method: str = "greedy", seed: int = 0
) -> Packing:
    """Pack each layer's items into `num_packs` packs of equal size.

    Returns `(pack_index, rank_in_pack)`, both `[layers, n]` int64 on `weight`'s device.
    `method` is "greedy" (DeepSeek's, with fully deterministic tie-breaking), "swap" or
    "pool_split" (multi-start greedy plus a local refinement; `seed` drives the perturbations).
    """
    weight = check_weight(weight)
    check_positive(num_packs, "num_packs")
    check_method(method, "method", PACKING_METHODS)
    check_int(seed, "seed")
    check_divides(weight.shape[1], num_packs, "weight: items per layer must divide into num_packs")
    return pack(as_float64(weight), num_packs, method, seed)


def pack(loads: torch.Tensor, num_packs: int, method: str, seed: int) -> Packing:
    """`balanced_packing` on already validated float64 loads (used inside `rebalance_experts`)."""
    if method == "greedy" or loads.numel() == 0:
        return greedy_packing(loads, num_packs)
    if method == "fast":
        return fast_packing(loads, num_packs)
    refine = refine_by_swaps if method == "swap" else refine_by_pool_split
    return multistart_packing(loads, num_packs, refine, seed)


def greedy_packing(loads: torch.Tensor, num_packs: int) -> Packing:
    """Heaviest item first, each into the lightest pack with room.

    Items tie by lower index (stable sort), packs by lower index (argmin returns the first
    minimum), so the result is the same on every device and torch version. The loop body is a
    handful of batched ops over all rows; full packs are masked with +inf.
    """
    rows, n = loads.shape
    capacity = n // num_packs
    device = loads.device
    order = torch.sort(loads, dim=1, descending=True, stable=True).indices
    columns = loads.gather(1, order).unsqueeze(2).unbind(1)
    open_load = torch.zeros(rows, num_packs, dtype=loads.dtype, device=device)
    pack_count = torch.zeros(rows, num_packs, dtype=torch.int64, device=device)
    one = torch.ones(rows, 1, dtype=torch.int64, device=device)
    choices, ranks = [order.new_empty(rows, 0)], [order.new_empty(rows, 0)]
    for step, column in enumerate(columns):
        chosen = open_load.argmin(dim=1, keepdim=True)
        choices.append(chosen)
        ranks.append(pack_count.gather(1, chosen))
        open_load.scatter_add_(1, chosen, column)
        pack_count.scatter_add_(1, chosen, one)
        if step + 1 >= capacity:  # no pack can be full before then
            open_load.masked_fill_(pack_count == capacity, float("inf"))
    sorted_pack, sorted_rank = torch.cat(choices, dim=1), torch.cat(ranks, dim=1)
    pack_index = torch.empty_like(sorted_pack).scatter_(1, order, sorted_pack)
    rank_in_pack = torch.empty_like(sorted_rank).scatter_(1, order, sorted_rank)
    return pack_index, rank_in_pack


def multistart_packing(
    loads: torch.Tensor, num_packs: int, refine: Refinement, seed: int
) -> Packing:
    """Greedy from several starts (0: true loads, others: perturbed), refine each, keep the best.

    The best start of a layer has the smallest max-min spread of pack loads (ties: the smaller
    maximum, then the lower start). Perturbations come from a CPU generator seeded with `seed`,
    so every device sees the same starts; they are drawn per item index and shared by every row,
    so a layer's plan depends on its own loads only, never on the other layers of the batch.
    """
    rows, n = loads.shape
    generator = torch.Generator().manual_seed(seed)
    factors = torch.empty(NUM_STARTS - 1, 1, n, dtype=torch.float64, device="cpu")
    factors.uniform_(1 - PERTURBATION, 1 + PERTURBATION, generator=generator)
    perturbed = loads.unsqueeze(0) * factors.to(loads.device)
    start_loads = torch.cat([loads.unsqueeze(0), perturbed]).reshape(NUM_STARTS * rows, n)
    pack_index, rank_in_pack = greedy_packing(start_loads, num_packs)
    true_loads = loads.repeat(NUM_STARTS, 1)
    members = refine(true_loads, to_members(pack_index, rank_in_pack, num_packs), num_packs)
    _, pack_load = item_and_pack_loads(true_loads, members, num_packs)
    best = best_start(pack_load.view(NUM_STARTS, rows, num_packs))
    chosen = members.view(NUM_STARTS, rows, n)[best, torch.arange(rows, device=loads.device)]
    return from_members(chosen, num_packs)


def best_start(pack_load: torch.Tensor) -> torch.Tensor:
    """Per layer, the start with the smallest spread, then smallest maximum, then lowest index."""
    peak = pack_load.max(dim=-1).values
    spread = peak - pack_load.min(dim=-1).values
    tied = spread == spread.min(dim=0, keepdim=True).values
    return torch.where(tied, peak, torch.full_like(peak, float("inf"))).argmin(dim=0)


def to_members(
    pack_index: torch.Tensor, rank_in_pack: torch.Tensor, num_packs: int
) -> torch.Tensor:
    """`members[row, p * k + r]` is the item at rank r of pack p (k items per pack)."""
    rows, n = pack_index.shape
    slots = pack_index * (n // num_packs) + rank_in_pack
    items = torch.arange(n, device=pack_index.device).expand(rows, n)
    return torch.empty_like(pack_index).scatter_(1, slots, items)


def from_members(members: torch.Tensor, num_packs: int) -> Packing:
    """The inverse of `to_members`: each item's pack and rank."""
    rows, n = members.shape
    slots = torch.arange(n, device=members.device).expand(rows, n)
    capacity = n // num_packs
    pack_index = torch.empty_like(members).scatter_(1, members, slots // capacity)
    rank_in_pack = torch.empty_like(members).scatter_(1, members, slots % capacity)
    return pack_index, rank_in_pack


def item_and_pack_loads(
    loads: torch.Tensor, members: torch.Tensor, num_packs: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loads by slot `[rows, packs, k]` and the pack loads `[rows, packs]` of a members layout."""
    item_load = loads.gather(1, members).view(members.shape[0], num_packs, -1)
    return item_load, item_load.sum(-1)


def _refine(loads: torch.Tensor, members: torch.Tensor, num_packs: int, step: Step) -> torch.Tensor:
    """Apply a local-search `step` to every row until it stops moving or the step cap.

    A row whose step made no move is finished for good (its state no longer changes), so each
    round only works on the rows still moving.
    """
    members = members.clone()
    active = torch.arange(members.shape[0], device=members.device)
    for _ in range(MAX_REFINE_STEPS):
        if active.numel() == 0:
            break
        moved_members, moved = step(members[active], loads[active], num_packs)
        members[active] = moved_members
        active = active[moved]
    return members


def refine_by_swaps(loads: torch.Tensor, members: torch.Tensor, num_packs: int) -> torch.Tensor:
    """Pairwise-swap refinement of every row, until no improving swap or the step cap.

    Take the heaviest pack; against the other packs, lightest first, find the pair (u from the
    heaviest, v from the other) with 0 < w_u - w_v < (load difference) whose difference is closest
    to half the load difference, and swap it. Each swap strictly lowers the sum of squared pack
    loads and never raises the maximum, so the loop terminates.
    """
    return _refine(loads, members, num_packs, _best_swap)


def _best_swap(
    members: torch.Tensor, loads: torch.Tensor, num_packs: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One swap step for a batch of rows; returns the new members and which rows swapped."""
    item_load, pack_load = item_and_pack_loads(loads, members, num_packs)
    rows, _, capacity = item_load.shape
    row_ids = torch.arange(rows, device=members.device)
    heavy = pack_load.argmax(dim=1)
    difference = pack_load[row_ids, heavy].unsqueeze(1) - pack_load  # [rows, packs]
    heavy_items = item_load[row_ids, heavy]  # [rows, k]
    delta = heavy_items[:, None, :, None] - item_load[:, :, None, :]  # [rows, packs, k_u, k_v]
    limit = difference[:, :, None, None]
    valid = (delta > 0) & (delta < limit)
    score = torch.where(valid, (delta - limit / 2).abs(), torch.full_like(delta, float("inf")))
    pack_score, pair = score.view(rows, num_packs, capacity * capacity).min(dim=-1)
    lightest_first = torch.sort(pack_load, dim=1, stable=True).indices
    has_pair = torch.isfinite(pack_score).gather(1, lightest_first)
    found = has_pair.any(dim=1)
    target = lightest_first[row_ids, has_pair.to(torch.int8).argmax(dim=1)]
    best_pair = pair[row_ids, target]
    slot_u = heavy * capacity + best_pair // capacity
    slot_v = target * capacity + best_pair % capacity
    members = members.clone()
    rows_found = row_ids[found]
    item_u = members[rows_found, slot_u[found]]
    members[rows_found, slot_u[found]] = members[rows_found, slot_v[found]]
    members[rows_found, slot_v[found]] = item_u
    return members, found


def refine_by_pool_split(
    loads: torch.Tensor, members: torch.Tensor, num_packs: int
) -> torch.Tensor:
    """Pool-and-split refinement of every row, until the first unhelpful move or the step cap.

    Pool the items of the heaviest and the lightest pack, deal them heaviest first greedily back
    into two packs of equal size; keep the move only if it lowers the larger of the two loads, or
    keeps it and lowers their spread.
    """
    return _refine(loads, members, num_packs, _pool_split_step)


def _pool_split_step(
    members: torch.Tensor, loads: torch.Tensor, num_packs: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One pool-and-split move for a batch of rows; returns new members and which rows improved."""
    _, pack_load = item_and_pack_loads(loads, members, num_packs)
    rows = members.shape[0]
    capacity = members.shape[1] // num_packs
    device = members.device
    row_ids = torch.arange(rows, device=device)
    heavy = pack_load.argmax(dim=1)
    light = pack_load.argmin(dim=1)
    offsets = torch.arange(capacity, device=device)
    pooled_slots = torch.cat([heavy[:, None] * capacity, light[:, None] * capacity], dim=1)
    pooled_slots = (pooled_slots[:, :, None] + offsets).view(rows, 2 * capacity)
    pooled_items = members.gather(1, pooled_slots)
    pooled_loads = loads.gather(1, pooled_items)
    # Dealing heaviest first into the lighter of two packs is the greedy itself with two packs.
    side, rank = greedy_packing(pooled_loads, 2)
    side_load = pack_load.new_zeros(rows, 2).scatter_add_(1, side, pooled_loads)
    old_max = pack_load[row_ids, heavy]
    old_spread = old_max - pack_load[row_ids, light]
    new_max = side_load.max(dim=1).values
    new_spread = (side_load[:, 0] - side_load[:, 1]).abs()
    improved = (new_max < old_max) | ((new_max == old_max) & (new_spread < old_spread))
    improved &= heavy != light
    target_pack = torch.where(side == 0, heavy[:, None], light[:, None])
    new_slots = target_pack * capacity + rank
    members = members.clone()
    rows_improved = row_ids[improved]
    members[rows_improved] = members[rows_improved].scatter(
        1, new_slots[improved], pooled_items[improved]
    )
    return members, improved

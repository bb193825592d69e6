"""The `fast` variant: deal sorted items to packs in rounds, then swap out of each layer's heaviest
pack; replica counts by threshold selection (`reference.replica_counts`).

No per-item Python loop:

1. Deal: order the items heaviest first. Block 0 (the m heaviest) opens one pack per item; every
   later round gives each pack exactly one more item, the heaviest of the round's items to the
   lightest pack (ties: the pack that was lighter before; one small sort of the m pack loads per
   round, kept in load order so the sort sees an almost sorted row), so every pack ends with exactly
   k = n / m items. Two schedules run side by side, batched: *forward* (round r takes the next m
   items) and *two-ended* (round r takes the next m/2 heaviest and the m/2 lightest left, so
   heavy packs receive small items, as the greedy does); each row keeps the one with the smaller
   maximum (ties: forward).
2. Refine the maximum: per layer, find the heaviest pack (over all the layer's rows: every GPU of
   every node when packing replicas hierarchically); in its row, the T = max(1, m / 8) heaviest
   packs each pair with their own set of the row's lightest packs (heavy t with the lightest
   packs t, t + T, t + 2T, ...; at most `SWAP_PAIRS` pairs per layer, at least one per heavy
   pack), and for every pair the single swap of one item each that minimises the pair's new
   maximum is applied when that maximum ends below the heavy pack's load. The pairs are
   disjoint, so every layer makes up to T swaps per round, all layers at once, until the
   heaviest pack of no layer improves, every layer is within `NEAR_OPTIMAL` of its lower bound
   (its heaviest row's mean pack load, or its largest item), or after `MAX_SWAP_ROUNDS / T^2`
   rounds (at least one). A round with T heavy packs makes T swaps and scores about T times
   as many candidates, so T > 1 (32 GPUs in one row: T = 4, one round) buys its balance in
   far fewer ops; one heavy pack per round (T = 1) needs the rounds one after another (Zipf
   loads in a node use all 8). The maximum never rises. With at most two items per pack the
   deal is already optimal (sorted pairing) and the refinement is skipped.

Device-agnostic: every decision is an exact comparison of values computed by the same
elementwise IEEE operations on every device; sorts are stable, min/max/argmin take the first
extreme, and the only scatter-adds hit distinct indices (or add zeros), so CPU and CUDA give the
same plan.
"""

from __future__ import annotations

import functools

import torch

from reference.replica_counts import greedy_counts

MAX_SWAP_ROUNDS = 8  # refinement rounds with one heavy pack each; MAX / T^2 with T heavy packs
SWAP_PAIRS = 12  # (heavy, light) pack pairs a round compares per layer, at most
SWAP_CANDIDATES = 1024  # and at most about this many (heavy item, light item) swaps per layer
HEAVY_SHARE = 8  # a round works on num_packs // HEAVY_SHARE heavy packs (at least 1) per layer
NEAR_OPTIMAL = 2.0**-14  # a layer within this relative distance of its lower bound stops

Packing = tuple[torch.Tensor, torch.Tensor]


def fast_packing(loads: torch.Tensor, num_packs: int) -> Packing:
    """`(pack_index, rank_in_pack)` of validated float64 `loads` `[rows, n]` into `num_packs`."""
    rows, n = loads.shape
    capacity = n // num_packs
    order = torch.sort(loads, dim=1, descending=True, stable=True).indices
    item = order.gather(1, pack_sorted(loads.gather(1, order), num_packs, 1))
    slots = torch.arange(n, device=loads.device).expand(rows, n)
    pack_index = torch.empty_like(order).scatter_(1, item, slots // capacity)
    rank_in_pack = torch.empty_like(order).scatter_(1, item, slots % capacity)
    return pack_index, rank_in_pack


def place_replicas(
    loads: torch.Tensor, num_slots: int, num_packs: int, rows_per_layer: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Replicate each row's experts into `num_slots` slots and pack the replicas (load w/c).

    The counts are the greedy's (`greedy_counts`). Replicas are laid out already sorted by load
    (experts by w/c, each repeated c times), so no second sort is needed. Returns
    `(expert of each slot, replica rank of each slot, counts)`, slots in pack-major order.
    """
    rows = loads.shape[0]
    counts = greedy_counts(loads, num_slots)
    per_replica = loads / counts + 0.0  # adding 0.0 turns -0.0 into +0.0
    order = torch.sort(unique_sort_key(per_replica), dim=1, descending=True).indices
    sorted_counts = counts.gather(1, order)
    run_end = sorted_counts.cumsum(1)
    # Slot s belongs to the run (expert in sorted order) of the number of runs ending at or
    # before s: one scatter of the run ends (distinct, since counts >= 1) and one cumsum.
    ends = torch.zeros(rows, num_slots + 1, dtype=torch.int64, device=loads.device)
    run_of_slot = ends.scatter_(1, run_end, 1)[:, :num_slots].cumsum(1)
    replica_expert = order.gather(1, run_of_slot)
    run_start = (run_end - sorted_counts).gather(1, run_of_slot)
    replica_rank = torch.arange(num_slots, device=loads.device) - run_start
    slot_item = pack_sorted(per_replica.gather(1, replica_expert), num_packs, rows_per_layer)
    return replica_expert.gather(1, slot_item), replica_rank.gather(1, slot_item), counts


def unique_sort_key(values: torch.Tensor) -> torch.Tensor:
    """int64 keys `[rows, n]` that order non-negative float64 `values` (no -0.0) descending by
    value, then ascending by column, and are all distinct.

    A non-negative float64 orders like its bit pattern read as int64; the low b = bits(n - 1)
    bits are replaced by n' - 1 - column (n' = 2^b), so values within 2^(b - 52) relative of
    each other order by column. Distinct keys have one sorted order, so torch's unstable sort
    (faster than the stable one) gives the same result on every device.
    """
    column_bits = max(1, (values.shape[1] - 1).bit_length())
    low = (1 << column_bits) - 1
    column = torch.arange(values.shape[1], device=values.device)
    return (values.view(torch.int64) & ~low) | (low - column)


def pack_sorted(sorted_loads: torch.Tensor, num_packs: int, rows_per_layer: int) -> torch.Tensor:
    """Deal and refine items already sorted heaviest first.

    Returns `slot_item [rows, n]`: the sorted position of the item at rank r of pack p is at
    slot p * (n / num_packs) + r. Consecutive runs of `rows_per_layer` rows form one layer
    whose objective is its heaviest pack over all its rows.
    """
    rows, n = sorted_loads.shape
    if rows == 0 or n == 0:
        return torch.zeros(rows, n, dtype=torch.int64, device=sorted_loads.device)
    capacity = n // num_packs
    if capacity <= 2 or num_packs == 1:
        return deal_in_rounds(sorted_loads, num_packs)[0]
    schedule = two_ended_schedule(n, num_packs, sorted_loads.device)
    both = torch.cat([sorted_loads, sorted_loads.index_select(1, schedule)])
    slot_position, pack_load = deal_in_rounds(both, num_packs)
    slot_position[rows:] = schedule[slot_position[rows:]]
    peaks = pack_load.max(dim=1).values
    second = (peaks[rows:] < peaks[:rows]).unsqueeze(1)
    slot_item = torch.where(second, slot_position[rows:], slot_position[:rows])
    pack_load = torch.where(second, pack_load[rows:], pack_load[:rows])
    return refine_heaviest(sorted_loads.gather(1, slot_item), slot_item, pack_load, rows_per_layer)


def two_ended_schedule(n: int, num_packs: int, device: torch.device) -> torch.Tensor:
    """Sorted positions in dealing order: the m heaviest, then per round the next m/2 heaviest
    and the m - m/2 lightest left (lightest last, so the heaviest pack gets the lightest)."""
    return _two_ended_schedule(n, num_packs).to(device)


@functools.cache
def _two_ended_schedule(n: int, num_packs: int) -> torch.Tensor:
    front = (num_packs + 1) // 2
    back = num_packs - front
    rounds = n // num_packs - 1
    fronts = num_packs + torch.arange(rounds * front).view(rounds, front)
    backs = n - (torch.arange(rounds).view(rounds, 1) + 1) * back + torch.arange(back)
    return torch.cat([torch.arange(num_packs), torch.cat([fronts, backs], dim=1).flatten()])


def deal_in_rounds(sorted_loads: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deal consecutive blocks of `num_packs` items, heaviest item of a block to lightest pack.

    Returns `slot_item [rows, n]` (position of the item at slot p * k + r) and the pack loads.
    The packs are kept in ascending load order (ties: the order they already had), so a round
    is one add, one sort of an almost sorted row and one gather; pack p opens with item p, and
    the slots are written once at the end.
    """
    rows, n = sorted_loads.shape
    capacity = n // num_packs
    device = sorted_loads.device
    blocks = sorted_loads.view(rows, capacity, num_packs)
    ascending = blocks[:, 0].flip(1)  # pack loads, lightest first
    pack_at = torch.arange(num_packs - 1, -1, -1, device=device).expand(rows, num_packs)
    lightest_first = sorted_loads.new_empty(rows, capacity, num_packs, dtype=torch.int64)
    lightest_first[:, 0] = torch.arange(num_packs, device=device)
    for block in range(1, capacity):
        lightest_first[:, block] = pack_at
        ascending = ascending + blocks[:, block]
        if block + 1 < capacity:  # the last round needs no order
            ascending, order = torch.sort(ascending, dim=1, stable=True)
            pack_at = pack_at.gather(1, order)
    positions = torch.arange(n, device=device).view(1, capacity, num_packs)
    round_item = torch.empty_like(lightest_first).scatter_(
        2, lightest_first, positions.expand(rows, -1, -1)
    )
    pack_load = torch.empty_like(ascending).scatter_(1, pack_at, ascending)
    return round_item.transpose(1, 2).reshape(rows, n), pack_load


def refine_heaviest(
    slot_load: torch.Tensor, slot_item: torch.Tensor, pack_load: torch.Tensor, rows_per_layer: int
) -> torch.Tensor:
    """Swap rounds on each layer's heaviest pack (see the module docstring).

    `slot_load`/`slot_item` `[rows, n]` are the load and item at each slot (pack p holds slots
    p * k .. p * k + k - 1) and `pack_load` `[rows, packs]`; `slot_item` is updated in place and
    returned, the two loads are scratch (stale after the last round). Every round scores all
    (heavy item, light item) swaps of its disjoint pack pairs in one `[layers, T, k, P, k]`
    tensor (P light packs per heavy pack).
    """
    rows, n = slot_load.shape
    num_packs = pack_load.shape[1]
    capacity = n // num_packs
    heavies = max(1, num_packs // HEAVY_SHARE)
    # At least one partner each: heavies <= num_packs / 8 leaves room for disjoint pairs.
    pairs = min(num_packs - heavies, SWAP_PAIRS, SWAP_CANDIDATES // capacity**2)
    partners = max(1, pairs // heavies)
    every_pack = heavies == 1 and partners == num_packs - 1
    if every_pack:
        partners = num_packs
    layers = rows // rows_per_layer
    device = slot_load.device
    first_pack = torch.arange(layers, device=device) * (rows_per_layer * num_packs)
    # The heavy pack t of a round (t-th heaviest of the critical row) swaps with the lightest
    # packs t, t + T, t + 2T, ... of its row: disjoint pairs, so all T swaps apply at once.
    partner_rank = (torch.arange(partners, device=device) * heavies).unsqueeze(0)
    partner_rank = partner_rank + torch.arange(heavies, device=device).unsqueeze(1)
    heavy_rank = num_packs - 1 - torch.arange(heavies, device=device)
    flat_load, flat_item = slot_load.view(-1), slot_item.view(-1)
    pack_items = flat_load.view(-1, capacity)  # row * num_packs + p -> pack p's k slot loads
    flat_pack = pack_load.view(-1)
    slot_in_pack = torch.arange(capacity, device=device)
    rounds = max(1, MAX_SWAP_ROUNDS // heavies**2)
    # Early stop, worth its ops only with several rounds: a layer near its lower bound (its
    # heaviest row's mean pack load, or its largest item) stops swapping.
    good_enough = None
    if rounds > 1:
        bound = torch.maximum(fixed_order_sum(pack_load) / num_packs, slot_load.amax(dim=1))
        good_enough = bound.view(layers, rows_per_layer).amax(dim=1) * (1 + NEAR_OPTIMAL)
    for round_number in range(rounds):
        peak, heaviest = pack_load.view(layers, -1).max(dim=1)
        top = first_pack + heaviest
        row = top // num_packs
        row_loads = pack_load.index_select(0, row)
        if every_pack:  # one heavy pack against its whole row (itself included): no sort
            heavy_pack = top.unsqueeze(1)
            heavy_load = peak.unsqueeze(1)
            light_load = row_loads.view(layers, 1, -1, 1)
            others = flat_load.view(rows, n).index_select(0, row)  # [layers, P * k]
            other_slot = (row * n).view(-1, 1, 1)  # + position in the row
        else:
            ranked = torch.sort(row_loads, dim=1, stable=True)
            row_start = (row * num_packs).unsqueeze(1)
            heavy_pack = row_start + ranked.indices[:, heavy_rank]  # [layers, T]
            heavy_load = ranked.values[:, heavy_rank]
            light_pack = row_start.unsqueeze(2) + ranked.indices[:, partner_rank]  # [.., T, P]
            light_load = ranked.values[:, partner_rank].unsqueeze(3)  # [layers, T, P, 1]
            others = pack_items.index_select(0, light_pack.view(-1))  # [layers * T * P, k]
            other_slot = (light_pack.unsqueeze(3) * capacity + slot_in_pack).view(
                layers, heavies, -1
            )
        heavy = pack_items.index_select(0, heavy_pack.view(-1))  # [layers * T, k]
        # Swapping heavy item u with item v of pack q moves d = u - v: the pair's new maximum
        # max(h - d, load_q + d) is (h + load_q + |2u - (2v + h - load_q)|) / 2, so the best
        # swap minimises load_q + |2u - 2v - gap_q| (checked exactly before it is applied).
        target = others.view(layers, heavies, partners, capacity) * 2
        target += heavy_load.view(layers, heavies, 1, 1) - light_load
        score = (heavy.view(layers, heavies, -1, 1, 1) * 2 - target.unsqueeze(2)).abs_()
        score += light_load.unsqueeze(2)  # [layers, T, k, P, k]
        best = score.view(layers, heavies, -1).min(dim=2).indices  # the first minimum
        u_rank, v_slot = best // (partners * capacity), best % (partners * capacity)
        if every_pack:
            v = other_slot.view(-1, 1) + v_slot
        else:
            v = other_slot.gather(2, v_slot.unsqueeze(2)).squeeze(2)
        other_pack = v // capacity
        u = heavy_pack * capacity + u_rank  # flat slots [layers, T]
        load_u, load_v = flat_load[u], flat_load[v]
        change = load_u - load_v
        new_max = torch.maximum(heavy_load - change, flat_pack[other_pack] + change)
        improved = new_max < heavy_load
        if good_enough is not None:
            improved &= (peak > good_enough).unsqueeze(1)
        if round_number + 1 < rounds and not bool(improved[:, 0].any()):
            break
        v = torch.where(improved, v, u)  # a pair that cannot improve swaps u with u
        change = torch.where(improved, change, 0.0)
        into, source = torch.cat([u, v]).view(-1), torch.cat([v, u]).view(-1)
        flat_item.index_copy_(0, into, flat_item.index_select(0, source))
        if round_number + 1 < rounds:  # the loads matter only to a next round
            flat_load.index_copy_(0, into, flat_load.index_select(0, source))
            flat_pack.index_add_(0, heavy_pack.view(-1), -change.view(-1))
            flat_pack.index_add_(0, other_pack.view(-1), change.view(-1))
    return slot_item


def fixed_order_sum(values: torch.Tensor) -> torch.Tensor:
    """Row sums `[rows]` by pairwise elementwise adds in a fixed order, so every device rounds
    alike (a reduction kernel's order differs between CPU and CUDA)."""
    while values.shape[1] > 1:
        half = values.shape[1] // 2
        paired = values[:, :half] + values[:, half : 2 * half]
        values = torch.cat([paired, values[:, 2 * half :]], dim=1)
    return values[:, 0]

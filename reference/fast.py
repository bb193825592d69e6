"""The `fast` variant: deal sorted items to packs in rounds, then swap out of each layer's heaviest
pack; replica counts by threshold selection (`reference.replica_counts`).

No per-item Python loop:

1. Deal: order the items heaviest first. Block 0 (the m heaviest) opens one pack per item; every
   later round gives each pack exactly one more item, the heaviest of the round's items to the
   lightest pack (one small sort of the m pack loads per round), so every pack ends with exactly
   k = n / m items. Two schedules run side by side, batched: *forward* (round r takes the next m
   items) and *two-ended* (round r takes the next m/2 heaviest and the m/2 lightest left, so
   heavy packs receive small items, as the greedy does); each row keeps the one with the smaller
   maximum (ties: forward).
2. Refine the maximum: per layer, take the heaviest pack (over all the layer's rows: every GPU of
   every node when packing replicas hierarchically) and, against every item of every other pack
   of its row, find the single swap that lowers the larger of the two loads the most; apply it
   when that larger load ends below the old maximum. One swap per layer per round, all layers at
   once, until no layer improves, every layer is within `NEAR_OPTIMAL` of its lower bound (its
   heaviest row's mean pack load, or its largest item), or `MAX_SWAP_ROUNDS`. The maximum never
   rises. With at most two items per pack the deal is already optimal (sorted pairing) and the
   refinement is skipped.

Device-agnostic: every decision is an exact comparison of values computed by the same
elementwise IEEE operations on every device; sorts are stable, min/max/argmin take the first
extreme, and the only scatter-adds hit distinct indices (or add zeros), so CPU and CUDA give the
same plan.
"""

from __future__ import annotations

import torch

from reference.replica_counts import greedy_counts

MAX_SWAP_ROUNDS = 8  # cap of the heaviest-pack refinement (it often stops earlier)
SWAP_PARTNERS = 8  # the heavy pack swaps with items of its row's lightest packs, this many
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
    by_load = torch.sort(loads / counts, dim=1, descending=True, stable=True)
    sorted_counts = counts.gather(1, by_load.indices)
    run_end = sorted_counts.cumsum(1)
    # Slot s belongs to the run (expert in sorted order) of the number of runs ending at or
    # before s: one scatter of the run ends (distinct, since counts >= 1) and one cumsum.
    ends = torch.zeros(rows, num_slots + 1, dtype=torch.int64, device=loads.device)
    run_of_slot = ends.scatter_(1, run_end, 1)[:, :num_slots].cumsum(1)
    replica_expert = by_load.indices.gather(1, run_of_slot)
    run_start = (run_end - sorted_counts).gather(1, run_of_slot)
    replica_rank = torch.arange(num_slots, device=loads.device) - run_start
    slot_item = pack_sorted(by_load.values.gather(1, run_of_slot), num_packs, rows_per_layer)
    return replica_expert.gather(1, slot_item), replica_rank.gather(1, slot_item), counts


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
    both = torch.cat([sorted_loads, sorted_loads[:, schedule]])
    slot_position, pack_load = deal_in_rounds(both, num_packs)
    slot_position[rows:] = schedule[slot_position[rows:]]
    peaks = pack_load.max(dim=1).values
    second = (peaks[rows:] < peaks[:rows]).unsqueeze(1)
    slot_item = torch.where(second, slot_position[rows:], slot_position[:rows])
    pack_load = torch.where(second, pack_load[rows:], pack_load[:rows])
    refine_heaviest(sorted_loads.gather(1, slot_item), slot_item, pack_load, rows_per_layer)
    return slot_item


def two_ended_schedule(n: int, num_packs: int, device: torch.device) -> torch.Tensor:
    """Sorted positions in dealing order: the m heaviest, then per round the next m/2 heaviest
    and the m - m/2 lightest left (lightest last, so the heaviest pack gets the lightest)."""
    front = (num_packs + 1) // 2
    back = num_packs - front
    rounds = n // num_packs - 1
    fronts = num_packs + torch.arange(rounds * front, device=device).view(rounds, front)
    backs = n - (torch.arange(rounds, device=device).view(rounds, 1) + 1) * back
    backs = backs + torch.arange(back, device=device)
    head = torch.arange(num_packs, device=device)
    return torch.cat([head, torch.cat([fronts, backs], dim=1).flatten()])


def deal_in_rounds(sorted_loads: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deal consecutive blocks of `num_packs` items, heaviest item of a block to lightest pack.

    Returns `slot_item [rows, n]` (position of the item at slot p * k + r) and the pack loads.
    """
    rows, n = sorted_loads.shape
    capacity = n // num_packs
    blocks = sorted_loads.view(rows, capacity, num_packs)
    positions = torch.arange(n, device=sorted_loads.device).view(capacity, num_packs)
    pack_load = blocks[:, 0].clone()
    slot_item = sorted_loads.new_empty(rows, num_packs, capacity, dtype=torch.int64)
    slot_item[:, :, 0] = positions[0]
    for block in range(1, capacity):
        lightest_first = torch.sort(pack_load, dim=1, stable=True).indices
        pack_load.scatter_add_(1, lightest_first, blocks[:, block])
        slot_item[:, :, block].scatter_(1, lightest_first, positions[block].expand(rows, -1))
    return slot_item.view(rows, n), pack_load


def refine_heaviest(
    slot_load: torch.Tensor, slot_item: torch.Tensor, pack_load: torch.Tensor, rows_per_layer: int
) -> None:
    """Swap rounds on each layer's heaviest pack (see the module docstring), in place.

    `slot_load`/`slot_item` `[rows, n]` are the load and item at each slot (pack p holds slots
    p * k .. p * k + k - 1) and `pack_load` `[rows, packs]`; all three are updated together.
    The swap partners are the items of the `SWAP_PARTNERS` lightest packs of the heavy row (all
    packs when there are no more), so a round costs the same few ops at any pack count.
    """
    rows, n = slot_load.shape
    num_packs = pack_load.shape[1]
    capacity = n // num_packs
    partners = min(SWAP_PARTNERS, num_packs)
    layers = rows // rows_per_layer
    device = slot_load.device
    first_pack = torch.arange(layers, device=device) * (rows_per_layer * num_packs)
    # Views with one row per pack: pack_items[row * num_packs + p] holds pack p's k slots.
    pack_items = slot_load.view(-1, capacity)
    flat_pack = pack_load.view(-1)
    # Lower bound of a layer's maximum: its heaviest row's mean pack load, and its largest item.
    bound = torch.maximum(fixed_order_sum(pack_load) / num_packs, slot_load.amax(dim=1))
    good_enough = bound.view(layers, rows_per_layer).amax(dim=1) * (1 + NEAR_OPTIMAL)
    for _ in range(MAX_SWAP_ROUNDS):
        peak, heaviest = pack_load.view(layers, -1).max(dim=1)
        pack = first_pack + heaviest  # flat pack index row * num_packs + p
        row_start = pack - pack % num_packs
        light = torch.sort(flat_pack.view(-1, num_packs).index_select(0, row_start // num_packs),
                           dim=1, stable=True)
        light_pack = row_start.unsqueeze(1) + light.indices[:, :partners]  # [layers, P]
        light_load = light.values[:, :partners].unsqueeze(2)  # [layers, P, 1]
        heavy = pack_items.index_select(0, pack)  # [layers, k]
        others = pack_items[light_pack]  # [layers, P, k]
        # Swapping heavy item u with item v of pack q moves d = u - v: the pair's new maximum
        # max(peak - d, load_q + d) is (peak + load_q + |2u - (2v + peak - load_q)|) / 2, so the
        # best swap minimises load_q + |2u - 2v - gap_q| (checked exactly before it is applied).
        target = others * 2 + (peak.view(-1, 1, 1) - light_load)
        score = (heavy.view(layers, -1, 1, 1) * 2 - target.unsqueeze(1)).abs_()
        score += light_load.unsqueeze(1)  # [layers, k, P, k]
        best = score.view(layers, -1).argmin(dim=1)
        u_rank, v_slot = best // (partners * capacity), best % (partners * capacity)
        other_pack = light_pack.gather(1, (v_slot // capacity).unsqueeze(1)).squeeze(1)
        u = pack * capacity + u_rank  # flat slots
        v = other_pack * capacity + v_slot % capacity
        load_u, load_v = slot_load.view(-1)[u], slot_load.view(-1)[v]
        change = load_u - load_v
        new_peak = torch.maximum(peak - change, flat_pack[other_pack] + change)
        improved = (new_peak < peak) & (peak > good_enough)
        if not bool(improved.any()):
            break
        v = torch.where(improved, v, u)  # a layer that cannot improve swaps u with u
        change = torch.where(improved, change, 0.0)
        both = torch.cat([u, v])
        flat_load, flat_item = slot_load.view(-1), slot_item.view(-1)
        flat_load[both] = torch.cat([flat_load[v], load_u])
        flat_item[both] = torch.cat([flat_item[v], flat_item[u]])
        flat_pack.index_add_(0, torch.cat([pack, other_pack]), torch.cat([-change, change]))

def fixed_order_sum(values: torch.Tensor) -> torch.Tensor:
    """Row sums `[rows]` by pairwise elementwise adds in a fixed order, so every device rounds
    alike (a reduction kernel's order differs between CPU and CUDA)."""
    while values.shape[1] > 1:
        half = values.shape[1] // 2
        paired = values[:, :half] + values[:, half : 2 * half]
        values = torch.cat([paired, values[:, 2 * half :]], dim=1)
    return values[:, 0]

"""The `fast` variant: deal sorted items to packs in rounds, then swap out of each layer's heaviest
pack; the greedy's exact replica counts by threshold selection (`reference.replica_counts`).

No per-item Python loop:

1. Replicas heaviest first, with one sort: the loads sorted heaviest first (exact and stable)
   give the `spare` heaviest experts, the only ones that can take a replica more, for the
   counts; those experts, re-sorted by load per replica, are merged into the unchanged rest
   by two binary searches (`order_by_replica_load`). Each expert is then repeated c times.
2. Deal: block 0 (the m heaviest) opens one pack per item; every later round gives each pack
   exactly one more item, the heaviest of the round's items to the lightest pack, so every
   pack ends with exactly k = n / m items. The packs are kept in load order, so a round is one
   add and one sort of an almost sorted row (distinct integer keys: loads within 2^(b - 52)
   relative, b = bits(m - 1), keep their order). Several schedules run side by side, batched,
   and each row keeps the one with the smallest maximum (ties: the earlier one): *forward*
   (round r takes the next m items), *two-ended* (round r takes the next m/2 heaviest and the
   m/2 lightest left, so heavy packs receive small items, as the greedy does), for rows of 16
   or more packs two-ended from the middle round on, and with at most `FEW_ROUNDS` items per
   pack *strided* two-ended (round r's m/2 light items are the r-th lightest of m/2 tail groups,
   so the heaviest pack gets the very lightest item of every round, as in the greedy; without
   it, 3-5 replicas per GPU on 64-96 GPUs came out less balanced than greedy)
   (`dealing_schedules`).
3. Refine rows of fewer than 16 packs: per layer, find the heaviest pack (over all the layer's
   rows: every GPU of every node when packing replicas hierarchically) and apply the single
   swap of one item with one of its row's `SWAP_PARTNERS` lightest packs (or any pack of the
   row) that minimises the pair's new maximum, when that maximum ends below the heavy pack's
   load; all layers at once, until no layer's heaviest pack improves, every layer is within
   `NEAR_OPTIMAL` of its lower bound (its heaviest row's mean pack load, or its largest item),
   or after `MAX_SWAP_ROUNDS` rounds (Zipf loads in a DeepSeek-V3 node need all 8). The
   maximum never rises. With 16 or more packs a round would improve one pack of many; the
   third schedule buys about the same balance for less (DeepSeek-V3 global, measured in
   `benchmarks/rebalance.py`). With at most two items per pack the deal alone is optimal
   (sorted pairing).

Device-agnostic: every decision is an exact comparison of values computed by the same
elementwise IEEE operations on every device; sorts are stable or sort distinct keys, binary
searches and min/max/argmin take fixed sides or the first extreme, and the only scatter-adds hit
distinct indices (or add zeros), so CPU and CUDA give the same plan.
"""

from __future__ import annotations

import functools

import torch

from reference.replica_counts import greedy_counts

MAX_SWAP_ROUNDS = 8  # cap of the heaviest-pack refinement (it often stops earlier)
SWAP_PARTNERS = 12  # packs the heavy pack of a round may swap with, at most
SWAP_CANDIDATES = 1024  # and at most about this many (heavy item, light item) swaps per layer
REFINE_BELOW_PACKS = 16  # rows of more packs keep their best deal (see the module docstring)
FEW_ROUNDS = 5  # with at most this many items per pack, a fourth (strided) schedule
HOST = torch.device("cpu")  # the cached dealing tables live here, whatever torch's default device
NEAR_OPTIMAL = 2.0**-14  # a layer within this relative distance of its lower bound stops

Packing = tuple[torch.Tensor, torch.Tensor]


def fast_packing(loads: torch.Tensor, num_packs: int) -> Packing:
    """`(pack_index, rank_in_pack)` of validated float64 `loads` `[rows, n]` into `num_packs`."""
    from reference import fast_kernels  # numba is imported on the first fast call only

    if fast_kernels.use_kernels(loads):
        return fast_kernels.packing(loads.detach(), num_packs)
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

    The counts are the greedy's (`greedy_counts`), found from the one sort of the loads that
    also orders the replicas (`order_by_replica_load`; each expert repeated c times). Returns
    `(expert of each slot, replica rank of each slot, counts)`, slots in pack-major order.
    """
    rows, n = loads.shape
    # Non-negative float64 values order like their bit patterns read as int64 (adding 0.0
    # turns -0.0 into +0.0), which torch sorts faster: the exact, stable order by load.
    by_load = torch.sort((loads + 0.0).view(torch.int64), dim=1, descending=True, stable=True)
    sorted_load = by_load.values.view(loads.dtype)
    spare = min(n, num_slots - n)  # only the `spare` heaviest experts can take a replica more
    heaviest = (sorted_load[:, : spare + 1], by_load.indices[:, : spare + 1])
    counts = greedy_counts(loads, num_slots, heaviest)
    order, replica_load = order_by_replica_load(sorted_load, by_load.indices, counts, spare)
    sorted_counts = counts.gather(1, order)
    run_end = sorted_counts.cumsum(1)
    # Slot s belongs to the run (expert in sorted order) of the number of runs ending at or
    # before s: one scatter of the run ends (distinct, since counts >= 1) and one cumsum.
    ends = torch.zeros(rows, num_slots + 1, dtype=torch.int64, device=loads.device)
    run_of_slot = ends.scatter_(1, run_end, 1)[:, :num_slots].cumsum(1)
    replica_expert = order.gather(1, run_of_slot)
    run_start = (run_end - sorted_counts).gather(1, run_of_slot)
    replica_rank = torch.arange(num_slots, device=loads.device) - run_start
    slot_item = pack_sorted(replica_load.gather(1, run_of_slot), num_packs, rows_per_layer)
    return replica_expert.gather(1, slot_item), replica_rank.gather(1, slot_item), counts


def order_by_replica_load(
    sorted_load: torch.Tensor, by_load: torch.Tensor, counts: torch.Tensor, head: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Experts by load per replica, largest first: `(expert order, load per replica)` `[rows, n]`.

    `sorted_load`/`by_load` are the loads largest first and their experts. Only the `head`
    largest can have more than one replica, so the tail keeps its order (its load per replica
    is its load): the head is re-sorted by load per replica and merged into the tail by two
    binary searches (on equal values the tail goes first), with no second full sort.
    """
    n = sorted_load.shape[1]
    if head == 0:
        return by_load, sorted_load
    head_load = sorted_load[:, :head] / counts.gather(1, by_load[:, :head])
    head_sorted = torch.sort(head_load, dim=1, descending=True, stable=True)
    tail_load = sorted_load[:, head:]
    # Ascending copies (negated) for searchsorted: tail values >= a head value go before it,
    # head values > a tail value go before that.
    tail_ahead = torch.searchsorted(-tail_load, -head_sorted.values, right=True)
    head_ahead = torch.searchsorted(-head_sorted.values, -tail_load, right=False)
    positions = torch.arange(n, device=sorted_load.device)
    place = torch.cat([positions[:head] + tail_ahead, positions[: n - head] + head_ahead], dim=1)
    experts = torch.cat([by_load[:, :head].gather(1, head_sorted.indices), by_load[:, head:]], 1)
    values = torch.cat([head_sorted.values, tail_load], dim=1)
    order = torch.empty_like(experts).scatter_(1, place, experts)
    return order, torch.empty_like(values).scatter_(1, place, values)


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
        return slots_of(deal_in_rounds(sorted_loads, num_packs)[0])
    refine = num_packs < REFINE_BELOW_PACKS
    schedules = dealing_schedules(n, num_packs, refine, sorted_loads.device)  # [S, n]
    tried = len(schedules)
    dealt = sorted_loads.index_select(1, schedules.view(-1)).view(rows, tried, n)
    dealt_to, pack_load = deal_in_rounds(dealt.transpose(0, 1).reshape(-1, n), num_packs)
    best = pack_load.max(dim=1).values.view(tried, rows).argmin(dim=0)  # first: earlier wins
    chosen = best * rows + torch.arange(rows, device=best.device)
    slot_item = schedules[best].gather(1, slots_of(dealt_to.index_select(0, chosen)))
    if not refine:
        return slot_item
    pack_load = pack_load.index_select(0, chosen)
    return refine_heaviest(sorted_loads.gather(1, slot_item), slot_item, pack_load, rows_per_layer)


def dealing_schedules(n: int, num_packs: int, refine: bool, device: torch.device) -> torch.Tensor:
    """The dealing orders tried side by side `[S, n]` (sorted positions in dealing order):
    forward; two-ended from the first round; for rows that are not refined, two-ended from the
    middle round on; with at most `FEW_ROUNDS` items per pack, the strided two-ended order."""
    return _dealing_schedules(n, num_packs, refine).to(device)


@functools.cache
def _dealing_schedules(n: int, num_packs: int, refine: bool) -> torch.Tensor:
    rounds = n // num_packs
    schedules = [two_ended_from(n, num_packs, rounds), two_ended_from(n, num_packs, 1)]
    if not refine:  # the refinement makes up for a third deal, at less cost
        schedules.append(two_ended_from(n, num_packs, (rounds + 1) // 2))
    if rounds <= FEW_ROUNDS:  # a deal of few rounds is cheap, and these rows need it most
        schedules.append(two_ended_from(n, num_packs, 1, strided=True))
    return torch.stack(schedules)


def two_ended_from(n: int, num_packs: int, start: int, strided: bool = False) -> torch.Tensor:
    """Sorted positions in dealing order: rounds before `start` take the next m heaviest; from
    round `start` on (start >= 1: the m heaviest open the packs), each round takes the next
    m - m/2 heaviest and m/2 light items: the m/2 lightest left, or with `strided` the r-th
    lightest of each of m/2 tail groups, so every round's lightest item (the heaviest pack's)
    is among the very lightest, as the greedy's last items fill its heaviest packs."""
    front = (num_packs + 1) // 2
    back = num_packs - front
    rounds = n // num_packs - start
    dealt_forward = start * num_packs
    fronts = dealt_forward + torch.arange(rounds * front, device=HOST).view(rounds, front)
    round_index = torch.arange(rounds, device=HOST).view(rounds, 1)
    if strided:
        # heaviest tail group first
        group = torch.arange(back - 1, -1, -1, device=HOST).view(1, back)
        backs = n - 1 - round_index - group * rounds
    else:
        backs = n - (round_index + 1) * back + torch.arange(back, device=HOST)
    ends = torch.cat([fronts, backs], dim=1).flatten()
    return torch.cat([torch.arange(dealt_forward, device=HOST), ends])


def deal_in_rounds(sorted_loads: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deal consecutive blocks of `num_packs` items, heaviest item of a block to lightest pack.

    Returns `dealt_to [rows, k, m]` (the pack of the item at position i of round r's block;
    `slots_of` turns it into slots) and the pack loads `[rows, m]`. The packs are kept in
    ascending load order (ties: the order they already had), so a round is one add, one sort
    of an almost sorted row and two gathers; pack p opens with item p.
    """
    rows, n = sorted_loads.shape
    capacity = n // num_packs
    device = sorted_loads.device
    blocks = sorted_loads.view(rows, capacity, num_packs)
    ascending = blocks[:, 0].flip(1)  # pack loads, lightest first
    pack_at = torch.arange(num_packs - 1, -1, -1, device=device).expand(rows, num_packs)
    position = torch.arange(num_packs, device=device)
    dealt_to = [position.expand(rows, num_packs)]
    # Sort keys: a non-negative float64 orders like its bit pattern read as int64; the low b =
    # bits(m - 1) bits hold the current position instead, so the keys are distinct (one sorted
    # order, which torch's unstable sort, faster than the stable one, gives on every device)
    # and loads within 2^(b - 52) relative keep their order.
    low_bits = (1 << max(1, (num_packs - 1).bit_length())) - 1
    for block in range(1, capacity):
        dealt_to.append(pack_at)
        ascending = ascending + blocks[:, block]
        if block + 1 < capacity:  # the last round needs no order
            keys = (ascending.view(torch.int64) & ~low_bits) | position
            order = torch.sort(keys, dim=1).indices
            ascending, pack_at = ascending.gather(1, order), pack_at.gather(1, order)
    pack_load = torch.empty_like(ascending).scatter_(1, pack_at, ascending)
    return torch.stack(dealt_to, dim=1), pack_load


def slots_of(dealt_to: torch.Tensor) -> torch.Tensor:
    """`slot_item [rows, n]` from `deal_in_rounds`: the dealt position of the item at slot
    p * k + r (pack p, round r)."""
    rows, capacity, num_packs = dealt_to.shape
    positions = torch.arange(capacity * num_packs, device=dealt_to.device)
    positions = positions.view(1, capacity, num_packs).expand(rows, -1, -1)
    round_item = torch.empty_like(dealt_to).scatter_(2, dealt_to, positions)
    return round_item.transpose(1, 2).reshape(rows, -1)


def refine_heaviest(
    slot_load: torch.Tensor, slot_item: torch.Tensor, pack_load: torch.Tensor, rows_per_layer: int
) -> torch.Tensor:
    """Swap rounds on each layer's heaviest pack (see the module docstring).

    `slot_load`/`slot_item` `[rows, n]` are the load and item at each slot (pack p holds slots
    p * k .. p * k + k - 1) and `pack_load` `[rows, packs]`; `slot_item` is updated in place and
    returned, the two loads are scratch (stale after the last round). Every round scores all
    (heavy item, light item) swaps of the heavy pack with its P partners in one
    `[layers, k, P, k]` tensor.
    """
    rows, n = slot_load.shape
    num_packs = pack_load.shape[1]
    capacity = n // num_packs
    partners = min(num_packs - 1, SWAP_PARTNERS, max(1, SWAP_CANDIDATES // capacity**2))
    every_pack = partners == num_packs - 1
    if every_pack:  # the whole row, the heavy pack itself included (it cannot improve itself)
        partners = num_packs
    layers = rows // rows_per_layer
    device = slot_load.device
    first_pack = torch.arange(layers, device=device) * (rows_per_layer * num_packs)
    flat_load, flat_item = slot_load.view(-1), slot_item.view(-1)
    pack_items = flat_load.view(-1, capacity)  # row * num_packs + p -> pack p's k slot loads
    flat_pack = pack_load.view(-1)
    slot_in_pack = torch.arange(capacity, device=device)
    # A layer near its lower bound (its heaviest row's mean pack load, or its largest item)
    # stops swapping.
    bound = torch.maximum(fixed_order_sum(pack_load) / num_packs, slot_load.amax(dim=1))
    good_enough = bound.view(layers, rows_per_layer).amax(dim=1) * (1 + NEAR_OPTIMAL)
    for round_number in range(MAX_SWAP_ROUNDS):
        last = round_number + 1 == MAX_SWAP_ROUNDS
        peak, heaviest = pack_load.view(layers, -1).max(dim=1)
        heavy_pack = first_pack + heaviest  # [layers], flat pack index
        row = heavy_pack // num_packs
        row_loads = pack_load.index_select(0, row)
        if every_pack:
            light_load = row_loads.unsqueeze(2)  # [layers, P, 1]
            others = flat_load.view(rows, n).index_select(0, row)  # [layers, P * k]
            other_slot = (row * n).unsqueeze(1)  # + position in the row
        else:  # the P lightest packs of the row
            lightest = torch.sort(row_loads, dim=1, stable=True)
            light_pack = (row * num_packs).unsqueeze(1) + lightest.indices[:, :partners]
            light_load = lightest.values[:, :partners].unsqueeze(2)
            others = pack_items.index_select(0, light_pack.view(-1))  # [layers * P, k]
            other_slot = (light_pack.unsqueeze(2) * capacity + slot_in_pack).view(layers, -1)
        heavy = pack_items.index_select(0, heavy_pack)  # [layers, k]
        # Swapping heavy item u with item v of pack q moves d = u - v: the pair's new maximum
        # max(h - d, load_q + d) is (h + load_q + |2u - (2v + h - load_q)|) / 2, so the best
        # swap minimises load_q + |2u - 2v - gap_q| (checked exactly before it is applied).
        target = others.view(layers, partners, capacity) * 2
        target += peak.view(layers, 1, 1) - light_load
        score = (heavy.view(layers, -1, 1, 1) * 2 - target.unsqueeze(1)).abs_()
        score += light_load.unsqueeze(1)  # [layers, k, P, k]
        best = score.view(layers, -1).min(dim=1).indices  # the first minimum
        u_rank, v_slot = best // (partners * capacity), best % (partners * capacity)
        if every_pack:
            v = other_slot.squeeze(1) + v_slot
        else:
            v = other_slot.gather(1, v_slot.unsqueeze(1)).squeeze(1)
        other_pack = v // capacity
        u = heavy_pack * capacity + u_rank  # flat slots [layers]
        change = flat_load[u] - flat_load[v]
        new_max = torch.maximum(peak - change, flat_pack[other_pack] + change)
        improved = (new_max < peak) & (peak > good_enough)
        if not last and not bool(improved.any()):
            break
        v = torch.where(improved, v, u)  # a layer that cannot improve swaps u with u
        into, source = torch.cat([u, v]), torch.cat([v, u])
        flat_item.index_copy_(0, into, flat_item.index_select(0, source))
        if not last:  # the loads matter only to a next round
            change = torch.where(improved, change, 0.0)
            flat_load.index_copy_(0, into, flat_load.index_select(0, source))
            flat_pack.index_add_(0, heavy_pack, -change)
            flat_pack.index_add_(0, other_pack, change)
    return slot_item


def fixed_order_sum(values: torch.Tensor) -> torch.Tensor:
    """Row sums `[rows]` by pairwise elementwise adds in a fixed order, so every device rounds
    alike (a reduction kernel's order differs between CPU and CUDA)."""
    while values.shape[1] > 1:
        half = values.shape[1] // 2
        paired = values[:, :half] + values[:, half : 2 * half]
        values = torch.cat([paired, values[:, 2 * half :]], dim=1)
    return values[:, 0]

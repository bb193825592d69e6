"""Compiled (numba) CPU kernels of the `fast` variant: the same algorithm as `reference.fast`, one
layer at a time, in the same floating-point operations, so both paths give identical plans.

`reference.fast` describes the algorithm; this module repeats it per layer in a loop that numba
compiles (`cache=True`: compiled once per machine, then loaded from the on-disk cache). What has
to match the torch path bit for bit, and how:

- every sum is taken in the torch path's order: a pack's load is its items added round by round,
  the bound's row sum and the group loads are `fixed_order_sum`'s pairwise order;
- every sort is the torch path's: stable sorts (numpy's mergesort) where torch sorts stably, and
  the deal's keys (float64 bits with the low bits replaced by the position) are the same
  integers, sorted in the one order distinct keys have;
- ties take the first extreme, as torch's `max`/`min(dim)` do, scanning in the same flattened
  order;
- the batched refinement's global early stop is per layer here: a layer whose heaviest pack does
  not improve never changes again, so stopping it at once gives the same plan;
- the replica counts are the greedy replication's (exact (q, s) keys, ties to the lower expert),
  which is what `reference.replica_counts.greedy_counts` computes by threshold selection.

Speed (same plans): scratch arrays are allocated once per call (`_pack_workspace`,
`_place_workspace`), not per layer; the swap scores of a round are written in one block and
their first minimum found on their int64 bits (non-negative finite floats order like them, and
one long integer minimum vectorizes); `error_model="numpy"` drops the zero-division checks (no
divisor here can be zero). Short rows are sorted by counting, for each item, the items strictly
ahead of it (one branch-free loop), equal items taking the next free places in index order.
The per-row helpers, the refinement and the per-layer placement are inlined by numba
(`jit_inline`): a call passing a dozen arrays cost about as much as a small row's work. Rows of
`UNROLLED_PACKS` packs get a deal compiled with that pack count constant; rows of at most two
items per pack (the hierarchical group stage) are dealt in closed form; `rebalance_phy2log`
skips the `log2phy` table (what a vLLM policy returns is `phy2log` alone).

Used for CPU tensors when numba imports and `EPLB_FAST_KERNELS` is not `0` (`use_kernels`);
`reference.fast`'s torch path stays for CUDA tensors and as the fallback.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import numpy as np
import torch


def _import_numba() -> Any:
    """numba, an optional dependency (`pip install 'eplb-verify[fast]'`), or None."""
    try:
        return importlib.import_module("numba")
    except ImportError:
        return None


numba = _import_numba()

AVAILABLE = numba is not None
# The module flag the fallback test (and a user) can turn off: EPLB_FAST_KERNELS=0 forces the
# torch path on CPU too.
ENABLED = os.environ.get("EPLB_FAST_KERNELS", "1") != "0"

_VELTKAMP = float(2**27 + 1)
# Rows of this many packs (8 GPUs per node: every production cluster) are dealt by a copy of the
# deal compiled for it, whose loops over the packs have a constant trip count (about 1.3x faster).
UNROLLED_PACKS = 8
RANK_SORT_BELOW = 128  # rows up to this length are sorted by counting ranks
# Below this heavy-pack load every swap score (at most 4x it) is finite: the fast first minimum.
_SCORES_FINITE_BELOW = 2.0**1021


def use_kernels(tensor: torch.Tensor) -> bool:
    """Whether the compiled kernels plan for `tensor` (CPU, numba present, not switched off)."""
    return AVAILABLE and ENABLED and tensor.device.type == "cpu"


def jit(function: Any) -> Any:
    """numba.njit with the on-disk cache; the plain function when numba is missing."""
    if numba is None:
        return function
    return numba.njit(cache=True, nogil=True, error_model="numpy")(function)


def jit_inline(function: Any) -> Any:
    """`jit`, inlined into each caller by numba (so a constant argument specializes it)."""
    if numba is None:
        return function
    return numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")(function)


# --- small helpers -------------------------------------------------------------------------


@jit_inline
def _ratio_key(load: float, count: float) -> tuple[float, float]:
    """`reference.replication.exact_ratio_key` for one (load, count): (q, remainder / count)."""
    q = load / count
    scaled = q * _VELTKAMP
    q_high = scaled - (scaled - q)
    q_low = q - q_high
    remainder = (load - q_high * count) - q_low * count
    return q, remainder / count


@jit_inline
def _pairwise_sum(values: np.ndarray, scratch: np.ndarray) -> float:
    """`reference.fast.fixed_order_sum` of one row: pairwise adds in the same order."""
    width = values.shape[0]
    for i in range(width):
        scratch[i] = values[i]
    while width > 1:
        half = width // 2
        for i in range(half):
            scratch[i] = scratch[i] + scratch[half + i]
        # the odd one out moves down behind the pairs
        if width % 2:
            scratch[half] = scratch[2 * half]
        width = half + width % 2
    return scratch[0]


@jit
def _merge_sort(values: np.ndarray, order: np.ndarray, descending: bool) -> None:
    """A stable bottom-up merge sort of the indices of `values` (ties: lower index first);
    numba's own stable argsort costs about a second more to compile."""
    n = values.shape[0]
    for i in range(n):
        order[i] = i
    source = order
    target = np.empty(n, dtype=np.int64)
    width = 1
    while width < n:
        for start in range(0, n, 2 * width):
            middle = min(start + width, n)
            end = min(start + 2 * width, n)
            i, j = start, middle
            for k in range(start, end):
                take_right = j < end and (
                    i >= middle
                    or (
                        values[source[j]] > values[source[i]]
                        if descending
                        else values[source[j]] < values[source[i]]
                    )
                )
                if take_right:
                    target[k] = source[j]
                    j += 1
                else:
                    target[k] = source[i]
                    i += 1
        source, target = target, source
        width *= 2
    if source is not order:
        for i in range(n):
            order[i] = source[i]


@jit_inline
def _argsort_descending(values: np.ndarray, order: np.ndarray) -> None:
    """The stable descending order of `values` (ties: lower index first), as the torch path's
    stable sorts give it: short rows by counting ranks, long rows by a stable merge sort."""
    if values.shape[0] > RANK_SORT_BELOW:
        _merge_sort(values, order, True)
    else:
        _rank_sort(values, order, True)


@jit
def _argsort_ascending(values: np.ndarray, order: np.ndarray) -> None:
    """The stable ascending order of `values` (ties: lower index first)."""
    if values.shape[0] > RANK_SORT_BELOW:
        _merge_sort(values, order, False)
    else:
        _rank_sort(values, order, False)


@jit_inline
def _rank_sort(values: np.ndarray, order: np.ndarray, descending: bool) -> None:
    """A stable sort of the indices of `values` (no NaN) by counting ranks: item i goes to the
    number of items strictly ahead of it, one full-length branch-free loop (it vectorizes), and
    equal items, which count the same rank, take the next free places in index order (i
    ascends, so the lower index goes first)."""
    n = values.shape[0]
    for i in range(n):
        order[i] = -1
    for i in range(n):
        value = values[i]
        rank = 0
        if descending:
            for j in range(n):
                rank += values[j] > value
        else:
            for j in range(n):
                rank += values[j] < value
        while order[rank] >= 0:  # an equal item took this place: the next one is ours
            rank += 1
        order[rank] = i


@jit_inline
def _ahead(q: float, s: float, expert: int, best_q: float, best_s: float, best: int) -> bool:
    """(q, s) above (best_q, best_s), or equal with the lower expert index."""
    return q > best_q or (q == best_q and (s > best_s or (s == best_s and expert < best)))


@jit_inline
def _greedy_counts(
    row: np.ndarray, order: np.ndarray, num_slots: int, counts: np.ndarray, touched: np.ndarray
) -> None:
    """The greedy replication's counts: each redundant slot to the highest load per replica
    (exact key), ties to the lower expert. `order`: the experts heaviest first (stable), so the
    next untouched expert in it is the best of all experts that still have one replica.
    `touched`: scratch of at least `num_slots - n` entries."""
    n = row.shape[0]
    for e in range(n):
        counts[e] = 1
    spare = num_slots - n
    num_touched = 0
    pointer = 0
    for _ in range(spare):
        best = -1
        best_q = 0.0
        best_s = 0.0
        for t in range(num_touched):
            expert = touched[t]
            q, s = _ratio_key(row[expert], float(counts[expert]))
            if best < 0 or _ahead(q, s, expert, best_q, best_s, best):
                best, best_q, best_s = expert, q, s
        fresh = False
        if pointer < n:
            expert = order[pointer]
            q, s = _ratio_key(row[expert], 1.0)
            if best < 0 or _ahead(q, s, expert, best_q, best_s, best):
                best, best_q, best_s = expert, q, s
                fresh = True
        if fresh:
            touched[num_touched] = best
            num_touched += 1
            pointer += 1
        counts[best] += 1


@jit_inline
def _replicas_by_load(
    sorted_load: np.ndarray,
    by_load: np.ndarray,
    counts: np.ndarray,
    head: int,
    head_load: np.ndarray,
    head_order: np.ndarray,
    replica_expert: np.ndarray,
    replica_rank: np.ndarray,
    replica_load: np.ndarray,
) -> None:
    """`reference.fast.order_by_replica_load` of one row, each expert then repeated c times:
    the expert, replica rank and load of every replica, by load per replica (largest first).
    The head (the `head` heaviest experts, the only ones with more than one replica) is
    re-sorted stably by load per replica and merged into the tail, the tail first on equal
    values; a tail expert is one replica. `head_load`/`head_order`: `head` entries of scratch."""
    n = sorted_load.shape[0]
    for i in range(head):
        head_load[i] = sorted_load[i] / counts[by_load[i]]
    _argsort_descending(head_load[:head], head_order[:head])
    slot = 0
    t = head
    for h in range(head):
        value = head_load[head_order[h]]
        while t < n and sorted_load[t] >= value:
            replica_expert[slot] = by_load[t]
            replica_rank[slot] = 0
            replica_load[slot] = sorted_load[t]
            slot += 1
            t += 1
        expert = by_load[head_order[h]]
        for j in range(counts[expert]):
            replica_expert[slot] = expert
            replica_rank[slot] = j
            replica_load[slot] = value
            slot += 1
    offset = slot - t
    for i in range(t, n):
        replica_expert[i + offset] = by_load[i]
        replica_rank[i + offset] = 0
        replica_load[i + offset] = sorted_load[i]


@jit_inline
def _deal(
    dealt: np.ndarray,
    num_packs: int,
    dealt_to: np.ndarray,
    pack_load: np.ndarray,
    ascending: np.ndarray,
    pack_at: np.ndarray,
    keys: np.ndarray,
) -> None:
    """`reference.fast.deal_in_rounds` of one row: `dealt_to[r * m + i]` is the pack of the
    item at position i of round r; `pack_load` the packs' loads. The packs are kept in ascending
    load order by the same distinct integer keys as the torch path: `ascending` and `pack_at`
    (`[2, num_packs]`, scratch) hold the packs' loads and indices in that order, a round reading
    one half and writing the re-sorted row to the other; `keys`: `num_packs` of scratch."""
    n = dealt.shape[0]
    capacity = n // num_packs
    low_bits = (1 << max(1, _bit_length(num_packs - 1))) - 1
    for i in range(num_packs):
        ascending[0, i] = dealt[num_packs - 1 - i]
        pack_at[0, i] = num_packs - 1 - i
        dealt_to[i] = i
    now = 0  # the half holding the packs in load order
    for block in range(1, capacity):
        base = block * num_packs
        for i in range(num_packs):
            dealt_to[base + i] = pack_at[now, i]
            ascending[now, i] = ascending[now, i] + dealt[base + i]
        if block + 1 < capacity:
            bits = ascending[now].view(np.int64)
            for i in range(num_packs):
                keys[i] = (bits[i] & ~low_bits) | i
            if num_packs <= RANK_SORT_BELOW // 4:
                # short rows: each pack's rank is the number of smaller keys (distinct keys:
                # one order), counted without a data-dependent branch, written to the other half
                after = 1 - now
                for i in range(num_packs):
                    rank = 0
                    for j in range(num_packs):
                        rank += keys[j] < keys[i]
                    ascending[after, rank] = ascending[now, i]
                    pack_at[after, rank] = pack_at[now, i]
                now = after
                continue
            # insertion sort of an almost sorted row, in place (distinct keys: one order)
            for i in range(1, num_packs):
                key = keys[i]
                load = ascending[now, i]
                pack = pack_at[now, i]
                j = i - 1
                while j >= 0 and keys[j] > key:
                    keys[j + 1] = keys[j]
                    ascending[now, j + 1] = ascending[now, j]
                    pack_at[now, j + 1] = pack_at[now, j]
                    j -= 1
                keys[j + 1] = key
                ascending[now, j + 1] = load
                pack_at[now, j + 1] = pack
    for i in range(num_packs):
        pack_load[pack_at[now, i]] = ascending[now, i]


@jit_inline
def _bit_length(value: int) -> int:
    length = 0
    while value > 0:
        value >>= 1
        length += 1
    return length


@jit
def _pack_workspace(rows: int, n: int, num_packs: int) -> tuple[Any, ...]:
    """The scratch arrays of `_pack_layer` for `rows` rows of n items in `num_packs` packs,
    allocated once per call of an entry point (not once per layer)."""
    m = max(num_packs, 1)
    return (
        np.empty(n, dtype=np.float64),  # dealt: a row in dealing order
        np.empty((2, n), dtype=np.int64),  # dealt_to: the best deal so far and the next one
        np.empty((rows, m), dtype=np.float64),  # pack_load
        np.empty(m, dtype=np.float64),  # loads_now: the packs' loads after one deal
        np.empty((2, m), dtype=np.float64),  # ascending (the deal's packs in load order)
        np.empty((2, m), dtype=np.int64),  # pack_at
        np.empty(m, dtype=np.int64),  # keys
        np.empty((rows, n), dtype=np.float64),  # slot_load (the refinement's)
        np.empty(m, dtype=np.int64),  # light: the heavy pack's partners
        np.empty(m, dtype=np.int64),  # by_load
        np.empty(n, dtype=np.float64),  # target
        np.empty(n, dtype=np.float64),  # partner_load
    )


@jit_inline
def _is_forward(schedule: np.ndarray) -> bool:
    """Whether a dealing schedule is the sorted order itself (the forward deal)."""
    moved = 0
    for i in range(schedule.shape[0]):
        moved += schedule[i] != i
    return moved == 0


@jit_inline
def _dealt_in_closed_form(schedules: np.ndarray, num_packs: int, refine: bool) -> bool:
    """Whether rows are dealt forward only, in at most two rounds, unrefined: `_schedules` gives
    rows of at most two items per pack this, and `_closed_form_deal` their plan."""
    n = schedules.shape[1]
    return (
        n <= 2 * num_packs and schedules.shape[0] == 1 and not refine and _is_forward(schedules[0])
    )


@jit_inline
def _closed_form_deal(slot_item: np.ndarray, num_packs: int) -> None:
    """`_pack_layer`'s `slot_item` row of a forward deal of at most two rounds: item p opens pack
    p, and the second round (no sort before it) gives item m + j to pack m - 1 - j (the packs
    lightest first: the reverse of the first round's order)."""
    capacity = slot_item.shape[0] // num_packs
    for p in range(num_packs):
        slot_item[p * capacity] = p
        if capacity == 2:
            slot_item[p * 2 + 1] = 2 * num_packs - 1 - p


@jit
def _pack_layer(
    sorted_loads: np.ndarray,
    num_packs: int,
    schedules: np.ndarray,
    refine: bool,
    swap_rounds: int,
    swap_partners: int,
    swap_candidates: int,
    near_optimal: float,
    slot_item: np.ndarray,
    work: tuple[Any, ...],
) -> None:
    """`reference.fast.pack_sorted` of one layer (`sorted_loads` `[rows_per_layer, n]`, each row
    heaviest first): the best deal of each row, then the layer's swap rounds. Writes the sorted
    position of each slot's item to `slot_item` `[rows_per_layer, n]`; `work` is
    `_pack_workspace(rows_per_layer, n, num_packs)`."""
    rows, n = sorted_loads.shape
    if n == 0:
        return
    capacity = n // num_packs
    tried = schedules.shape[0]
    (
        dealt, dealt_to, pack_load, loads_now, ascending, pack_at, keys,
    ) = work[:7]  # fmt: skip
    if _dealt_in_closed_form(schedules, num_packs, refine):
        for row in range(rows):
            _closed_form_deal(slot_item[row], num_packs)
        return
    forward = _is_forward(schedules[0])  # the sorted order itself: no gather needed
    for row in range(rows):
        best = -1
        best_peak = 0.0
        kept = 0  # the row of `dealt_to` holding the best deal so far
        for s in range(tried):
            if s == 0 and forward:
                dealt[:] = sorted_loads[row]
            else:
                for i in range(n):
                    dealt[i] = sorted_loads[row, schedules[s, i]]
            into = 1 - kept if best >= 0 else 0  # never over the best deal
            if num_packs == UNROLLED_PACKS:  # the pack count a constant: short loops unroll
                _deal(dealt, UNROLLED_PACKS, dealt_to[into], loads_now, ascending, pack_at, keys)
            else:
                _deal(dealt, num_packs, dealt_to[into], loads_now, ascending, pack_at, keys)
            peak = loads_now[0]
            for p in range(1, num_packs):
                if loads_now[p] > peak:
                    peak = loads_now[p]
            if best < 0 or peak < best_peak:
                best, best_peak, kept = s, peak, into
                for p in range(num_packs):
                    pack_load[row, p] = loads_now[p]
        # slots_of: slot p * k + r holds the item dealt to pack p in round r
        best_to = dealt_to[kept]
        for r in range(capacity):
            for i in range(num_packs):
                position = r * num_packs + i
                slot_item[row, best_to[position] * capacity + r] = schedules[best, position]
    if refine:
        _refine_layer(
            sorted_loads, slot_item, pack_load, num_packs, swap_rounds, swap_partners,
            swap_candidates, near_optimal, work,
        )  # fmt: skip


@jit_inline
def _refine_layer(
    sorted_loads: np.ndarray,
    slot_item: np.ndarray,
    pack_load: np.ndarray,
    num_packs: int,
    swap_rounds: int,
    swap_partners: int,
    swap_candidates: int,
    near_optimal: float,
    work: tuple[Any, ...],
) -> None:
    """`reference.fast.refine_heaviest` of one layer: swap rounds on its heaviest pack."""
    rows, n = slot_item.shape
    capacity = n // num_packs
    partners = min(num_packs - 1, swap_partners, max(1, swap_candidates // (capacity * capacity)))
    every_pack = partners == num_packs - 1
    if every_pack:
        partners = num_packs
    scratch = work[3]
    slot_load, light, by_load, target, partner_load = work[7:]
    for row in range(rows):
        for i in range(n):
            slot_load[row, i] = sorted_loads[row, slot_item[row, i]]
    good_enough = 0.0
    for row in range(rows):
        # the larger of the mean pack load and the largest item (the row is sorted)
        bound = max(_pairwise_sum(pack_load[row], scratch) / num_packs, sorted_loads[row, 0])
        if row == 0 or bound > good_enough:
            good_enough = bound
    good_enough = good_enough * (1 + near_optimal)
    width = partners * capacity
    score = np.empty(capacity * width, dtype=np.float64)  # every (heavy item, partner item)
    for round_number in range(swap_rounds):
        last = round_number + 1 == swap_rounds
        peak = pack_load[0, 0]
        heavy_row = 0
        heavy = 0
        for row in range(rows):
            for p in range(num_packs):
                if pack_load[row, p] > peak:
                    peak, heavy_row, heavy = pack_load[row, p], row, p
        if not peak > good_enough:
            return  # near its lower bound: this layer never changes again
        row_loads = pack_load[heavy_row]
        if every_pack:
            for q in range(num_packs):
                light[q] = q
        else:
            _argsort_ascending(row_loads, by_load)
            for q in range(partners):
                light[q] = by_load[q]
        for qi in range(partners):
            q = light[qi]
            light_load = row_loads[q]
            gap = peak - light_load
            for v in range(capacity):
                target[qi * capacity + v] = slot_load[heavy_row, q * capacity + v] * 2 + gap
                partner_load[qi * capacity + v] = light_load
        heavy_loads = slot_load[heavy_row, heavy * capacity : (heavy + 1) * capacity]
        if peak < _SCORES_FINITE_BELOW:
            best = _first_lowest_score(heavy_loads, target, partner_load, width, score)
        else:
            best = _first_lowest_score_plain(heavy_loads, target, partner_load, width, score)
        best_u = best // width
        best_q = light[(best % width) // capacity]
        best_v = best % capacity
        u_slot = heavy * capacity + best_u
        v_slot = best_q * capacity + best_v
        change = slot_load[heavy_row, u_slot] - slot_load[heavy_row, v_slot]
        new_max = max(peak - change, row_loads[best_q] + change)
        if not new_max < peak:
            return  # this layer never changes again
        item = slot_item[heavy_row, u_slot]
        slot_item[heavy_row, u_slot] = slot_item[heavy_row, v_slot]
        slot_item[heavy_row, v_slot] = item
        if not last:
            load = slot_load[heavy_row, u_slot]
            slot_load[heavy_row, u_slot] = slot_load[heavy_row, v_slot]
            slot_load[heavy_row, v_slot] = load
            pack_load[heavy_row, heavy] = pack_load[heavy_row, heavy] + (-change)
            pack_load[heavy_row, best_q] = pack_load[heavy_row, best_q] + change


@jit_inline
def _first_lowest_score(
    heavy_loads: np.ndarray,
    target: np.ndarray,
    partner_load: np.ndarray,
    width: int,
    score: np.ndarray,
) -> int:
    """The flat index u * width + i of the first smallest swap score
    |2 heavy_loads[u] - target[i]| + partner_load[i], as the torch path's `min(dim).indices`
    (u-major). With the heavy pack's load below `_SCORES_FINITE_BELOW` every score is finite
    and >= +0, so scores order like their bits read as int64: all scores are written in that
    order, one integer minimum over them vectorizes (a float minimum does not), and the first
    entry equal to it is the first minimum. `score`: `len(heavy_loads) * width` of scratch."""
    for u in range(heavy_loads.shape[0]):
        twice = heavy_loads[u] * 2
        row = score[u * width : (u + 1) * width]
        for i in range(width):
            row[i] = abs(twice - target[i]) + partner_load[i]
    bits = score[: heavy_loads.shape[0] * width].view(np.int64)
    lowest = bits[0]
    for i in range(1, bits.shape[0]):
        lowest = min(lowest, bits[i])
    first = 0
    while bits[first] != lowest:
        first += 1
    return first


@jit
def _first_lowest_score_plain(
    heavy_loads: np.ndarray,
    target: np.ndarray,
    partner_load: np.ndarray,
    width: int,
    score: np.ndarray,
) -> int:
    """`_first_lowest_score` for loads near the float64 limit (scores may overflow): every
    score, their float minimum, then its first index."""
    capacity = heavy_loads.shape[0]
    for u in range(capacity):
        twice = heavy_loads[u] * 2
        for i in range(width):
            score[u * width + i] = abs(twice - target[i]) + partner_load[i]
    lowest = score[0]
    for i in range(1, capacity * width):
        lowest = min(lowest, score[i])
    best = 0
    while best + 1 < capacity * width and score[best] != lowest:  # (NaN: the first)
        best += 1
    return best


@jit
def _place_workspace(rows: int, n: int, num_slots: int, num_packs: int) -> tuple[Any, ...]:
    """The scratch arrays of `_place_layer` (and its `_pack_layer`), allocated once per call."""
    return (
        np.empty(n, dtype=np.float64),  # sorted_load
        np.empty(n, dtype=np.int64),  # by_load
        np.empty(n, dtype=np.float64),  # head_load
        np.empty(n, dtype=np.int64),  # head_order
        np.empty(max(num_slots - n, 1), dtype=np.int64),  # touched
        np.empty((rows, num_slots), dtype=np.int64),  # replica_expert
        np.empty((rows, num_slots), dtype=np.int64),  # replica_rank
        np.empty((rows, num_slots), dtype=np.float64),  # replica_load
        np.empty((rows, num_slots), dtype=np.int64),  # slot_item
        _pack_workspace(rows, num_slots, num_packs),
    )


@jit_inline
def _place_layer(
    node_loads: np.ndarray,
    num_slots: int,
    num_packs: int,
    schedules: np.ndarray,
    refine: bool,
    swap_rounds: int,
    swap_partners: int,
    swap_candidates: int,
    near_optimal: float,
    slot_expert: np.ndarray,
    slot_rank: np.ndarray,
    counts: np.ndarray,
    work: tuple[Any, ...],
) -> None:
    """`reference.fast.place_replicas` of one layer's rows (`node_loads` `[rows, n]`): the
    greedy's counts, the replicas by load per replica, then `_pack_layer`; `work` is
    `_place_workspace(rows, n, num_slots, num_packs)`."""
    rows, n = node_loads.shape
    spare = min(n, num_slots - n)
    (
        sorted_load, by_load, head_load, head_order, touched, replica_expert, replica_rank,
        replica_load, slot_item, pack_work,
    ) = work  # fmt: skip
    for row in range(rows):
        loads = node_loads[row]
        _argsort_descending(loads, by_load)
        for i in range(n):
            sorted_load[i] = loads[by_load[i]] + 0.0  # as the torch path: no -0.0
        _greedy_counts(loads, by_load, num_slots, counts[row], touched)
        _replicas_by_load(
            sorted_load, by_load, counts[row], spare, head_load, head_order,
            replica_expert[row], replica_rank[row], replica_load[row],
        )  # fmt: skip
    _pack_layer(
        replica_load, num_packs, schedules, refine, swap_rounds, swap_partners, swap_candidates,
        near_optimal, slot_item, pack_work,
    )  # fmt: skip
    for row in range(rows):
        for s in range(num_slots):
            slot_expert[row, s] = replica_expert[row, slot_item[row, s]]
            slot_rank[row, s] = replica_rank[row, slot_item[row, s]]


@jit
def _rebalance(
    loads: np.ndarray,
    num_replicas: int,
    num_groups: int,
    num_nodes: int,
    num_gpus: int,
    group_schedules: np.ndarray,
    group_refine: bool,
    node_schedules: np.ndarray,
    node_refine: bool,
    swap_rounds: int,
    swap_partners: int,
    swap_candidates: int,
    near_optimal: float,
    phy2log: np.ndarray,
    rank: np.ndarray,
    logcnt: np.ndarray,
    log2phy: np.ndarray,
) -> None:
    """`reference.rebalance` with `packing="fast"`, one layer at a time (see `rebalance`)."""
    layers, num_log = loads.shape
    group_size = num_log // num_groups
    experts_per_node = num_log // num_nodes
    slots_per_node = num_replicas // num_nodes
    gpus_per_node = num_gpus // num_nodes
    width = num_replicas - num_log + 1
    grouped = num_groups > 1
    group_load = np.empty((1, num_groups), dtype=np.float64)
    scratch = np.empty(max(group_size, 1), dtype=np.float64)
    group_slot = np.empty((1, num_groups), dtype=np.int64)
    group_work = _pack_workspace(1, num_groups, num_nodes)
    values = np.empty(num_groups, dtype=np.float64)
    by_load = np.empty(num_groups, dtype=np.int64)
    log2ordered = np.empty(num_log, dtype=np.int64)
    ordered2log = np.empty(num_log, dtype=np.int64)
    node_loads = np.empty((num_nodes, experts_per_node), dtype=np.float64)
    slot_local = np.empty((num_nodes, slots_per_node), dtype=np.int64)
    slot_rank = np.empty((num_nodes, slots_per_node), dtype=np.int64)
    local_count = np.empty((num_nodes, experts_per_node), dtype=np.int64)
    node_work = _place_workspace(num_nodes, experts_per_node, slots_per_node, gpus_per_node)
    count_of_ordered = local_count.reshape(num_log)  # a view: no division per expert
    with_log2phy = log2phy.shape[1] > 0  # an empty table: the caller needs phy2log alone
    closed_form = _dealt_in_closed_form(group_schedules, num_nodes, group_refine)
    for layer in range(layers):
        row = loads[layer]
        if grouped:
            for g in range(num_groups):
                values[g] = _pairwise_sum(row[g * group_size : (g + 1) * group_size], scratch)
            _argsort_descending(values, by_load)
            for g in range(num_groups):
                group_load[0, g] = values[by_load[g]]
            if closed_form:  # (a call of `_pack_layer` costs more than this deal)
                _closed_form_deal(group_slot[0], num_nodes)
            else:
                _pack_layer(
                    group_load, num_nodes, group_schedules, group_refine, swap_rounds,
                    swap_partners, swap_candidates, near_optimal, group_slot, group_work,
                )  # fmt: skip
            for s in range(num_groups):
                # slot s = pack * groups_per_node + rank: the node-major position of its group
                group = by_load[group_slot[0, s]]
                start = s * group_size
                for j in range(group_size):
                    log2ordered[group * group_size + j] = start + j
                    ordered2log[start + j] = group * group_size + j
        else:
            for e in range(num_log):
                log2ordered[e] = e
                ordered2log[e] = e
        for node in range(num_nodes):
            for j in range(experts_per_node):
                node_loads[node, j] = row[ordered2log[node * experts_per_node + j]]
        _place_layer(
            node_loads, slots_per_node, gpus_per_node, node_schedules, node_refine, swap_rounds,
            swap_partners, swap_candidates, near_optimal, slot_local, slot_rank, local_count,
            node_work,
        )  # fmt: skip
        if with_log2phy:
            for e in range(num_log * width):
                log2phy[layer, e] = -1
        for node in range(num_nodes):
            for s in range(slots_per_node):
                slot = node * slots_per_node + s
                expert = ordered2log[node * experts_per_node + slot_local[node, s]]
                phy2log[layer, slot] = expert
                rank[layer, slot] = slot_rank[node, s]
                if with_log2phy:
                    log2phy[layer, expert * width + slot_rank[node, s]] = slot
        for e in range(num_log):
            logcnt[layer, e] = count_of_ordered[log2ordered[e]]


@jit
def _packing(
    loads: np.ndarray,
    num_packs: int,
    schedules: np.ndarray,
    refine: bool,
    swap_rounds: int,
    swap_partners: int,
    swap_candidates: int,
    near_optimal: float,
    pack_index: np.ndarray,
    rank_in_pack: np.ndarray,
) -> None:
    """`reference.fast.fast_packing`, one row (a layer of its own) at a time."""
    rows, n = loads.shape
    capacity = n // num_packs
    sorted_loads = np.empty((1, n), dtype=np.float64)
    slot_item = np.empty((1, n), dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    work = _pack_workspace(1, n, num_packs)
    for row in range(rows):
        _argsort_descending(loads[row], order)
        for i in range(n):
            sorted_loads[0, i] = loads[row, order[i]]
        _pack_layer(
            sorted_loads, num_packs, schedules, refine, swap_rounds, swap_partners,
            swap_candidates, near_optimal, slot_item, work,
        )  # fmt: skip
        for s in range(n):
            item = order[slot_item[0, s]]
            pack_index[row, item] = s // capacity
            rank_in_pack[row, item] = s % capacity


# --- the entry points (torch in, torch out) ---------------------------------------------------


def _schedules(n: int, num_packs: int) -> tuple[np.ndarray, bool]:
    """The dealing orders `pack_sorted` tries for rows of n items in `num_packs` packs, and
    whether it refines them (the torch path's choice, from the same cached tables)."""
    from reference import fast

    if n == 0 or num_packs == 1 or n // num_packs <= 2:
        return np.arange(n, dtype=np.int64).reshape(1, n), False
    refine = num_packs < fast.REFINE_BELOW_PACKS
    return fast._dealing_schedules(n, num_packs, refine).numpy(), refine


def _swap_settings() -> tuple[int, int, int, float]:
    from reference import fast

    return fast.MAX_SWAP_ROUNDS, fast.SWAP_PARTNERS, fast.SWAP_CANDIDATES, fast.NEAR_OPTIMAL


def rebalance(
    loads: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """`(phy2log, rank, logcnt, log2phy)` of validated float64 CPU `loads` `[layers, experts]`
    (groups and nodes already reduced to 1 where they do not divide)."""
    layers, num_log = loads.shape
    width = num_replicas - num_log + 1
    phy2log, rank, logcnt, log2phy = _run_rebalance(
        loads, num_replicas, num_groups, num_nodes, num_gpus, num_log * width
    )
    return (
        torch.from_numpy(phy2log),
        torch.from_numpy(rank),
        torch.from_numpy(logcnt),
        torch.from_numpy(log2phy).view(layers, num_log, width),
    )


def rebalance_phy2log(
    loads: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> torch.Tensor:
    """`rebalance(...)[0]` alone: the kernel skips the `log2phy` table."""
    return torch.from_numpy(
        _run_rebalance(loads, num_replicas, num_groups, num_nodes, num_gpus, 0)[0]
    )


def _run_rebalance(
    loads: torch.Tensor,
    num_replicas: int,
    num_groups: int,
    num_nodes: int,
    num_gpus: int,
    log2phy_width: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`_rebalance`'s outputs as arrays; `log2phy_width` 0 skips the `log2phy` table."""
    layers, num_log = loads.shape
    values = np.ascontiguousarray(loads.numpy())
    group_schedules, group_refine = _schedules(num_groups, num_nodes)
    node_schedules, node_refine = _schedules(num_replicas // num_nodes, num_gpus // num_nodes)
    phy2log = np.empty((layers, num_replicas), dtype=np.int64)
    rank = np.empty((layers, num_replicas), dtype=np.int64)
    logcnt = np.empty((layers, num_log), dtype=np.int64)
    log2phy = np.empty((layers, log2phy_width), dtype=np.int64)
    _rebalance(
        values, num_replicas, num_groups, num_nodes, num_gpus, group_schedules, group_refine,
        node_schedules, node_refine, *_swap_settings(), phy2log, rank, logcnt, log2phy,
    )  # fmt: skip
    return phy2log, rank, logcnt, log2phy


def packing(loads: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`reference.fast.fast_packing` of validated float64 CPU `loads` `[rows, n]`."""
    rows, n = loads.shape
    values = np.ascontiguousarray(loads.numpy())
    schedules, refine = _schedules(n, num_packs)
    pack_index = np.empty((rows, n), dtype=np.int64)
    rank_in_pack = np.empty((rows, n), dtype=np.int64)
    _packing(values, num_packs, schedules, refine, *_swap_settings(), pack_index, rank_in_pack)
    return torch.from_numpy(pack_index), torch.from_numpy(rank_in_pack)


def compile_ahead() -> float:
    """Compile every kernel now (or load it from the on-disk cache); returns the seconds taken.
    `python -m reference.fast_kernels` runs it, e.g. once after installing."""
    import time

    start = time.perf_counter()
    if not AVAILABLE:
        return 0.0
    from reference.policy import FastEplbPolicy

    loads = torch.arange(1, 33, dtype=torch.float64).view(2, 16)
    rebalance(loads, 20, 4, 2, 4)  # hierarchical: every kernel of the rebalance
    rebalance_phy2log(loads, 20, 4, 2, 4)  # (the same kernel, without log2phy)
    packing(loads, 4)
    plan = FastEplbPolicy.rebalance_experts(loads, 20, 4, 2, 4)
    FastEplbPolicy.rebalance_experts(loads, 20, 4, 2, 4, plan)
    return time.perf_counter() - start


if __name__ == "__main__":
    if not AVAILABLE:
        print("numba is not installed: reference:fast plans with its torch path")
    else:
        seconds = compile_ahead()
        print(f"reference:fast kernels compiled or loaded from the cache in {seconds:.1f} s")

"""Replication: give the redundant physical slots to the experts with the highest load per replica.

Slots 0..num_log-1 hold experts 0..num_log-1; each further slot goes to the expert with the highest
w_e / c_e (c_e its current replica count), ties to the lower expert index. Two paths that must agree
exactly on every input:

- `vectorized`: torch ops batched over layers, on the input's device (the device path);
- `heap`: a per-layer priority queue on the host with exact integer cross-multiplication.

Exactness of the vectorized path: w/c is compared through the key (q, s) with q = fl(w/c) and
s = fl(r/c), where r = w - q*c is the exact division remainder (computed error-free with a Veltkamp
split of q). Rounding is monotone, so q orders distinct ratios except within one ulp, and there s
decides: two distinct ratios w_a/c_a != w_b/c_b differ by at least ulp(w)/(c_a c_b), which for
counts below 2^20 is far above s's own rounding. So neither path can disagree through rounding.
"""

from __future__ import annotations

import heapq
from fractions import Fraction

import torch

from reference._validation import MAX_SLOTS, as_float64, check_int, check_method, check_weight

REPLICATION_METHODS = ("vectorized", "heap")
_VELTKAMP = float(2**27 + 1)

Replication = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def replicate_experts(
    weight: torch.Tensor, num_phy: int, *, method: str = "vectorized"
) -> Replication:
    """Replicate `[layers, num_log]` experts into `num_phy` physical slots.

    Returns `(phy2log [layers, num_phy], rank [layers, num_phy], logcnt [layers, num_log])`,
    int64 on `weight`'s device.
    """
    weight = check_weight(weight)
    check_method(method, "method", REPLICATION_METHODS)
    num_log = weight.shape[1]
    check_int(num_phy, "num_phy")
    if num_phy < num_log:
        raise ValueError(f"num_phy ({num_phy}) must be at least the number of experts ({num_log})")
    if num_log == 0 and num_phy > 0:
        raise ValueError("num_phy must be 0 when there are no experts")
    if num_phy > MAX_SLOTS:
        raise ValueError(f"num_phy ({num_phy}) is above the supported maximum {MAX_SLOTS}")
    return replicate(as_float64(weight), num_phy, method)


def replicate(loads: torch.Tensor, num_phy: int, method: str) -> Replication:
    """`replicate_experts` on already validated float64 loads (used inside `rebalance_experts`)."""
    if method == "heap":
        return _replicate_heap(loads, num_phy)
    return _replicate_vectorized(loads, num_phy)


def exact_ratio_key(loads: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, s): a lexicographic key that orders loads/counts exactly (see the module docstring).

    `counts` holds small integers as float64 (exact).
    """
    q = loads / counts
    scaled = q * _VELTKAMP
    q_high = scaled - (scaled - q)
    q_low = q - q_high
    remainder = (loads - q_high * counts) - q_low * counts  # both products exact
    return q, remainder / counts


def lexicographic_argmax(primary: torch.Tensor, secondary: torch.Tensor) -> torch.Tensor:
    """Per row, the first index maximising (primary, secondary); `secondary` is finite."""
    on_top = primary == primary.max(dim=1, keepdim=True).values
    masked = torch.where(on_top, secondary, float("-inf"))
    return masked.argmax(dim=1, keepdim=True)  # argmax returns the first maximum


def _replicate_vectorized(loads: torch.Tensor, num_phy: int) -> Replication:
    layers, num_log = loads.shape
    device = loads.device
    counts = torch.ones(layers, num_log, dtype=torch.float64, device=device)
    one = torch.ones(layers, 1, dtype=torch.float64, device=device)
    slots = [torch.arange(num_log, device=device).expand(layers, num_log)]
    ranks = [torch.zeros(layers, num_log, dtype=torch.float64, device=device)]
    for _ in range(num_log, num_phy):
        chosen = lexicographic_argmax(*exact_ratio_key(loads, counts))
        slots.append(chosen)
        ranks.append(counts.gather(1, chosen))
        counts.scatter_add_(1, chosen, one)
    as_int = torch.int64
    return torch.cat(slots, dim=1), torch.cat(ranks, dim=1).to(as_int), counts.to(as_int)


class _HeapEntry:
    """Heap order: higher w/c first (exact cross-multiplication), then the lower expert index."""

    __slots__ = ("count", "expert", "load")

    def __init__(self, load: int, count: int, expert: int) -> None:
        self.load, self.count, self.expert = load, count, expert

    def __lt__(self, other: _HeapEntry) -> bool:
        left, right = self.load * other.count, other.load * self.count
        return left > right or (left == right and self.expert < other.expert)


def _integer_loads(row: list[float]) -> list[int]:
    """Scale a layer's float loads by a common power of two to exact integers."""
    ratios = [Fraction(value) for value in row]
    scale = max((ratio.denominator for ratio in ratios), default=1)
    return [int(ratio * scale) for ratio in ratios]


def _replicate_heap(loads: torch.Tensor, num_phy: int) -> Replication:
    layers, num_log = loads.shape
    phy2log_rows, rank_rows, count_rows = [], [], []
    for row in loads.cpu().tolist():
        heap = [_HeapEntry(load, 1, expert) for expert, load in enumerate(_integer_loads(row))]
        heapq.heapify(heap)
        phy2log, rank, counts = list(range(num_log)), [0] * num_log, [1] * num_log
        for _ in range(num_log, num_phy):
            top = heap[0]
            phy2log.append(top.expert)
            rank.append(counts[top.expert])
            counts[top.expert] += 1
            heapq.heapreplace(heap, _HeapEntry(top.load, top.count + 1, top.expert))
        phy2log_rows.append(phy2log)
        rank_rows.append(rank)
        count_rows.append(counts)

    def as_tensor(rows: list[list[int]], width: int) -> torch.Tensor:
        host = torch.device("cpu")  # built on the host whatever the default device, then moved
        tensor = (
            torch.tensor(rows, dtype=torch.int64, device=host)
            if rows
            else torch.empty(0, width, device=host)
        )
        return tensor.to(dtype=torch.int64, device=loads.device).view(layers, width)

    return (
        as_tensor(phy2log_rows, num_phy),
        as_tensor(rank_rows, num_phy),
        as_tensor(count_rows, num_log),
    )

"""The greedy's replica counts in a few batched ops: select the top redundant slots by threshold.

The greedy replication gives each redundant slot to the expert with the highest load per replica
(ties: lower expert index), so expert e's j-th extra replica is taken at the value w_e / j, and
the `spare` slots go to the `spare` largest values of {w_e / j} in the order (value desc, expert
asc, j asc) (D'Hondt's apportionment). Only the `spare` heaviest experts can take one, and
the i-th heaviest (from 0) only a j with (i + 1) * (j - 1) < spare (`candidate_table`), so the
candidates are about spare * (ln(spare) + 1) pairs (145 instead of 1024 at 32 spare slots).
Their `spare`-th largest value q comes from one k-th value selection; a row takes every candidate
above q and, from those equal to q, as many as it still needs.

Exactness: candidates are q = fl(w_e / j), and rounding is monotone, so a candidate rounding above
q is truly above every candidate rounding to q or below. Among candidates rounding to q, the exact
remainder key of `reference.replication.exact_ratio_key`, then expert and j, decide (only rows
with such a tie pay for it). A row whose threshold equals the load of the heaviest expert left
out of the table, or is zero (zero-load candidates go in expert order, beyond the table's
bound), is recomputed by the exact one-slot-at-a-time path.
"""

from __future__ import annotations

import functools

import torch

from reference.replication import exact_ratio_key, replicate

MAX_CANDIDATES = 1 << 14  # per row; above this the exact greedy path is used instead


def greedy_counts(
    loads: torch.Tensor, num_phy: int, heaviest: tuple[torch.Tensor, torch.Tensor] | None = None
) -> torch.Tensor:
    """Replica count of every expert `[rows, n]` int64, identical to the greedy replication's.

    `heaviest`: each row's min(n, spare + 1) largest loads and their experts, largest first
    (equal loads in any order), when the caller has them already; otherwise a top-k finds them.
    """
    rows, n = loads.shape
    spare = num_phy - n
    counts = torch.ones(rows, n, dtype=torch.int64, device=loads.device)
    if spare == 0 or rows == 0:
        return counts
    k = min(n, spare)
    if k * spare > MAX_CANDIDATES:
        return replicate(loads, num_phy, "vectorized")[2]
    if heaviest is None:
        heaviest = torch.topk(loads, min(n, k + 1), dim=1)
    top_load, top_expert = heaviest
    expert_at, divisor = candidate_table(k, spare, loads.device)
    candidate_load = top_load.index_select(1, expert_at)  # [rows, C]: each candidate's w and e
    candidate_expert = top_expert.index_select(1, expert_at)
    candidates = candidate_load / divisor.to(loads.dtype)
    threshold = torch.kthvalue(
        candidates, candidates.shape[1] - spare + 1, dim=1, keepdim=True
    ).values
    chosen = candidates >= threshold
    tied = chosen.sum(1) > spare  # more candidates at the threshold than slots left for them
    if bool(tied.any()):
        rows_tied = tied.nonzero(as_tuple=True)[0]
        above = candidates[rows_tied] > threshold[rows_tied]
        chosen[rows_tied] = above | _break_ties(
            candidate_load[rows_tied],
            candidate_expert[rows_tied] * spare + divisor - 1,
            divisor,
            candidates[rows_tied] == threshold[rows_tied],
            spare - above.sum(1),
        )
    # Integer adds: exact in any order, so repeated experts are fine on every device.
    counts.scatter_add_(1, candidate_expert, chosen.to(torch.int64))
    # An expert outside the table could tie with the threshold; a zero threshold means zero-load
    # candidates, which the greedy takes in expert order (beyond the table's bound): exact path.
    threshold = threshold.squeeze(1)
    unsure = threshold <= top_load[:, k] if k < n else threshold == 0
    if bool(unsure.any()):
        rows_unsure = unsure.nonzero(as_tuple=True)[0]
        counts[rows_unsure] = replicate(loads[rows_unsure], num_phy, "vectorized")[2]
    return counts


@functools.cache
def _candidate_table(k: int, spare: int) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = [(i, j) for i in range(k) for j in range(1, spare + 1) if (i + 1) * (j - 1) < spare]
    table = torch.tensor(pairs, dtype=torch.int64, device="cpu")  # cached: never the default
    return table[:, 0].contiguous(), table[:, 1].contiguous()


def candidate_table(k: int, spare: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The (expert position i, divisor j) pairs that can win a slot: (i + 1) * (j - 1) < spare.

    The i heavier experts' values w_a / j' and the expert's own for j' < j are all strictly
    above a positive w_i / j, so (i + 1) * (j - 1) candidates precede it; with `spare` slots, a
    candidate beyond that bound is never taken (about spare * (ln(k) + 1) pairs, not k * spare).
    """
    expert_at, divisor = _candidate_table(k, spare)
    return expert_at.to(device), divisor.to(device)


def _break_ties(
    load: torch.Tensor,
    position: torch.Tensor,
    divisor: torch.Tensor,
    at: torch.Tensor,
    missing: torch.Tensor,
) -> torch.Tensor:
    """Of the candidates `at` the threshold, the `missing` first by (exact value desc, expert
    asc, j asc): the greedy's order. `load`/`position` `[rows, candidates]` are each candidate's
    expert load and expert * spare + j - 1, `divisor` its j. Returns the chosen mask."""
    _, remainder = exact_ratio_key(load, divisor.to(load.dtype).expand_as(load))
    remainder = torch.where(at, remainder, float("-inf"))
    # Order by (expert, j) first, then stably by the remainder (within equal q, the exact key).
    by_index = torch.sort(position, dim=1).indices
    by_value = torch.sort(remainder.gather(1, by_index), dim=1, descending=True, stable=True)
    order = by_index.gather(1, by_value.indices)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(order.shape[1], device=at.device).expand_as(order)
    )
    return at & (rank < missing.unsqueeze(1))

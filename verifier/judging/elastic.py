"""The rebalance contract under an active-ranks mask (elastic EP), and the plan's live view.

With dead ranks (`verifier.model.elastic`) a plan is judged on the live GPUs' slots, and every
dead slot must hold the placeholder expert (SGLang's convention, `PLACEHOLDER`):

- `elastic.dead_rank_load`: logcnt counts a replica in a dead rank's slot, so the expert's load is
  split onto a GPU that is gone;
- `elastic.expert_lost`: an expert with no replica on a live rank;
- `elastic.log2phy_dead`: log2phy lists a slot of a dead rank;
- `elastic.placeholder`: a dead slot holds something other than the placeholder (and is not counted
  as a replica: that is `dead_rank_load`);
- the usual counting rules on live slots only: `rebalance.expert_range`, `rebalance.logcnt_min`,
  `rebalance.logcnt_sum` (the live slots), `rebalance.logcnt_count` and `rebalance.log2phy`
  (exactly e's live slots).

`live_view` turns a valid masked plan into the plan of `live_instance` (the live slots only), on
which objectives and quality observations are computed: balance is judged over live GPUs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from verifier.model.elastic import (
    PLACEHOLDER,
    dead_slots,
    has_dead_ranks,
    live_instance,
    live_phy2log,
    live_slots,
    rank_of_slot,
)
from verifier.model.findings import Finding
from verifier.model.instances import Instance, RebalanceInstance, num_items

ELASTIC_CHECKS: dict[str, str] = {
    "elastic.dead_rank_load": "logcnt counts a replica on a dead rank: real load is served there",
    "elastic.expert_lost": "an expert has no replica on a live rank",
    "elastic.log2phy_dead": "log2phy points into a dead rank's slots",
    "elastic.placeholder": f"a dead rank's slot holds something other than the placeholder "
    f"expert {PLACEHOLDER}",
}

Matrix = list[list[int]]
Problem = Callable[[int], "str | None"]
PerLayer = Callable[[str, int, Problem], "Finding | None"]


def _live_counts(instance: RebalanceInstance, row: list[int]) -> Counter[int]:
    return Counter(row[slot] for slot in live_slots(instance))


def check_masked_rebalance(
    per_layer: PerLayer, instance: RebalanceInstance, outputs: dict[str, Any]
) -> list[Finding]:
    """Every rule of a rebalance plan under a mask with dead ranks (`per_layer` reports the first
    bad layer of a rule, as the invariant checker does)."""
    phy2log: Matrix = outputs["phy2log"]
    log2phy: list[Matrix] = outputs["log2phy"]
    logcnt: Matrix = outputs["logcnt"]
    layers, num_log = len(phy2log), num_items(instance)
    live, dead = live_slots(instance), dead_slots(instance)

    def out_of_range(layer: int) -> str | None:
        bad = [s for s in live if not 0 <= phy2log[layer][s] < num_log]
        if bad:
            expert = phy2log[layer][bad[0]]
            return f"live slot {bad[0]} holds expert {expert}, outside 0..{num_log - 1}"
        return None

    in_range = per_layer("rebalance.expert_range", layers, out_of_range)
    if in_range:
        return [in_range]

    def dead_load(layer: int) -> str | None:
        counts = _live_counts(instance, phy2log[layer])
        for slot in dead:
            expert = phy2log[layer][slot]
            if 0 <= expert < num_log and logcnt[layer][expert] > counts[expert]:
                return (
                    f"logcnt[{expert}] = {logcnt[layer][expert]} counts slot {slot} on dead rank "
                    f"{rank_of_slot(instance, slot)} (expert {expert} has {counts[expert]} "
                    f"replicas on live ranks): its load is served by a dead rank"
                )
        return None

    def lost(layer: int) -> str | None:
        counts = _live_counts(instance, phy2log[layer])
        missing = [e for e in range(num_log) if counts[e] == 0]
        return f"expert {missing[0]} has no replica on a live rank" if missing else None

    def placeholder(layer: int) -> str | None:
        bad = [s for s in dead if phy2log[layer][s] != PLACEHOLDER]
        if bad:
            return (
                f"slot {bad[0]} of dead rank {rank_of_slot(instance, bad[0])} holds "
                f"{phy2log[layer][bad[0]]}, not the placeholder {PLACEHOLDER}"
            )
        return None

    def points_dead(layer: int) -> str | None:
        dead_set = set(dead)
        for expert, row in enumerate(log2phy[layer]):
            into = [slot for slot in row if slot in dead_set]
            if into:
                return (
                    f"log2phy[{expert}] = {row} lists slot {into[0]} of dead rank "
                    f"{rank_of_slot(instance, into[0])}"
                )
        return None

    loaded = per_layer("elastic.dead_rank_load", layers, dead_load)
    routed = per_layer("elastic.log2phy_dead", layers, points_dead)
    missing = per_layer("elastic.expert_lost", layers, lost)
    found = [finding for finding in (loaded, missing, routed) if finding]
    if not loaded:  # a dead slot counted as a replica is no placeholder, and breaks the counts
        parked = per_layer("elastic.placeholder", layers, placeholder)
        found += [parked] if parked else []
        found += _live_counting(per_layer, instance, outputs, mapping=routed is None)
    return found


def _live_counting(
    per_layer: PerLayer, instance: RebalanceInstance, outputs: dict[str, Any], mapping: bool
) -> list[Finding]:
    """logcnt, and log2phy when `mapping` (it lists no dead slot), against the live slots."""
    phy2log, log2phy, logcnt = outputs["phy2log"], outputs["log2phy"], outputs["logcnt"]
    layers, live = len(phy2log), live_slots(instance)

    def below_one(layer: int) -> str | None:
        bad = [(e, c) for e, c in enumerate(logcnt[layer]) if c < 1]
        return f"expert {bad[0][0]} has logcnt {bad[0][1]}" if bad else None

    def wrong_sum(layer: int) -> str | None:
        total = sum(logcnt[layer])
        if total != len(live):
            return f"logcnt sums to {total}, expected the {len(live)} live slots"
        return None

    def wrong_count(layer: int) -> str | None:
        counts = _live_counts(instance, phy2log[layer])
        for expert, count in enumerate(logcnt[layer]):
            if counts[expert] != count:
                return f"logcnt[{expert}] = {count} but {counts[expert]} live slots hold it"
        return None

    def wrong_slots(layer: int) -> str | None:
        slots_of: dict[int, list[int]] = {}
        for slot in live:
            slots_of.setdefault(phy2log[layer][slot], []).append(slot)
        for expert, row in enumerate(log2phy[layer]):
            count = logcnt[layer][expert]
            if sorted(row[:count]) != slots_of.get(expert, []):
                return (
                    f"log2phy[{expert}] lists slots {row[:count]}, but expert {expert} is in "
                    f"live slots {slots_of.get(expert, [])}"
                )
            if any(value != -1 for value in row[count:]):
                return f"log2phy[{expert}] = {row}: entries after the first {count} must be -1"
        return None

    rules = (
        ("rebalance.logcnt_min", below_one),
        ("rebalance.logcnt_sum", wrong_sum),
        ("rebalance.logcnt_count", wrong_count),
    )
    found = [finding for check, rule in rules if (finding := per_layer(check, layers, rule))]
    if mapping and not found:
        listed = per_layer("rebalance.log2phy", layers, wrong_slots)
        found += [listed] if listed else []
    return found


def live_view(instance: Instance, outputs: dict[str, Any]) -> tuple[Instance, dict[str, Any]]:
    """A valid plan under a mask as the plan of `live_instance` (live slots only, log2phy
    renumbered to them); any other instance and plan as they are."""
    if not isinstance(instance, RebalanceInstance) or not has_dead_ranks(instance):
        return instance, outputs
    position = {slot: index for index, slot in enumerate(live_slots(instance))}
    view = dict(outputs)
    view["phy2log"] = [live_phy2log(instance, row) for row in outputs["phy2log"]]
    if "log2phy" in outputs:
        view["log2phy"] = [
            [[position.get(slot, -1) for slot in row] for row in layer]
            for layer in outputs["log2phy"]
        ]
    return live_instance(instance), view

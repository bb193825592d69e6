"""A FlashLB-style stateful policy (written for these tests): a per-layer hotness window, an
update threshold, a cap on layers changed per call, and a seeded random fill.

SGLang's names (`tokens_per_expert` [steps, layers, experts]) and vLLM's old placement
(`old_global_expert_indices`); one instance is meant to live across calls
(`eplb-verify check ... --sequence N`):

- hotness: per layer, the moving average of the per-call loads over the last `WINDOW` calls;
- with an old plan (passed, or its own previous one), a layer is planned again (DeepSeek's
  greedy on its hotness) only when that lowers its max GPU load under the hotness by at least
  `THRESHOLD` (relative); otherwise it keeps its old plan (so a call may change nothing);
- at most `MAX_LAYERS` layers change per call (the largest gains first);
- a layer planned again keeps each expert that stays on a GPU in its old slot and fills the
  freed slots in an order drawn from the instance's seeded generator;
- the maps (`log2phy`, `logcnt`) are cached and refreshed for the layers that changed.
"""

from __future__ import annotations

import random
from collections import Counter

import torch

from reference import rebalance_experts as reference_rebalance

WINDOW = 4  # calls in the hotness moving average
THRESHOLD = 0.02  # least relative gain in max GPU load that changes a layer
MAX_LAYERS = 2  # most layers changed per call
SEED = 0


def max_gpu_load(row: torch.Tensor, hot: torch.Tensor, num_gpus: int) -> float:
    """The max GPU load of one layer's phy2log `row` under the per-expert loads `hot`."""
    counts = torch.bincount(row, minlength=hot.numel()).double().clamp(min=1)
    slot_loads = (hot / counts)[row]
    return float(slot_loads.view(num_gpus, -1).sum(dim=1).max())


def layer_maps(row: torch.Tensor, num_experts: int, width: int) -> tuple[torch.Tensor, ...]:
    """(log2phy [experts, width], logcnt [experts]) of one layer's phy2log `row`."""
    logcnt = torch.bincount(row, minlength=num_experts)
    log2phy = torch.full((num_experts, width), -1, dtype=torch.int64)
    filled = [0] * num_experts
    for slot, expert in enumerate(row.tolist()):
        log2phy[expert, filled[expert]] = slot
        filled[expert] += 1
    return log2phy, logcnt


def keep_and_fill(
    old: torch.Tensor, new: torch.Tensor, num_gpus: int, rng: random.Random
) -> torch.Tensor:
    """`new`'s experts per GPU, those already on the GPU in their old slots, the others in the
    freed slots in an order drawn from `rng`."""
    per_gpu = old.numel() // num_gpus
    out = []
    for gpu in range(num_gpus):
        span = slice(gpu * per_gpu, (gpu + 1) * per_gpu)
        wanted = Counter(new[span].tolist())
        slots: list[int | None] = []
        for expert in old[span].tolist():
            keep = wanted[expert] > 0
            wanted[expert] -= keep
            slots.append(expert if keep else None)
        rest = sorted(wanted.elements())
        rng.shuffle(rest)
        out += [expert if expert is not None else rest.pop() for expert in slots]
    return torch.tensor(out, dtype=torch.int64)


class WindowedPolicy:
    def __init__(self) -> None:
        self.history: list[torch.Tensor] = []
        self.plan = torch.empty(0, dtype=torch.int64)
        self.log2phy = torch.empty(0, dtype=torch.int64)
        self.logcnt = torch.empty(0, dtype=torch.int64)
        self.rng = self.generator()

    def generator(self) -> random.Random:
        """The random stream of the fill: seeded, so that a sequence repeats exactly."""
        return random.Random(SEED)

    def refresh(self, changed: list[int]) -> None:
        """The cached maps of the layers in `changed`, from the plan."""
        experts, width = self.logcnt.shape[1], self.log2phy.shape[2]
        for layer in changed:
            self.log2phy[layer], self.logcnt[layer] = layer_maps(self.plan[layer], experts, width)

    def update_maps(self, changed: list[int]) -> None:
        """After a call that changed the layers `changed` of the previous plan."""
        self.refresh(changed)

    def changed_layers(
        self, old: torch.Tensor, fresh: torch.Tensor, hot: torch.Tensor
    ) -> list[int]:
        """The layers whose fresh plan gains at least `THRESHOLD`, at most `MAX_LAYERS`."""
        num_gpus = self.num_gpus
        gains = []
        for layer in range(old.shape[0]):
            before = max_gpu_load(old[layer], hot[layer], num_gpus)
            after = max_gpu_load(fresh[layer], hot[layer], num_gpus)
            if before > 0 and (before - after) / before >= THRESHOLD:
                gains.append(((before - after) / before, layer))
        return sorted(layer for _, layer in sorted(gains, reverse=True)[:MAX_LAYERS])

    def rebalance_experts(
        self,
        tokens_per_expert: torch.Tensor,
        num_physical_experts: int,
        num_local_physical_experts: int,
        num_groups: int | None,
        num_nodes: int,
        enable_hierarchical: bool,
        old_global_expert_indices: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loads = tokens_per_expert.double().sum(dim=0).cpu()
        if self.history and self.history[-1].shape != loads.shape:
            self.history = []  # another model: start again
        self.history = [*self.history, loads][-WINDOW:]
        hot = torch.stack(self.history).mean(dim=0)
        self.num_gpus = num_physical_experts // num_local_physical_experts
        groups, nodes = (num_groups, num_nodes) if enable_hierarchical and num_groups else (1, 1)
        fresh = reference_rebalance(hot, num_physical_experts, groups, nodes, self.num_gpus)[0]
        old = old_global_expert_indices
        old = old.cpu() if old is not None else self.plan
        layers, experts = loads.shape
        if old.shape != fresh.shape:  # no old plan: every layer from scratch
            cached, self.plan = False, fresh.clone()
        else:
            changed = self.changed_layers(old, fresh, hot)
            cached = torch.equal(old, self.plan)  # its own previous plan: the maps are cached
            self.plan = old.clone()
            for layer in changed:
                self.plan[layer] = keep_and_fill(old[layer], fresh[layer], self.num_gpus, self.rng)
        if cached:
            self.update_maps(changed)
        else:
            width = num_physical_experts - experts + 1
            self.log2phy = torch.full((layers, experts, width), -1, dtype=torch.int64)
            self.logcnt = torch.zeros((layers, experts), dtype=torch.int64)
            self.refresh(list(range(layers)))
        device = tokens_per_expert.device
        return (
            self.plan.clone().to(device),
            self.log2phy.clone().to(device),
            self.logcnt.clone().to(device),
        )

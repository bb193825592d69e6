"""The old placement a call gets when its function requires one and the harness gives none
(child side): the reference greedy's plan for seeded, perturbed loads.

A function that requires an old placement (`verifier.calling.profiles.axis_detection`) cannot
plan from scratch, so its own earlier plan cannot be had either: every call without an old
placement (the primary call, determinism, the relations, layer independence, the probe) gets
the reference plan instead. Each expert's load is scaled by a factor in [0.5, 1.5] drawn from a
generator seeded by the call's shape and arguments only, the same factors for every layer: a
layer alone gets the same old row as in its batch (layer independence holds), scaling the loads
by a power of two scales the perturbed loads exactly (the scaling relation holds), and the same
call always gets the same old placement (determinism holds). The incremental check still passes
the candidate's own plan for perturbed loads (`verifier.judging.incremental`).
"""

from __future__ import annotations

import random
from typing import Any

NOTE = "old placement: the reference greedy's plan for seeded perturbed loads (required)"


def perturbation(num_log: int, args: tuple[int, ...]) -> list[float]:
    """One factor in [0.5, 1.5] per expert, seeded by the shape and arguments."""
    rng = random.Random(f"old-placement:{num_log}:{','.join(map(str, args))}")
    return [rng.uniform(0.5, 1.5) for _ in range(num_log)]


def reference_old_placement(weight: Any, args: tuple[int, ...], hierarchical: bool) -> Any:
    """phy2log [layers, num_replicas] (int64, on the input's device) of the reference greedy on
    the perturbed loads; None where the reference cannot plan the case (its error is the
    candidate's call to meet)."""
    import torch

    from reference import rebalance_experts

    if weight.dim() != 2 or weight.shape[1] == 0:
        return None
    num_replicas, num_groups, num_nodes, num_gpus = args
    if not hierarchical:
        num_groups = num_nodes = 1
    factors = torch.tensor(perturbation(weight.shape[1], args), dtype=torch.float64)
    loads = weight.detach().to("cpu", torch.float64) * factors
    try:
        phy2log, _, _ = rebalance_experts(loads, num_replicas, num_groups, num_nodes, num_gpus)
    except Exception:  # an instance the reference rejects: the call goes without
        return None
    return phy2log.to(torch.int64).to(weight.device)

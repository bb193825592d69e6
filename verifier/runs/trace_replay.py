"""Running a candidate over a load trace: one plan per window, charged with the next window's loads.

Shared by `eplb-verify score` (balancedness) and the report's generalisation section (`--trace`).
The cluster a trace is planned for follows DeepSeek-V3's proportions (`cluster_for`). Every call
runs in the sandbox and goes through the shared invariant checker; objectives are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from verifier.calling.caller import call_on
from verifier.calling.sandbox import Sandbox
from verifier.judging.judge import Verdict, judge
from verifier.model.contract import Policy
from verifier.model.instances import RebalanceInstance, Weights
from verifier.model.objectives import gpu_loads, ideal_load, rebalance_objective
from verifier.model.traces import Trace

REBALANCE = "rebalance_experts"


def cluster_for(experts: int) -> tuple[int, int, int, int]:
    """(num_replicas, num_groups, num_nodes, num_gpus) for a trace of `experts` experts.

    DeepSeek-V3's proportions: the most GPUs (up to 32, dividing `experts`) that keep at least 8
    experts per GPU, one redundant slot per GPU, 8 expert groups where they divide, 4 nodes where
    groups and GPUs divide by 4. 256 experts give 288 replicas, 8 groups, 4 nodes, 32 GPUs.
    """
    gpus = next(
        k for k in (32, 16, 8, 4, 2, 1) if (experts % k == 0 and experts // k >= 8) or k == 1
    )
    groups = 8 if experts % 8 == 0 else 1
    nodes = 4 if groups % 4 == 0 and gpus % 4 == 0 else 1
    return experts + gpus, groups, nodes, gpus


def window_instance(trace: Trace, window: int) -> RebalanceInstance:
    """The rebalance problem of one window: all layers at once, on `cluster_for`'s cluster."""
    return RebalanceInstance(trace.windows[window], *cluster_for(trace.experts))


def judged_call(
    box: Sandbox, spec: str, instance: RebalanceInstance, policy: Policy, timeout: float
) -> tuple[Verdict, list[str]]:
    """One sandboxed `rebalance_experts` call, judged on the one shared path, and its violations."""
    verdict = judge(instance, call_on(box, instance, spec=spec, timeout=timeout), policy=policy)
    return verdict, [f"{f.check}: {f.message}" for f in verdict.violations]


@dataclass(frozen=True)
class TracePlans:
    """phy2log per window (`plans[t][layer]`), or the problem that stopped the run."""

    plans: list[list[list[int]]]
    problem: str = ""


def plan_windows(
    box: Sandbox, spec: str, trace: Trace, *, policy: Policy, timeout: float
) -> TracePlans:
    """The candidate's plan for every window; stops at the first failed or invalid call."""
    plans: list[list[list[int]]] = []
    for t in range(len(trace.windows)):
        verdict, problems = judged_call(box, spec, window_instance(trace, t), policy, timeout)
        if problems or verdict.outputs is None:
            problem = problems[0] if problems else f"the call {verdict.status}"
            return TracePlans(plans, f"on trace window {t}: {problem}")
        plans.append(verdict.outputs["phy2log"])
    return TracePlans(plans)


def layer_balancedness(loads: Weights, plan: Sequence[Sequence[int]], gpus: int) -> list[float]:
    """Per layer: mean GPU load / max GPU load of `plan` under `loads` (1.0 for an idle layer)."""
    ratios = []
    for row, phy2log in zip(loads, plan, strict=True):
        per_gpu = gpu_loads(row, phy2log, gpus)
        peak = max(per_gpu)
        ratios.append(1.0 if peak == 0 else float(sum(per_gpu, Fraction(0)) / gpus / peak))
    return ratios


def stale_ratios(trace: Trace, plans: Sequence[Sequence[Sequence[int]]]) -> list[float]:
    """Balancedness of plan(t) under loads(t + 1), per layer and window."""
    gpus = cluster_for(trace.experts)[3]
    ratios: list[float] = []
    for t in range(len(plans) - 1):
        ratios += layer_balancedness(trace.windows[t + 1], plans[t], gpus)
    return ratios


@dataclass(frozen=True)
class LayerWindow:
    """Max GPU loads on window t + 1 of one layer: the stale plan(t), the fresh plan(t + 1)."""

    window: int
    layer: int
    stale: Fraction
    fresh: Fraction
    ideal: Fraction  # mean GPU load
    bound: Fraction  # certified lower bound on window t + 1's optimum


def window_bounds(trace: Trace) -> list[list[Fraction]]:
    """Cheap certified lower bounds on the optimum of every layer of windows 1, 2, ...
    (computed once per trace: they do not depend on the candidate)."""
    from verifier.oracle import lower_bound

    bounds = []
    for t in range(1, len(trace.windows)):
        instance = window_instance(trace, t)
        bounds.append([lower_bound(instance, layer) for layer in range(trace.layers)])
    return bounds


def layer_windows(
    trace: Trace, plans: Sequence[Sequence[Sequence[int]]], bounds: Sequence[Sequence[Fraction]]
) -> list[LayerWindow]:
    """Stale and fresh max GPU loads of every layer and window, with `window_bounds`."""
    found = []
    for t in range(len(plans) - 1):
        following = window_instance(trace, t + 1)
        gpus = following.num_gpus
        for layer, row in enumerate(following.weights):
            found.append(
                LayerWindow(
                    t,
                    layer,
                    rebalance_objective(row, plans[t][layer], gpus),
                    rebalance_objective(row, plans[t + 1][layer], gpus),
                    ideal_load(following, row),
                    bounds[t][layer],
                )
            )
    return found

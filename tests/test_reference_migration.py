"""The reference's budgeted baseline (`reference.migration`): within budget, valid, and never
below the exact OPT(K) of the migration-aware oracle."""

from __future__ import annotations

import random

import pytest
import torch

from reference.migration import rebalance_with_budget
from reference.rebalance import rebalance_experts
from verifier.model.instances import Number, RebalanceInstance
from verifier.model.objectives import moves, rebalance_objective
from verifier.oracle import instance_shape, solve_budgeted_layer
from verifier.oracle.migration import keeps_contract

SHAPES = [(12, 1, 1, 4), (12, 4, 2, 4), (8, 2, 2, 4)]


def _case(seed: int, shape: tuple[int, int, int, int]) -> RebalanceInstance:
    rng = random.Random(seed)
    replicas, groups, nodes, gpus = shape
    n = 8 if replicas == 12 else 4
    weights: list[Number] = [rng.randint(0, 200) for _ in range(n)]
    old = list(range(n)) + [rng.randrange(n) for _ in range(replicas - n)]
    rng.shuffle(old)
    return RebalanceInstance([weights], replicas, groups, nodes, gpus, old_phy2log=[old])


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_within_budget_valid_and_never_below_opt_k(
    seed: int, shape: tuple[int, int, int, int]
) -> None:
    instance = _case(seed, shape)
    assert instance.old_phy2log is not None
    old, weights = instance.old_phy2log[0], instance.weights[0]
    sizes = (instance.num_replicas, instance.num_groups, instance.num_nodes, instance.num_gpus)
    greedy, _, _ = rebalance_experts(torch.tensor([weights]), *sizes)
    for budget in (0, 1, 3, instance.num_replicas):
        plan = rebalance_with_budget(torch.tensor([weights]), *sizes, torch.tensor([old]), budget)[
            0
        ].tolist()
        assert sorted(set(plan)) == list(range(len(weights)))  # every expert placed
        assert moves(old, plan, instance.num_gpus) <= budget
        load = rebalance_objective(weights, plan, instance.num_gpus)
        opt = solve_budgeted_layer(instance, 0, budget, time_limit=5.0)
        if keeps_contract(plan, instance_shape(instance)):
            assert opt.objective is not None and load >= opt.bound
        else:  # only the old placement breaks the contract, and only when no undo was possible
            assert plan == old
    # an unlimited budget keeps the greedy plan's load (its GPUs merely renamed)
    assert load == rebalance_objective(weights, greedy[0].tolist(), instance.num_gpus)


def test_a_budget_per_layer_and_bad_budgets() -> None:
    weights = torch.tensor([[4, 3, 2, 1], [1, 2, 3, 4]])
    old = torch.tensor([[0, 1, 2, 3, 0, 1], [3, 2, 1, 0, 3, 2]])
    plans = rebalance_with_budget(weights, 6, 1, 1, 2, old, [0, 6]).tolist()
    assert moves(old[0].tolist(), plans[0], 2) == 0  # the old GPU contents, in sorted order
    greedy, _, _ = rebalance_experts(weights, 6, 1, 1, 2)
    loads = [rebalance_objective(w, p, 2) for w, p in zip(weights.tolist(), plans, strict=True)]
    assert loads[1] == rebalance_objective(weights[1].tolist(), greedy[1].tolist(), 2)
    with pytest.raises(ValueError, match="max_moves"):
        rebalance_with_budget(weights, 6, 1, 1, 2, old, -1)

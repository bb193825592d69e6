"""Hypothesis strategies for elastic EP: rebalance instances with an active-ranks mask.

Every instance has at least two GPUs and 1 ... num_gpus - 1 dead ranks (all but one included); the
slots per GPU are drawn so that the live GPUs still hold every expert. Loads come from the same
families as every other instance (`verifier.model.strategies.weights`).
"""

from __future__ import annotations

from hypothesis import strategies as st

from verifier.model.instances import Instance, RebalanceInstance
from verifier.model.strategies import instances_for, weights


@st.composite
def masked_rebalance_instances(draw: st.DrawFn, family: str | None = None) -> RebalanceInstance:
    """A rebalance instance with 1 ... num_gpus - 1 dead ranks, anywhere in the mask."""
    num_nodes = draw(st.integers(1, 2))
    num_gpus = num_nodes * draw(st.integers(1, 4))
    if num_gpus < 2:
        num_gpus = 2 * num_nodes
    num_groups = num_nodes * draw(st.integers(1, 2))
    num_log = num_groups * draw(st.integers(1, 4))
    dead = draw(st.integers(1, num_gpus - 1))
    live = num_gpus - dead
    slots_per_gpu = -(-num_log // live) + draw(st.integers(0, 2))
    dead_set = set(draw(st.permutations(range(num_gpus)))[:dead])
    mask = [0 if rank in dead_set else 1 for rank in range(num_gpus)]
    return RebalanceInstance(
        draw(weights(num_log, family=family)),
        num_gpus * slots_per_gpu,
        num_groups,
        num_nodes,
        num_gpus,
        active_ranks=mask,
    )


def instances_with_masks(function: str, family: str | None = None) -> st.SearchStrategy[Instance]:
    """For a function that takes a mask: plain instances and masked ones, half and half."""
    plain = instances_for(function, family=family)
    if function != "rebalance_experts":
        return plain
    return st.one_of(plain, masked_rebalance_instances(family=family))

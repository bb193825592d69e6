"""The shape of a rebalance problem and how a placement is written down.

Slot p sits on GPU p // slots_per_gpu, GPU g on node g // gpus_per_node; under the hierarchical
contract the experts form `num_groups` contiguous groups, each group lives whole on one node, and an
expert's replicas stay on its group's node. The global (flat) problem is the same with one group and
one node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Shape:
    """Sizes of one rebalance problem (already known to divide evenly)."""

    num_experts: int
    num_replicas: int
    num_groups: int
    num_nodes: int
    num_gpus: int

    @classmethod
    def flat(cls, num_experts: int, num_replicas: int, num_gpus: int) -> Shape:
        """The unconstrained problem: one group, one node."""
        return cls(num_experts, num_replicas, 1, 1, num_gpus)

    @property
    def slots_per_gpu(self) -> int:
        return self.num_replicas // self.num_gpus

    @property
    def gpus_per_node(self) -> int:
        return self.num_gpus // self.num_nodes

    @property
    def groups_per_node(self) -> int:
        return self.num_groups // self.num_nodes

    @property
    def experts_per_group(self) -> int:
        return self.num_experts // self.num_groups

    @property
    def experts_per_node(self) -> int:
        return self.num_experts // self.num_nodes

    @property
    def replicas_per_node(self) -> int:
        return self.num_replicas // self.num_nodes

    @property
    def max_replicas(self) -> int:
        """Most replicas one expert can have (its node's slots less one per other expert there)."""
        return self.replicas_per_node - self.experts_per_node + 1

    def group_of(self, expert: int) -> int:
        return expert // self.experts_per_group

    def node_of_gpu(self, gpu: int) -> int:
        return gpu // self.gpus_per_node

    def experts_of_group(self, group: int) -> range:
        size = self.experts_per_group
        return range(group * size, (group + 1) * size)

    def group_loads(self, weights: Sequence[Fraction]) -> list[Fraction]:
        """Total load of every group (the items packed onto nodes)."""
        return [
            sum((weights[e] for e in self.experts_of_group(g)), Fraction(0))
            for g in range(self.num_groups)
        ]


def check_shape(
    num_experts: int, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> None:
    """Raise ValueError naming the first argument that makes the shape impossible."""
    for name, value in (
        ("num_replicas", num_replicas),
        ("num_groups", num_groups),
        ("num_nodes", num_nodes),
        ("num_gpus", num_gpus),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if num_experts < 1:
        raise ValueError("weights: need at least one expert")
    if num_experts % num_groups:
        raise ValueError(f"num_groups ({num_groups}) must divide the {num_experts} experts")
    if num_gpus % num_nodes:
        raise ValueError(f"num_nodes ({num_nodes}) must divide num_gpus ({num_gpus})")
    if num_replicas % num_gpus:
        raise ValueError(f"num_gpus ({num_gpus}) must divide num_replicas ({num_replicas})")
    if num_replicas < num_experts:
        raise ValueError(f"num_replicas ({num_replicas}) < number of experts ({num_experts})")


def phy2log_from_gpus(experts_per_gpu: Sequence[Sequence[int]]) -> list[int]:
    """The slot -> expert map of a placement given as each GPU's experts (GPU order, sorted)."""
    return [expert for experts in experts_per_gpu for expert in sorted(experts)]


def naive_placement(shape: Shape) -> list[int]:
    """A valid placement with no thought in it (a starting point for searches and tests): groups
    to nodes in order, every expert once, each node's spare slots to its first expert."""
    experts_per_gpu: list[list[int]] = []
    for node in range(shape.num_nodes):
        groups = range(node * shape.groups_per_node, (node + 1) * shape.groups_per_node)
        experts = [e for g in groups for e in shape.experts_of_group(g)]
        spare = shape.replicas_per_node - len(experts)
        replicas = [experts[0]] * spare + experts
        slots = shape.slots_per_gpu
        experts_per_gpu += [replicas[i : i + slots] for i in range(0, len(replicas), slots)]
    return phy2log_from_gpus(experts_per_gpu)

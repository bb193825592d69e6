"""Rebalance end to end, exactly: over every replica count and every placement at once (CP-SAT).

Greedy replication followed by the best packing is not jointly optimal (loads (1, 0, ..., 0) with
num_log + G slots on G GPUs cost 2G/(G+1) times the optimum), so small instances are solved as one
model:

- u[g][v]: group g on node v (hierarchical only; nodes labelled by their first group);
- one-hot replica count c_e in 1..c_max per expert, y[e][g] replicas of e on GPU g, every GPU full;
- z[e][g] = y[e][g] * W_e / c_e, linear once the count is fixed (one enforced equality per count),
  with loads scaled by lcm(1..c_max) so that every W_e / c is an integer;
- GPU loads ordered within a node, equal experts of one group with non-increasing counts, the load
  total stated outright (it sharpens the linear relaxation), the cap boxed between a certified lower
  bound and the incumbent minus one (so "infeasible" proves the incumbent optimal).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from ortools.sat.python import cp_model

from verifier.oracle.cpsat import new_model
from verifier.oracle.layout import Shape


class EndToEndModel:
    """The joint replication-and-placement model over integer expert loads `loads`."""

    def __init__(self, loads: Sequence[int], shape: Shape, low: int, high: int) -> None:
        self.shape = shape
        self.c_max = shape.max_replicas
        self.multiplier = math.lcm(*range(1, self.c_max + 1))
        big = [w * self.multiplier for w in loads]
        model = new_model()
        self.model = model
        self.node_vars = self._group_nodes()
        n, gpus, slots = shape.num_experts, shape.num_gpus, shape.slots_per_gpu
        per_gpu = min(slots, self.c_max)
        self.count = [
            [model.new_bool_var(f"c{e}_{c}") for c in range(self.c_max)] for e in range(n)
        ]
        self.y = [
            [model.new_int_var(0, per_gpu, f"y{e}_{g}") for g in range(gpus)] for e in range(n)
        ]
        z = [[model.new_int_var(0, big[e], f"z{e}_{g}") for g in range(gpus)] for e in range(n)]
        for e in range(n):
            model.add_exactly_one(self.count[e])
            model.add(sum(self.y[e]) == sum((c + 1) * v for c, v in enumerate(self.count[e])))
            model.add(sum(z[e]) == big[e])
            for c, chosen in enumerate(self.count[e]):
                share = big[e] // (c + 1)
                if share > high:
                    model.add(chosen == 0)  # one replica alone would exceed the cap
                    continue
                for g in range(gpus):
                    model.add(z[e][g] == share * self.y[e][g]).only_enforce_if(chosen)
            for g in range(gpus):
                self._keep_on_own_node(e, g, per_gpu)
        gpu_loads = [sum(z[e][g] for e in range(n)) for g in range(gpus)]
        self._order_equal_experts(loads)
        self.cap = model.new_int_var(low, high, "cap")
        for g in range(gpus):
            model.add(sum(self.y[e][g] for e in range(n)) == slots)
            model.add(gpu_loads[g] <= self.cap)
            if g + 1 < gpus and shape.node_of_gpu(g) == shape.node_of_gpu(g + 1):
                model.add(gpu_loads[g] >= gpu_loads[g + 1])
        model.add(sum(gpu_loads) == sum(big))
        model.minimize(self.cap)

    def _group_nodes(self) -> list[list[cp_model.IntVar]]:
        shape, model = self.shape, self.model
        if shape.num_nodes == 1:
            return []
        u = [
            [model.new_bool_var(f"u{g}_{v}") for v in range(min(g, shape.num_nodes - 1) + 1)]
            for g in range(shape.num_groups)
        ]
        for g in range(shape.num_groups):
            model.add_exactly_one(u[g])
        for v in range(shape.num_nodes):
            model.add(sum(u[g][v] for g in range(v, shape.num_groups)) == shape.groups_per_node)
            if v:
                for g in range(v, shape.num_groups):
                    earlier = [u[h][v - 1] for h in range(v - 1, g)]
                    model.add_bool_or([*earlier, u[g][v].Not()])
        return u

    def _keep_on_own_node(self, expert: int, gpu: int, per_gpu: int) -> None:
        if not self.node_vars:
            return
        group, node = self.shape.group_of(expert), self.shape.node_of_gpu(gpu)
        on_node = self.node_vars[group]
        if node < len(on_node):
            self.model.add(self.y[expert][gpu] <= per_gpu * on_node[node])
        else:
            self.model.add(self.y[expert][gpu] == 0)

    def _order_equal_experts(self, loads: Sequence[int]) -> None:
        """Equal experts of one group are interchangeable: give the first at least as many."""
        counts = [sum((c + 1) * v for c, v in enumerate(row)) for row in self.count]
        for e in range(self.shape.num_experts - 1):
            same_group = self.shape.group_of(e) == self.shape.group_of(e + 1)
            if same_group and loads[e] == loads[e + 1]:
                self.model.add(counts[e] >= counts[e + 1])

    def hint(self, phy2log: Sequence[int]) -> None:
        """Hint a placement (made canonical: nodes by first group, GPUs by load in each node)."""
        shape = self.shape
        slots = shape.slots_per_gpu
        gpus = [list(phy2log[g * slots : (g + 1) * slots]) for g in range(shape.num_gpus)]
        counts = [0] * shape.num_experts
        for expert in phy2log:
            counts[expert] += 1
        for e in range(shape.num_experts):
            for c, var in enumerate(self.count[e]):
                self.model.add_hint(var, counts[e] == c + 1)
            for g, experts in enumerate(gpus):
                self.model.add_hint(self.y[e][g], experts.count(e))

    def phy2log(self, solver: cp_model.CpSolver) -> list[int]:
        """The solved placement, slot by slot."""
        shape = self.shape
        result: list[int] = []
        for g in range(shape.num_gpus):
            for e in range(shape.num_experts):
                result.extend([e] * solver.value(self.y[e][g]))
        return result


def canonical_placement(
    loads: Sequence[Fraction], phy2log: Sequence[int], shape: Shape
) -> list[int]:
    """The same placement relabelled to satisfy the model's symmetry breaking, for a useful hint:
    equal experts of a group by non-increasing count, nodes by first group, GPUs by load."""
    counts = [0] * shape.num_experts
    for expert in phy2log:
        counts[expert] += 1
    rename = list(range(shape.num_experts))
    start = 0
    while start < shape.num_experts:
        end = start + 1
        while (
            end < shape.num_experts
            and loads[end] == loads[start]
            and shape.group_of(end) == shape.group_of(start)
        ):
            end += 1
        by_count = sorted(range(start, end), key=lambda e: (-counts[e], e))
        for new, old in zip(range(start, end), by_count, strict=True):
            rename[old] = new
        start = end
    slots = shape.slots_per_gpu
    gpus = [
        [rename[e] for e in phy2log[g * slots : (g + 1) * slots]] for g in range(shape.num_gpus)
    ]
    per_node = shape.gpus_per_node
    nodes = [gpus[v * per_node : (v + 1) * per_node] for v in range(shape.num_nodes)]
    nodes.sort(key=lambda node: min(shape.group_of(e) for gpu in node for e in gpu))
    new_counts = [0] * shape.num_experts
    for expert in phy2log:
        new_counts[rename[expert]] += 1

    def gpu_load(gpu: list[int]) -> Fraction:
        return sum((loads[e] / new_counts[e] for e in gpu), Fraction(0))

    ordered = [gpu for node in nodes for gpu in sorted(node, key=gpu_load, reverse=True)]
    return [e for gpu in ordered for e in sorted(gpu)]

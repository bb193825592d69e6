"""The pattern (set-partitioning) model of packing, for proving bounds level by level.

A packing with every load <= C uses only *patterns*: multisets of k item loads whose sum lies in the
window [total - (m-1)C, C] (no pack may exceed C, so none may fall below what the other m-1 cannot
hold). Near the lower bound that window is narrow and there are few patterns, so "choose m patterns
that use every item exactly once" is a small exact-cover problem with a strong linear relaxation and
no pack symmetry at all (packs are unlabelled multisets; equal loads are one value with a
multiplicity, which also removes the symmetry between equal items). Enumeration is capped, so the
work stays bounded and deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from ortools.sat.python import cp_model

from verifier.oracle.bounds import ceil_div
from verifier.oracle.cpsat import new_model

#: Most patterns enumerated for one model.
PATTERN_LIMIT = 60_000
#: Deterministic seconds charged per pattern enumerated, and per pattern put into a model (about
#: what each costs in wall time), so the caller's budget bounds this work too.
ENUMERATION_COST = 1e-5
MODEL_COST = 3e-5


@dataclass(frozen=True)
class Pattern:
    """How many items of each distinct load (by value index) one pack takes, and its load."""

    counts: tuple[tuple[int, int], ...]  # (value index, how many), value index increasing
    load: int


class Values:
    """The distinct loads of an instance (decreasing) with their multiplicities."""

    def __init__(self, weights: Sequence[int]) -> None:
        ordered = sorted(weights, reverse=True)
        self.values: list[int] = []
        self.multiplicity: list[int] = []
        self.start: list[int] = []  # position of each value's first copy in `ordered`
        for position, weight in enumerate(ordered):
            if self.values and self.values[-1] == weight:
                self.multiplicity[-1] += 1
            else:
                self.values.append(weight)
                self.multiplicity.append(1)
                self.start.append(position)
        self.prefix = [0, *accumulate(ordered)]
        self.n = len(ordered)

    def largest_from(self, value_index: int, count: int) -> int:
        """Sum of the `count` largest items among values value_index, value_index+1, ..."""
        first = self.start[value_index]
        return self.prefix[first + count] - self.prefix[first]

    def smallest(self, count: int) -> int:
        return self.prefix[self.n] - self.prefix[self.n - count]


def enumerate_patterns(
    values: Values, size: int, low: int, high: int, limit: int = PATTERN_LIMIT
) -> list[Pattern] | None:
    """Every pattern of `size` items with load in [low, high]; None if more than `limit`."""
    found: list[Pattern] = []
    chosen: list[tuple[int, int]] = []

    def extend(index: int, slots: int, load: int) -> bool:
        if slots == 0:
            if load >= low:
                found.append(Pattern(tuple(chosen), load))
            return len(found) <= limit
        if index == len(values.values) or values.n - values.start[index] < slots:
            return True
        if load + values.smallest(slots) > high or load + values.largest_from(index, slots) < low:
            return True
        for take in range(min(slots, values.multiplicity[index]), -1, -1):
            if take:
                chosen.append((index, take))
            ok = extend(index + 1, slots - take, load + take * values.values[index])
            if take:
                chosen.pop()
            if not ok:
                return False
        return True

    return found if extend(0, size, 0) else None


@dataclass(frozen=True)
class PatternSolution:
    """A packing read off a pattern solution: pack index per original item, and its largest load."""

    assignment: list[int]
    objective: int


class PatternModel:
    """Choose m patterns (with repetition) covering every item once; minimise the largest load."""

    def __init__(
        self, weights: Sequence[int], num_packs: int, patterns: list[Pattern], low: int, high: int
    ) -> None:
        self.weights = list(weights)
        self.values = Values(weights)
        self.patterns = patterns
        total = sum(weights)
        model = new_model()
        self.model = model
        self.cap = model.new_int_var(low, high, "cap")
        self.uses: list[cp_model.IntVar] = []
        covers: list[list[tuple[int, cp_model.IntVar]]] = [[] for _ in self.values.values]
        for number, pattern in enumerate(patterns):
            copies = min(self.values.multiplicity[v] // c for v, c in pattern.counts)
            copies = min(copies, num_packs)
            used = model.new_int_var(0, copies, f"y{number}")
            active = used if copies == 1 else model.new_bool_var(f"b{number}")
            if copies > 1:
                model.add(used <= copies * active)
                model.add(used >= active)
            needed = pattern.load
            if num_packs > 1:
                needed = max(needed, ceil_div(total - pattern.load, num_packs - 1))
            model.add(self.cap >= needed).only_enforce_if(active)
            self.uses.append(used)
            for value, count in pattern.counts:
                covers[value].append((count, used))
        for value, terms in enumerate(covers):
            model.add(sum(c * u for c, u in terms) == self.values.multiplicity[value])
        model.add(sum(self.uses) == num_packs)
        model.minimize(self.cap)

    def solution(self, solver: cp_model.CpSolver) -> PatternSolution:
        """Give each used pattern copy its own pack, taking items of each value in index order."""
        by_value: dict[int, list[int]] = {}
        for item in sorted(range(len(self.weights)), key=lambda i: (-self.weights[i], i)):
            by_value.setdefault(self.weights[item], []).append(item)
        queues = {value: iter(items) for value, items in by_value.items()}
        assignment = [0] * len(self.weights)
        pack = 0
        loads = []
        for pattern, used in zip(self.patterns, self.uses, strict=True):
            for _ in range(solver.value(used)):
                for value_index, count in pattern.counts:
                    queue = queues[self.values.values[value_index]]
                    for _ in range(count):
                        assignment[next(queue)] = pack
                loads.append(pattern.load)
                pack += 1
        return PatternSolution(assignment, max(loads))

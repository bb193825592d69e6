"""What a check run records about its API profile, adaptations and migration.

Kept apart from the engine so the profile bookkeeping is one object the result carries: which
profile called the candidate and why, what the harness adapted (per function), and the migration
of incremental rebalancing (replicas whose GPU changes between the old and the new plan).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any


@dataclass
class MigrationTally:
    """Summed over rebalance cases: replicas moved between the old and the new plan."""

    cases: int = 0
    moved: int = 0
    rewritten: int = 0  # slots whose expert changes (GPU moves and moves within a GPU)
    replicas: int = 0
    with_old_placement: bool = False
    # small cases' layers against the exact front (`verifier.judging.migration_quality`):
    front_layers: int = 0  # layers whose OPT(moves) is proven
    on_front: int = 0  # of those, plans as good as OPT(their own moves)
    worst_excess: float = 0.0  # the largest (load - OPT(moves)) / OPT(moves)

    def add(self, metric: dict[str, Any]) -> None:
        self.cases += 1
        self.moved += int(metric["moved"])
        self.rewritten += int(metric.get("rewritten", 0))
        self.replicas += int(metric["replicas"])
        self.with_old_placement = self.with_old_placement or bool(metric["with_old_placement"])
        for layer in metric.get("front", ()):
            self._add_front_layer(layer)

    def _add_front_layer(self, layer: dict[str, Any]) -> None:
        if layer["optimum_at_moves"] is None:
            return
        load, optimum = Fraction(layer["load"]), Fraction(layer["optimum_at_moves"])
        self.front_layers += 1
        self.on_front += load <= optimum
        if optimum > 0:
            self.worst_excess = max(self.worst_excess, float((load - optimum) / optimum))

    def merge(self, other: MigrationTally) -> None:
        """Add another run's tally (several workers, one summary)."""
        self.cases += other.cases
        self.moved += other.moved
        self.rewritten += other.rewritten
        self.replicas += other.replicas
        self.with_old_placement = self.with_old_placement or other.with_old_placement
        self.front_layers += other.front_layers
        self.on_front += other.on_front
        self.worst_excess = max(self.worst_excess, other.worst_excess)

    @property
    def share(self) -> float:
        return self.moved / self.replicas if self.replicas else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "moved_replicas": self.moved,
            "replicas": self.replicas,
            "moved_share": round(self.share, 6),
            "rewritten_slots": self.rewritten,
            "with_old_placement": self.with_old_placement,
            "front_layers": self.front_layers,
            "on_front": self.on_front,
            "worst_excess_over_front": round(self.worst_excess, 6),
        }

    def text(self) -> str:
        how = "with the old placement passed" if self.with_old_placement else "plan from scratch"
        line = (
            f"migration: {self.moved} of {self.replicas} replicas ({self.share:.1%}) change GPU "
            f"between the plan for perturbed loads and the new plan, {self.rewritten} slots "
            f"rewritten ({how}; {self.cases} cases)"
        )
        if self.front_layers:
            line += (
                f"; against the exact front (small cases): {self.on_front} of "
                f"{self.front_layers} layers at OPT(their moves), worst "
                f"{self.worst_excess:.2%} above it"
            )
        return line


@dataclass
class ApiRecord:
    """The profile a run used, what it adapted, and the migration it measured."""

    requested: str = "auto"
    profile: str = ""
    notes: tuple[str, ...] = ()
    adapted: dict[str, Counter[str]] = field(default_factory=dict)
    migration: MigrationTally = field(default_factory=MigrationTally)

    def loaded(self, profile: str, notes: tuple[str, ...]) -> None:
        self.profile, self.notes = profile, notes

    def record(self, function: str, adapted: tuple[str, ...], metrics: dict[str, Any]) -> None:
        self.adapted.setdefault(function, Counter()).update(set(adapted))
        if "migration" in metrics:
            self.migration.add(metrics["migration"])

    def merge(self, other: ApiRecord) -> None:
        """Add another run's record: the profile is the same in every worker (the first loaded
        one is kept), adaptations and migration add up."""
        if not self.profile:
            self.requested, self.profile, self.notes = other.requested, other.profile, other.notes
        for function, counts in other.adapted.items():
            self.adapted.setdefault(function, Counter()).update(counts)
        self.migration.merge(other.migration)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "profile": self.profile,
            "notes": list(self.notes),
            "adapted": {fn: sorted(counts) for fn, counts in self.adapted.items() if counts},
        }

    def lines(self) -> list[str]:
        """Human lines: the profile, then each function's adaptations, then migration."""
        lines = [f"API profile: {self.profile} ({'; '.join(self.notes)})"]
        for function, counts in self.adapted.items():
            if counts:
                lines.append(f"adapted in {function}: {'; '.join(sorted(counts))}")
        if self.migration.cases:
            lines.append(self.migration.text())
        return lines

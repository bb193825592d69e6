"""The tally of a run's comparison with its baseline (`--baseline`, else the reference greedy):
on how many cases the candidate was worse, equal or better, and the worst ratio found.

Each case's comparison comes from `verifier.judging.baseline.compare` in the case's metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERDICTS = ("worse", "equal", "better", "baseline_invalid")


@dataclass
class BaselineRecord:
    """What the candidate was compared with and how it fared, case by case."""

    spec: str = ""  # the baseline's spec (the reference greedy without --baseline)
    gating: bool = False  # --baseline: a regression is a violation
    max_regression: float = 0.0
    profile: str = ""  # the baseline's API profile (--baseline only)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERDICTS, 0))
    worst_ratio: float | None = None  # candidate / baseline on the worst layer; inf: unbounded
    worst_function: str = ""

    def record(self, function: str, comparison: dict[str, Any] | None) -> None:
        """Fold one case's comparison in (None: the case was not compared)."""
        if comparison is None:
            return
        self.counts[comparison["verdict"]] += 1
        if comparison["verdict"] == "baseline_invalid":
            return
        value = comparison["ratio"]
        value = float("inf") if value is None else value
        if self.worst_ratio is None or value > self.worst_ratio:
            self.worst_ratio, self.worst_function = value, function

    def merge(self, other: BaselineRecord) -> None:
        """Add another worker's tally (the same baseline)."""
        self.spec = self.spec or other.spec
        self.gating, self.max_regression = other.gating, other.max_regression
        self.profile = self.profile or other.profile
        for verdict, count in other.counts.items():
            self.counts[verdict] += count
        if other.worst_ratio is not None and (
            self.worst_ratio is None or other.worst_ratio > self.worst_ratio
        ):
            self.worst_ratio, self.worst_function = other.worst_ratio, other.worst_function

    @property
    def compared(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line for the text summary ('' when nothing was compared)."""
        if not self.compared:
            return ""
        worst = "n/a" if self.worst_ratio is None else f"{self.worst_ratio:.4g}x"
        where = f" ({self.worst_function})" if self.worst_function else ""
        counts = self.counts
        invalid = counts["baseline_invalid"]
        return (
            f"against {self.spec}: worse on {counts['worse']}, equal on {counts['equal']}, "
            f"better on {counts['better']} cases"
            + (f", baseline invalid on {invalid}" if invalid else "")
            + f"; worst ratio {worst}{where}"
            + (f" (max regression {self.max_regression:g})" if self.gating else "")
        )

    def to_dict(self) -> dict[str, Any]:
        worst = self.worst_ratio
        return {
            "spec": self.spec,
            "gating": self.gating,
            "max_regression": self.max_regression if self.gating else None,
            "profile": self.profile or None,
            "cases_compared": self.compared,
            **self.counts,
            "worst_ratio": "inf" if worst == float("inf") else worst,
            "worst_function": self.worst_function or None,
        }

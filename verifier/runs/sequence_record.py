"""`SequenceRecord`: what sequence mode (`check --sequence N`) saw of one policy instance driven
through N consecutive calls, for the check summary and `check --json`'s `"sequence"`.

The observations: how often a call changed nothing, how many layers each call changed (and the
replica copies that cost), and the stale-plan balancedness over the sequence (the plan of call t
charged with call t + 1's loads, mean over layers and calls) beside the reference greedy's on
the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean
from typing import Any


@dataclass
class SequenceRecord:
    """One sequence run: its input, how far it got, and its observations."""

    calls: int  # N, the calls asked for
    trace: str  # the trace's description
    window: int  # trace steps per call
    reproduce: str  # the command that replays the sequence
    layers: int = 0
    completed: int = 0  # valid calls, in order, before the first failed or invalid one
    window_input: str = ""  # how the window of steps was passed ("" when the loads were summed)
    old_placement: bool = False  # each call after the first was given the previous plan
    first_old_supplied: bool = False  # required: the first call got the reference's plan
    compared: int = 0  # calls compared with a second identical sequence before they differed
    diverged_at: int | None = None  # the first step at which the two sequences differ
    problem: str = ""  # what ended the sequence early
    changes: list[tuple[int, int]] = field(default_factory=list)  # (layers changed, moved)
    stale: float | None = None  # stale-plan balancedness of the candidate
    greedy_stale: float | None = None  # the same of the reference greedy
    greedy_problem: str = ""

    @property
    def unchanged(self) -> int:
        """Calls (after the first) whose plan equals the previous one."""
        return sum(layers == 0 for layers, _ in self.changes)

    def lines(self) -> list[str]:
        """The summary lines of the text output."""
        how = [f"sequence: {self.completed} of {self.calls} calls on one instance"]
        how.append(f"{self.window} trace steps per call of {self.trace}")
        how.append(f"window input {self.window_input}" if self.window_input else "loads summed")
        if self.old_placement:
            how.append("the previous plan as the old placement")
        if self.first_old_supplied:
            how.append("the first call the reference greedy's plan for seeded perturbed loads")
        lines = ["; ".join(how)]
        if self.problem:
            lines.append(f"  stopped: {self.problem}")
        if self.changes:
            layers = [count for count, _ in self.changes]
            moved = [count for _, count in self.changes]
            lines.append(
                f"  changed nothing on {self.unchanged} of {len(self.changes)} calls; layers "
                f"changed per call: {' '.join(map(str, layers))} (of {self.layers}, mean "
                f"{fmean(layers):.2f}); replicas moved per call: mean {fmean(moved):.1f}"
            )
        lines.append(f"  stale-plan balancedness (plan t on loads t+1): {self._stale_text()}")
        if self.diverged_at is not None:
            lines.append(f"  two identical sequences differ at step {self.diverged_at}")
        else:
            lines.append(f"  two identical sequences agree on all {self.compared} calls")
        return lines

    def _stale_text(self) -> str:
        mine = "n/a" if self.stale is None else f"{self.stale:.4f}"
        greedy = "n/a" if self.greedy_stale is None else f"{self.greedy_stale:.4f}"
        if self.greedy_problem:
            greedy += f", {self.greedy_problem}"
        return f"{mine} (greedy {greedy})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "completed": self.completed,
            "trace": self.trace,
            "window": self.window,
            "layers": self.layers,
            "window_input": self.window_input,
            "old_placement": self.old_placement,
            "first_old_supplied": self.first_old_supplied,
            "reproduce": self.reproduce,
            "problem": self.problem,
            "unchanged_calls": self.unchanged,
            "layers_changed": [layers for layers, _ in self.changes],
            "replicas_moved": [moved for _, moved in self.changes],
            "stale_balancedness": self.stale,
            "greedy_stale_balancedness": self.greedy_stale,
            "greedy_problem": self.greedy_problem,
            "compared_calls": self.compared,
            "diverged_at": self.diverged_at,
            "summary": "\n".join(self.lines()),
        }

"""Hypothesis chunk machinery: time-boxed (or case-counted) runs of one function's strategy.

A chunk is one `@given` run with a derived seed; it ends on its deadline (`StopChunk`) or once the
shrinking of a failing check is done. Each failing check raises its own `FailingCase` subclass, so
Hypothesis shrinks each separately.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CHUNK_MAX_EXAMPLES = 1000  # check's cap; chunks end on their time slice or case count long before


class StopChunk(BaseException):
    """Ends a Hypothesis chunk when its time slice is spent (a BaseException: not a failure)."""


class FailingCase(Exception):
    """Raised inside Hypothesis for a failing case; one subclass per check id."""


_FAILING_CLASSES: dict[str, type[FailingCase]] = {}


def _failing_class(check: str) -> type[FailingCase]:
    """A distinct exception class per check, so Hypothesis shrinks each separately."""
    if check not in _FAILING_CLASSES:
        name = "Failing_" + check.replace(".", "_")
        _FAILING_CLASSES[check] = type(name, (FailingCase,), {"check": check})
    return _FAILING_CLASSES[check]


def chunk_settings(**overrides: Any) -> Any:
    """Hypothesis settings of one time-boxed chunk: quiet, no deadline, no health checks, no
    example database (`overrides` change any of them, e.g. `fuzz`'s database and phases)."""
    from hypothesis import HealthCheck, Phase, Verbosity, settings

    chosen: dict[str, Any] = {
        "database": None,
        "deadline": None,
        "derandomize": False,
        "max_examples": CHUNK_MAX_EXAMPLES,
        "phases": (Phase.generate, Phase.target, Phase.shrink),
        "report_multiple_bugs": False,
        "suppress_health_check": list(HealthCheck),
        "verbosity": Verbosity.quiet,
        "print_blob": False,
    }
    return settings(**{**chosen, **overrides})


@dataclass
class Chunk:
    """State of one time-boxed Hypothesis run for one function (used by `check` and `fuzz`)."""

    function: str
    deadline: float
    shrink_allowance: float
    target: str | None = None  # the check this chunk is shrinking
    shrink_deadline: float = 0.0

    def pursue(self, failing: Sequence[str], shrunk: set[str], now: float) -> None:
        """Adopt the first failing check not shrunk before as the target; while a case fails
        that target, raise its `FailingCase` so Hypothesis shrinks towards it."""
        if self.target is None:
            fresh = [check for check in failing if check not in shrunk]
            if fresh:
                self.target = fresh[0]
                self.shrink_deadline = now + self.shrink_allowance
        if self.target is not None and self.target in failing:
            raise _failing_class(self.target)()


def derived_seed(seed: int, *parts: object) -> int:
    """A stable seed for one chunk (independent of PYTHONHASHSEED)."""
    text = ":".join(str(part) for part in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")

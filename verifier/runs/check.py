"""`check`: conformance-check a candidate (the edge-case suite, then generated cases).

The engine (`verifier.runs.engine`) does the work; `CheckPolicy` is `check`'s behaviour around it
(its
defaults, plus a live-progress hook). `run_check` is the library entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from verifier.judging.evaluator import ALL_CHECKS, CaseResult
from verifier.model.options import CheckOptions
from verifier.runs.chunks import chunk_settings
from verifier.runs.engine import Engine, RunPolicy
from verifier.runs.results import CheckResult, FindingRecord

__all__ = [
    "ALL_CHECKS",
    "CheckOptions",
    "CheckPolicy",
    "CheckProgress",
    "CheckResult",
    "FindingRecord",
    "check_run",
    "run_check",
]


@dataclass(frozen=True)
class CheckProgress:
    """A snapshot of a check run for live displays."""

    phase: str  # "edge cases" | "generated cases"
    function: str
    cases: int
    violations: int  # distinct (function, check) violations so far
    observations: int
    elapsed: float


CheckProgressHook = Callable[[CheckProgress], None]


class CheckPolicy(RunPolicy):
    """`check`'s behaviour: the engine's defaults, and a progress snapshot after every case."""

    def __init__(
        self,
        progress: CheckProgressHook | None = None,
        *,
        spec: str = "",
        database: str | None = None,
    ) -> None:
        self.progress = progress
        self.spec = spec
        self.database = database

    def settings(self, function: str) -> Any:
        """The engine's chunk settings; with `--database`, replay its examples of this candidate
        and function first, and save new failures there."""
        if self.database is None:
            return chunk_settings()
        from hypothesis import Phase

        from verifier.runs.database import open_store

        database = open_store(self.database).database(self.spec, function)
        return chunk_settings(
            database=database, phases=(Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
        )

    def recorded(self, case: CaseResult, result: CheckResult, phase: str, elapsed: float) -> None:
        if self.progress:
            self.progress(
                CheckProgress(
                    phase,
                    case.function,
                    result.total_cases,
                    len(result.violations),
                    len(result.observations),
                    elapsed,
                )
            )


def check_run(
    spec: str, options: CheckOptions | None = None, *, progress: CheckProgressHook | None = None
) -> Engine:
    """A check run of a candidate, ready to `run()` (its `result` fills as it goes)."""
    options = options or CheckOptions()
    return Engine(spec, options, CheckPolicy(progress, spec=spec, database=options.database))


def run_check(
    spec: str, options: CheckOptions | None = None, *, progress: CheckProgressHook | None = None
) -> CheckResult:
    """Check a candidate; raises `CandidateError` when it cannot be loaded."""
    return check_run(spec, options, progress=progress).run()

"""`check`: conformance-check a candidate (the edge-case suite, then generated cases).

The engine (`verifier.runs.engine`) does the work; `CheckHooks` are `check`'s behaviour around it
(its defaults, plus a live-progress hook). `check_candidate` is the library entry point: it checks
a candidate and returns the result; `prepare_check` builds the engine of a check without running
it (for a caller that wants `result` as it fills, e.g. after Ctrl-C). Given a sequence,
`check_candidate` then runs sequence mode on the candidate (`verifier.runs.sequence`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from verifier.judging.evaluator import ALL_CHECKS, CaseResult
from verifier.model.options import EngineOptions
from verifier.runs.chunks import chunk_settings
from verifier.runs.engine import Engine, RunHooks
from verifier.runs.results import EngineResult, FindingRecord
from verifier.runs.sequence import SequenceInput, add_sequence

__all__ = [
    "ALL_CHECKS",
    "CheckHooks",
    "CheckProgress",
    "EngineOptions",
    "EngineResult",
    "FindingRecord",
    "check_candidate",
    "prepare_check",
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


class CheckHooks(RunHooks):
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

    def recorded(self, case: CaseResult, result: EngineResult, phase: str, elapsed: float) -> None:
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


def prepare_check(
    spec: str, options: EngineOptions | None = None, *, progress: CheckProgressHook | None = None
) -> Engine:
    """The engine of a check of a candidate, not yet run: `run()` it (its `result` fills as it
    goes)."""
    options = options or EngineOptions()
    return Engine(spec, options, CheckHooks(progress, spec=spec, database=options.database))


def check_candidate(
    spec: str,
    options: EngineOptions | None = None,
    *,
    progress: CheckProgressHook | None = None,
    sequence: SequenceInput | None = None,
) -> EngineResult:
    """Check a candidate and return the result; raises `CandidateError` when it cannot be
    loaded. `sequence` (`check --sequence N`) then drives one instance of it through the
    sequence's calls (`verifier.runs.sequence`), its findings and observations in the result."""
    result = prepare_check(spec, options, progress=progress).run()
    if sequence is not None:
        add_sequence(result, sequence)
    return result

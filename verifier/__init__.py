"""eplb-verify: differential verification, exact optima and fuzzing for EPLB heuristics.

The public API is deliberately small (`evaluate(program_path, **options)` scores a candidate for
a search loop, see `verifier.runs.score`); everything else lives in private-by-convention modules
(one concept each) that the CLI, the tests and the reports share.
"""

from __future__ import annotations

from typing import Any

from verifier.model.version import __version__

__all__ = ["__version__", "evaluate"]


def __getattr__(name: str) -> Any:
    """`verifier.evaluate` (the search-loop API), imported on first use: the CLI stays light."""
    if name == "evaluate":
        from verifier.runs.score import evaluate

        return evaluate
    raise AttributeError(f"module 'verifier' has no attribute {name!r}")

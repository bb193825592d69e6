"""Where the test candidates live (`tests/candidates/`): one home for their paths."""

from __future__ import annotations

from pathlib import Path

CANDIDATES_DIR = Path(__file__).resolve().parent / "candidates"
BROKEN_DIR = CANDIDATES_DIR / "broken"  # one bug each: the mutation score
APIS_DIR = CANDIDATES_DIR / "apis"  # vLLM-, SGLang- and stateful-style code as it is
SCORING_DIR = CANDIDATES_DIR / "scoring"  # valid but bad or slow candidates for `score`

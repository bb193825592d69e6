"""Shared pytest set-up: the `slow` and `cuda` markers, the device, `broken_dir` and
`reference_pool` fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from candidate_paths import BROKEN_DIR
from verifier.calling.pool import SandboxPool
from verifier.model.strategies import load_profile

# dev locally; Hypothesis's derandomized `ci` profile (extended) under CI=true; or
# whatever HYPOTHESIS_PROFILE names.
HYPOTHESIS_PROFILE = load_profile()

CUDA_REASON = "needs a CUDA device; none is present on this machine"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="also run tests marked slow"
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"hypothesis profile: {HYPOTHESIS_PROFILE}; cuda: {torch.cuda.is_available()}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = config.getoption("--run-slow")
    has_cuda = torch.cuda.is_available()
    skip_slow = pytest.mark.skip(reason="slow test: opt in with --run-slow (tox -e slow)")
    skip_cuda = pytest.mark.skip(reason=CUDA_REASON)
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(skip_cuda)


DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.cuda),
]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Every device the reference runs on: the CPU always, CUDA when present."""
    return str(request.param)


@pytest.fixture(scope="session")
def broken_dir() -> Path:
    """tests/candidates/broken/: the deliberately broken candidates (one bug each; its README)."""
    return BROKEN_DIR


@pytest.fixture(scope="session")
def reference_pool() -> Iterator[SandboxPool]:
    """One started sandbox of every reference variant, shared like a command run shares it
    (starting one costs a second or two; corpus baselines and replays take it as `pool=`)."""
    from verifier.corpus.records import variant_pool, variant_specs

    with variant_pool(variant_specs()) as pool:
        pool.start()
        yield pool

"""The pytest plugin (entry point `pytest11`): registers the `--eplb-*` options and prints the
check's summary at the end of a run that made one.

Loaded into every pytest run of an environment that has eplb-verify installed, so it stays
light: no import of torch or the engine, no hooks that collect or run anything. The suite itself
is `verifier.conformance` (`python -m pytest --pyargs verifier.conformance --eplb-candidate ...`);
its session fixture leaves the check's result in the config's stash (`RESULT`), and the terminal
summary prints what the items do not show: the profile and adaptations, migration, the baseline
comparison, the sequence, the device paths and the observations. Under pytest-xdist each worker
runs its own check and the controller prints nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from verifier.calling.profiles import API_CHOICES
from verifier.calling.profiles.axes import AXIS_CHOICES

DEFAULT_CASES = 40
DEFAULT_BUDGET = 300.0
RESULT: pytest.StashKey[Any] = pytest.StashKey()  # the check's `EngineResult`, once it ran


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("eplb-verify", "EPLB conformance suite (verifier.conformance)")
    group.addoption(
        "--eplb-candidate",
        metavar="SPEC",
        help="the EPLB implementation to check (as `eplb-verify check` takes it)",
    )
    group.addoption("--eplb-api", choices=API_CHOICES, default="auto", help="its API profile")
    for axis, choices in AXIS_CHOICES.items():
        group.addoption(
            "--eplb-" + axis.replace("_", "-"),
            choices=choices,
            default="auto",
            help=f"its API profile's {axis.replace('_', ' ')} axis (as eplb-verify check's)",
        )
    group.addoption(
        "--eplb-max-moves",
        type=int,
        default=None,
        metavar="K",
        help="a declared move budget: more replica copies per layer fail 'incremental' "
        "(migration.budget)",
    )
    group.addoption(
        "--eplb-policy", choices=("auto", "global"), default="auto", help="hierarchical or global"
    )
    group.addoption(
        "--eplb-budget",
        type=float,
        default=DEFAULT_BUDGET,
        metavar="SECONDS",
        help=f"time cap of the check (default: {DEFAULT_BUDGET:g})",
    )
    group.addoption(
        "--eplb-cases",
        type=int,
        default=DEFAULT_CASES,
        metavar="N",
        help=f"generated cases per function (default: {DEFAULT_CASES}; the same on every worker)",
    )
    group.addoption("--eplb-seed", type=int, default=0, help="seed of the generated cases")
    group.addoption(
        "--eplb-baseline",
        metavar="SPEC",
        help="compare every case with this candidate spec: a layer worse than (1 + R) x its "
        "objective fails the function's 'quality' item (quality.regression)",
    )
    group.addoption(
        "--eplb-max-regression",
        type=float,
        default=0.0,
        metavar="R",
        help="tolerated relative regression against --eplb-baseline (default: 0, never worse)",
    )
    group.addoption("--eplb-strict", action="store_true", help="observations fail their items too")
    group.addoption(
        "--eplb-allow-cross-layer",
        action="store_true",
        help="layer-independence breaks are observations (multi-window or stateful policies)",
    )
    group.addoption(
        "--eplb-no-device-probe",
        action="store_true",
        help="leave out the default-device probe (calls under torch's default device meta)",
    )
    group.addoption(
        "--eplb-sequence",
        type=int,
        metavar="N",
        help="sequence mode: also drive one instance of the policy through N consecutive calls "
        "on drifting loads, each given the previous plan (as `eplb-verify check --sequence N`)",
    )
    group.addoption(
        "--eplb-trace",
        metavar="FILE",
        help="the sequence's load trace (default: the bundled DeepSeek-V3-shaped drift trace)",
    )


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The check's summary, when this run made one (`verifier.conformance`)."""
    result = config.stash.get(RESULT, None)
    if result is None:
        return
    terminalreporter.section("eplb-verify")
    lines = [*(f"note: {note}" for note in result.notes), *result.context_lines()]
    lines += [result.devices.summary(), result.observation_line()]
    for line in filter(None, lines):
        terminalreporter.write_line(line)

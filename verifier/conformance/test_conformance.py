"""The conformance items: one per EPLB function and check family (see `verifier.conformance`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from verifier.conformance import FAMILIES, family_of
from verifier.conformance.plugin import RESULT
from verifier.model.contract import FUNCTIONS

ITEMS = [(function, family) for function in FUNCTIONS for family in FAMILIES]


@pytest.fixture(scope="session")
def eplb_result(pytestconfig: pytest.Config) -> Any:
    """The check of the candidate, run once per process with a fixed number of cases."""
    from verifier.calling.candidates import CandidateError
    from verifier.runs.check import EngineOptions, check_candidate

    spec = pytestconfig.getoption("--eplb-candidate", default=None)
    if not spec:
        pytest.skip("no candidate: pass --eplb-candidate SPEC")
    options = EngineOptions(
        budget=pytestconfig.getoption("--eplb-budget"),
        seed=pytestconfig.getoption("--eplb-seed"),
        policy=pytestconfig.getoption("--eplb-policy"),
        strict=pytestconfig.getoption("--eplb-strict"),
        max_cases=pytestconfig.getoption("--eplb-cases"),
        api=_api(pytestconfig),
        max_moves=pytestconfig.getoption("--eplb-max-moves"),
        allow_cross_layer=pytestconfig.getoption("--eplb-allow-cross-layer"),
        baseline=pytestconfig.getoption("--eplb-baseline"),
        max_regression=pytestconfig.getoption("--eplb-max-regression"),
        device_probe=not pytestconfig.getoption("--eplb-no-device-probe"),
    )
    if options.max_regression < 0:
        pytest.fail("--eplb-max-regression must be at least 0", pytrace=False)
    try:
        result = check_candidate(spec, options, sequence=_sequence(pytestconfig))
    except CandidateError as error:
        pytest.fail(f"cannot load the candidate or its baseline: {error}", pytrace=False)
    pytestconfig.stash[RESULT] = result  # the plugin's terminal summary prints it
    return result


def _sequence(pytestconfig: pytest.Config) -> Any:
    """The sequence mode's loaded trace (`--eplb-sequence N [--eplb-trace FILE]`), or None."""
    from verifier.model.traces import TraceError
    from verifier.runs.sequence import SequenceOptions, sequence_input

    calls = pytestconfig.getoption("--eplb-sequence")
    if calls is None:
        return None
    if calls < 1:
        pytest.fail("--eplb-sequence must be at least 1", pytrace=False)
    try:
        return sequence_input(SequenceOptions(calls, pytestconfig.getoption("--eplb-trace")))
    except TraceError as error:
        pytest.fail(f"--eplb-sequence: {error}", pytrace=False)


def _api(pytestconfig: pytest.Config) -> str:
    """The profile string of `--eplb-api` and its axis overrides (`--eplb-arrays`, ...)."""
    from verifier.calling.profiles.axes import AXIS_CHOICES, ApiSpec

    axes = {
        axis: pytestconfig.getoption("--eplb-" + axis.replace("_", "-")) for axis in AXIS_CHOICES
    }
    return ApiSpec(pytestconfig.getoption("--eplb-api"), **axes).text()


def _explain(record: Any) -> str:
    from verifier.model.instances import instance_json

    finding = record.finding
    lines = [f"{finding.severity} {finding.check}: {finding.message} ({record.occurrences} cases)"]
    if "reproduce" in finding.details:  # sequence mode: the command replays the sequence
        lines.append(f"reproducer: {finding.details['reproduce']}")
    elif finding.instance is not None:
        lines.append("reproducer (eplb-verify instance file):")
        lines.append(instance_json(finding.instance))
    old = finding.details.get("old_placement")
    if old is not None:
        lines.append(f"with the old placement {json.dumps(old)}")
    return "\n".join(lines)


@pytest.mark.parametrize(("function", "family"), ITEMS, ids=[f"{f}-{g}" for f, g in ITEMS])
def test_conformance(function: str, family: str, eplb_result: Any) -> None:
    """No finding of this family fails for this function (violations; observations if strict)."""
    if function not in eplb_result.functions:
        pytest.skip(f"the candidate does not define {function}")
    failing = [
        record
        for record in eplb_result.records.values()
        if record.finding.function == function
        and family_of(record.finding.check) == family
        and (record.finding.is_violation or eplb_result.options.strict)
    ]
    if failing:
        header = f"{function}: {len(failing)} finding(s) in '{family}' ({FAMILIES[family]})"
        pytest.fail("\n\n".join([header, *map(_explain, failing)]), pytrace=False)

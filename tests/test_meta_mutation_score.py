"""The tool's mutation score: every deliberately broken candidate is caught under the right check,
and no reference variant raises a false alarm."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from reference import VARIANTS
from verifier.model.instances import instance_from_dict, instance_to_dict
from verifier.runs.check import ALL_CHECKS, EngineOptions, EngineResult, check_candidate

# module -> the check that must catch it (each a violation under the default options)
VIOLATIONS = {
    "wrong_pack_sizes": "packing.pack_size",
    "bad_ranks": "packing.rank",
    "pack_out_of_range": "packing.index_range",
    "wrong_dtype": "behaviour.dtype",
    "returns_list": "behaviour.return_type",
    "wrong_device": "behaviour.device",
    "mutates_input": "behaviour.input_mutation",
    "hangs": "behaviour.timeout",
    "exits": "behaviour.crash",
    "segfaults": "behaviour.crash",
    "raises": "behaviour.exception",
    "calls_sys_exit": "behaviour.exception",
    "nondeterministic": "behaviour.nondeterministic",
    "nan_outputs": "behaviour.nan",
    "logcnt_mismatch": "replication.logcnt_count",
    "drops_expert": "replication.logcnt_min",
    "off_by_one_ranks": "replication.rank",
    "shape_wrong": "replication.shape",
    "log2phy_wrong": "rebalance.log2phy",
    "log2phy_narrow": "rebalance.log2phy_width",
    "rebalance_logcnt_sum": "rebalance.logcnt_sum",
    "ignores_hierarchy": "rebalance.group_split",
    "global_fallback_raises": "behaviour.exception",
    # found on CPU by the default-device probe (verifier.judging.default_device)
    "default_device_arange": "device.default_device",
    "default_device_output": "device.default_output",
}
# Bugs that only the default-device probe finds on a CPU-only machine.
DEVICE_PROBE_ONLY = ("default_device_arange", "default_device_output")
# module -> the observation that catches it (a failure under --strict)
OBSERVATIONS = {
    "off_by_one_slot": "optimality.replication",
    "float32_rounding": "optimality.replication",
    "unsorted_greedy": "metamorphic.permutation",
    "half_precision": "metamorphic.dtype",
    "truncates_floats": "metamorphic.scaling",
    "behind_greedy_packing": "quality.behind_greedy",
}
# module -> the violation that catches it under `--baseline reference` (valid plans, but worse)
BASELINE_VIOLATIONS = {"global_skips_packing": "quality.regression"}
# Candidates in other APIs: spec under tests/candidates/broken -> (the profile `auto` must detect,
# the check that must catch it). Packages are folders; classes are named after ':'.
API_VIOLATIONS = {
    "vllm_overfilling.py:OverfillingPolicy": ("vllm", "packing.pack_size"),
    "vllm_slots_lost/policy.py:SlotLosingPolicy": ("vllm", "incremental.slot_preservation"),
    "sglang_layer_mixing.py": ("sglang", "metamorphic.layer_independence"),
    "stateful_class_state.py:LeakyPolicy": ("vllm", "behaviour.nondeterministic"),
    # SGLang's elastic EP with the active-ranks mask axis (verifier.judging.elastic)
    "elastic_dead_slots.py": ("sglang", "elastic.dead_rank_load"),
    # profiles as axes (issue 19): a required old placement, a numpy port with int32 maps
    "swap_slots_sorted.py:SortingSwapPolicy": ("vllm", "incremental.slot_preservation"),
    "numpy_port_logcnt.py": ("deepseek", "replication.logcnt_count"),
}
# Broken against a declared move budget: spec -> (profile, check, --max-moves K).
BUDGET_VIOLATIONS = {
    "swap_over_budget.py:OverBudgetSwapPolicy": ("vllm", "migration.budget", 4),
}
# Stateful policies whose bug only a sequence of calls on one instance shows (`check --sequence`):
# spec -> (the profile `auto` must detect, the check that must catch it in sequence mode).
SEQUENCE_VIOLATIONS = {
    "windowed_unseeded.py:UnseededWindowedPolicy": ("sglang", "behaviour.nondeterministic"),
    "windowed_stale_maps.py:StaleMapsWindowedPolicy": ("sglang", "rebalance.logcnt_count"),
}
SEQUENCE_CALLS = 4
# Runs are bounded by case counts, not time, so the verdicts do not depend on the machine's load.
NEEDS_MORE_CASES = {"float32_rounding": 400, "half_precision": 150}
BUDGET = 120.0  # a safety net only


def _check(
    broken_dir: Path, module: str, strict: bool = False, baseline: str | None = None
) -> EngineResult:
    cases = NEEDS_MORE_CASES.get(module, 40)
    options = EngineOptions(
        budget=BUDGET, timeout=1.0, strict=strict, max_cases=cases, baseline=baseline
    )
    return check_candidate(str(broken_dir / f"{module}.py"), options)


def test_every_broken_module_is_listed(broken_dir: Path) -> None:
    # every module but the twins' shared loader (`_api_fixture.py`, not a candidate)
    modules = {path.stem for path in broken_dir.glob("*.py") if not path.stem.startswith("_")}
    modules |= {path.parent.name for path in broken_dir.glob("*/__init__.py")}
    api_specs = [*API_VIOLATIONS, *BUDGET_VIOLATIONS, *SEQUENCE_VIOLATIONS]
    api_modules = {spec.split(".py")[0].split("/")[0] for spec in api_specs}
    assert modules == set(VIOLATIONS) | set(OBSERVATIONS) | set(BASELINE_VIOLATIONS) | api_modules
    api_checks = {check for _, check in [*API_VIOLATIONS.values(), *SEQUENCE_VIOLATIONS.values()]}
    api_checks |= {check for _, check, _ in BUDGET_VIOLATIONS.values()}
    listed = set(VIOLATIONS.values()) | set(OBSERVATIONS.values()) | api_checks
    assert listed | set(BASELINE_VIOLATIONS.values()) <= set(ALL_CHECKS)


@pytest.mark.parametrize(("spec", "expected"), sorted(API_VIOLATIONS.items()))
def test_broken_candidate_of_another_api_is_caught(
    broken_dir: Path, spec: str, expected: tuple[str, str]
) -> None:
    profile, check = expected
    options = EngineOptions(budget=BUDGET, timeout=2.0, max_cases=40)
    result = check_candidate(str(broken_dir / spec), options)
    assert result.api.profile == profile
    assert result.exit_code == 1
    caught = {record.finding.check: record.finding for record in result.violations}
    assert check in caught, f"{spec}: found {sorted(caught)}"
    assert caught[check].instance is not None


@pytest.mark.parametrize(("spec", "expected"), sorted(SEQUENCE_VIOLATIONS.items()))
def test_stateful_bug_is_caught_in_sequence_mode_only(
    broken_dir: Path, spec: str, expected: tuple[str, str]
) -> None:
    """A check of single calls passes it; one instance through a sequence breaks `check`."""
    from verifier.runs.sequence import SequenceOptions, sequence_input

    profile, check = expected
    options = EngineOptions(budget=BUDGET, timeout=5.0, max_cases=5, device_probe=False)
    single = check_candidate(str(broken_dir / spec), options)
    assert single.api.profile == profile
    assert single.exit_code == 0, [record.finding.check for record in single.violations]
    given = sequence_input(SequenceOptions(SEQUENCE_CALLS))
    result = check_candidate(str(broken_dir / spec), options, sequence=given)
    assert result.exit_code == 1
    caught = {record.finding.check: record.finding for record in result.violations}
    assert check in caught, f"{spec}: found {sorted(caught)}"
    details = caught[check].details
    assert details["role"] == "sequence" and 2 <= details["step"] <= SEQUENCE_CALLS
    assert f"--sequence {SEQUENCE_CALLS}" in details["reproduce"]


@pytest.mark.parametrize(("spec", "expected"), sorted(BUDGET_VIOLATIONS.items()))
def test_move_budget_breach_is_caught(
    broken_dir: Path, spec: str, expected: tuple[str, str, int]
) -> None:
    """Caught only against the budget its deployment declares (`--max-moves K`)."""
    profile, check, max_moves = expected
    options = EngineOptions(budget=BUDGET, timeout=2.0, max_cases=40, max_moves=max_moves)
    result = check_candidate(str(broken_dir / spec), options)
    assert result.api.profile == profile and result.exit_code == 1
    caught = {record.finding.check: record.finding for record in result.violations}
    assert check in caught, f"{spec}: found {sorted(caught)}"
    assert caught[check].details["moves"] > max_moves


@pytest.mark.parametrize(("module", "check"), sorted(VIOLATIONS.items()))
def test_broken_candidate_is_caught(broken_dir: Path, module: str, check: str) -> None:
    result = _check(broken_dir, module)
    assert result.exit_code == 1
    caught = {record.finding.check: record.finding for record in result.violations}
    assert check in caught, f"{module}: found {sorted(caught)}"
    reproducer = caught[check].instance
    assert reproducer is not None
    assert instance_from_dict(instance_to_dict(reproducer)) == reproducer


@pytest.mark.parametrize(("module", "check"), sorted(BASELINE_VIOLATIONS.items()))
def test_quality_regression_is_caught_under_a_baseline(
    broken_dir: Path, module: str, check: str
) -> None:
    result = _check(broken_dir, module, baseline="reference")
    assert result.exit_code == 1
    caught = {record.finding.check: record.finding for record in result.violations}
    assert set(caught) == {check}, f"{module}: found {sorted(caught)}"
    details = caught[check].details
    assert Fraction(details["objective"]) > Fraction(details["baseline_objective"])
    assert details["ratio"] > 1 and details["plan"] and details["baseline_plan"]
    assert result.baseline.counts["worse"] >= 1


@pytest.mark.parametrize("module", DEVICE_PROBE_ONLY)
def test_device_bugs_pass_without_the_probe(broken_dir: Path, module: str) -> None:
    """What the probe adds: without it, a CPU-only check passes these device bugs."""
    options = EngineOptions(budget=BUDGET, timeout=1.0, max_cases=40, device_probe=False)
    result = check_candidate(str(broken_dir / f"{module}.py"), options)
    assert result.exit_code == 0
    assert result.devices.exercised == []


@pytest.mark.parametrize(("module", "check"), sorted(OBSERVATIONS.items()))
def test_quality_bug_is_observed_and_fails_under_strict(
    broken_dir: Path, module: str, check: str
) -> None:
    result = _check(broken_dir, module, strict=True)
    assert check in {record.finding.check for record in result.observations}
    assert result.exit_code == 1


def test_shrinking_gives_minimal_reproducers(broken_dir: Path) -> None:
    result = _check(broken_dir, "wrong_pack_sizes")
    (record,) = result.violations
    instance = record.finding.instance
    assert instance is not None
    # The bug needs two packs; the smallest instance has one layer of two items.
    assert len(instance.weights) == 1
    assert len(instance.weights[0]) == 2


@pytest.mark.parametrize("variant", ["reference", *(f"reference:{name}" for name in VARIANTS)])
def test_reference_variants_raise_no_false_alarm(variant: str) -> None:
    result = check_candidate(variant, EngineOptions(budget=BUDGET, max_cases=60))
    assert [r.finding.message for r in result.violations] == []
    assert "quality.behind_greedy" not in {r.finding.check for r in result.observations}
    assert result.exit_code == 0
    assert all(counts.generated >= 60 for counts in result.cases.values())
    probe = result.devices.probe  # every valid case probed, each conclusively
    assert probe.probed == result.total_cases == probe.counts["passed"]

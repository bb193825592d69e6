"""The device paths a check reports (real CUDA, the default-device probe, or CPU only), and the
probe run end to end: no false alarm on DeepSeek-, vLLM- and SGLang-style code, honest counts."""

from __future__ import annotations

import pytest

from candidate_paths import APIS_DIR, BROKEN_DIR
from verifier.runs.check import EngineOptions, check_candidate

# Code in the style of the projects that ship EPLB (and the reference's vLLM policy class): the
# probe must pass every case it probes. spec -> API profile
CLEAN = {
    str(APIS_DIR / "deepseek_style.py"): "auto",
    str(APIS_DIR / "sglang_vec.py"): "sglang",
    f"{APIS_DIR / 'vllm_policy' / 'default.py'}:GreedyEplbPolicy": "auto",
    f"{APIS_DIR / 'stateful_policy.py'}:SmoothingPolicy": "auto",
    "reference:FastEplbPolicy": "vllm",
}


def _options(**more: object) -> EngineOptions:
    return EngineOptions(budget=120.0, max_cases=10, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(("spec", "api"), sorted(CLEAN.items()))
def test_no_false_alarm_on_real_styles(spec: str, api: str) -> None:
    result = check_candidate(spec, _options(api=api))
    assert [r.finding.check for r in result.violations] == []
    probe = result.devices.probe
    assert probe.probed == result.total_cases > 0
    assert probe.counts["passed"] == probe.probed
    assert result.devices.exercised == ["probe"]
    assert result.to_dict()["devices"]["probe"]["violated"] == 0


def test_a_candidate_the_probe_cannot_run_passes_as_inconclusive() -> None:
    result = check_candidate(str(APIS_DIR / "host_scratch.py"), _options())
    assert result.exit_code == 0
    devices = result.to_dict()["devices"]
    probe = devices["probe"]
    assert probe["probed"] == probe["inconclusive"] == result.total_cases > 0
    assert probe["passed"] == probe["violated"] == 0
    assert list(probe["inconclusive_reasons"].values()) == [result.total_cases]
    assert devices["cpu_only"] and devices["exercised"] == []
    assert devices["summary"].startswith("device paths: none, CPU only")


def test_a_device_bug_fails_with_its_count() -> None:
    result = check_candidate(str(BROKEN_DIR / "default_device_output.py"), _options())
    assert result.exit_code == 1
    assert {r.finding.check for r in result.violations} == {"device.default_output"}
    data = result.to_dict()
    assert data["devices"]["probe"]["violated"] == data["devices"]["probe"]["probed"] > 0
    assert data["options"]["device_probe"] is True


def test_without_the_probe_a_cpu_run_says_it_checked_no_device_path() -> None:
    result = check_candidate("reference:balanced_packing", _options(device_probe=False))
    devices = result.to_dict()["devices"]
    assert devices["probe"]["enabled"] is False and devices["probe"]["probed"] == 0
    assert devices["cpu_only"] is True
    assert "none, CPU only" in devices["summary"] and "--no-device-probe" in devices["summary"]


def test_workers_add_up_their_probes() -> None:
    from verifier.runs.parallel import parallel_check

    result = parallel_check("reference:balanced_packing", _options(), workers=2)
    probe = result.devices.probe
    assert probe.enabled and probe.probed == result.total_cases == probe.counts["passed"]

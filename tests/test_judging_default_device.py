"""The default-device probe: calls on CPU inputs under torch's default device `meta`, in the real
sandbox, judged as passed, violated (a device bug a GPU deployment would hit) or inconclusive
(a failure of the probe device only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from candidate_paths import APIS_DIR, BROKEN_DIR
from verifier.calling.caller import call_on
from verifier.calling.sandbox import CallOutcome, Sandbox
from verifier.judging.default_device import (
    INCONCLUSIVE_HOST_OUTPUT,
    INCONCLUSIVE_NO_DATA,
    INCONCLUSIVE_NO_KERNEL,
    INCONCLUSIVE_OTHER_RESULT,
    PROBE_DEVICE,
    ProbeVerdict,
    judge_probe,
    mismatch_error,
)
from verifier.model.instances import Instance, PackingInstance, RebalanceInstance

PACKING = PackingInstance(weights=[[5, 4, 3, 2, 1, 1]], num_packs=2)
REBALANCE = RebalanceInstance(
    weights=[[90, 132, 40, 61]], num_replicas=8, num_groups=2, num_nodes=1, num_gpus=4
)


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, Sandbox]]:
    """One started sandbox per candidate these tests probe (loading one costs about a second)."""
    specs = {
        "arange": str(BROKEN_DIR / "default_device_arange.py"),
        "output": str(BROKEN_DIR / "default_device_output.py"),
        "scratch": str(APIS_DIR / "host_scratch.py"),
        "deepseek": str(APIS_DIR / "deepseek_style.py"),
        "vllm": f"{APIS_DIR / 'vllm_policy' / 'default.py'}:GreedyEplbPolicy",
    }
    started = {name: Sandbox(spec) for name, spec in specs.items()}
    try:
        for sandbox in started.values():
            sandbox.start()
        yield started
    finally:
        for sandbox in started.values():
            sandbox.close()


def _probe(sandbox: Sandbox, instance: Instance) -> ProbeVerdict:
    """The probe's verdict on one instance: the plain CPU call, then the call under meta."""
    primary = call_on(sandbox, instance)
    assert primary.status == "ok", primary.error
    probed = call_on(sandbox, instance, default_device=PROBE_DEVICE)
    assert sandbox.info is not None
    return judge_probe(
        "probed",
        instance,
        probed,
        primary,
        moves_host_outputs=sandbox.info.profile == "vllm",
        context={"dtype": "int64", "device": "cpu"},
    )


def test_a_missing_device_is_a_mismatch_that_names_the_candidates_line(
    sandboxes: dict[str, Sandbox],
) -> None:
    verdict = _probe(sandboxes["arange"], REBALANCE)
    assert verdict.status == "violated"
    (finding,) = verdict.findings
    assert finding.check == "device.default_device" and finding.is_violation
    source = (BROKEN_DIR / "default_device_arange.py").read_text().splitlines()
    line = next(n for n, text in enumerate(source, 1) if "torch.arange(group_size," in text)
    assert f"default_device_arange.py:{line} in rebalance_experts" in finding.message
    assert finding.details["candidate_frame"].endswith(source[line - 1].strip())


def test_an_output_on_the_default_device_is_a_violation(sandboxes: dict[str, Sandbox]) -> None:
    verdict = _probe(sandboxes["output"], PACKING)
    assert verdict.status == "violated"
    assert [finding.check for finding in verdict.findings] == ["device.default_output"]


def test_item_on_a_host_scratch_tensor_is_inconclusive(sandboxes: dict[str, Sandbox]) -> None:
    verdict = _probe(sandboxes["scratch"], PACKING)
    assert verdict == ProbeVerdict("inconclusive", reason=INCONCLUSIVE_NO_DATA)


@pytest.mark.parametrize("instance", [PACKING, REBALANCE], ids=["packing", "rebalance"])
@pytest.mark.parametrize("name", ["deepseek", "vllm"])
def test_explicit_devices_and_numpy_pass(
    sandboxes: dict[str, Sandbox], name: str, instance: Instance
) -> None:
    assert _probe(sandboxes[name], instance) == ProbeVerdict("passed")


def test_the_probe_leaves_the_next_plain_call_alone(sandboxes: dict[str, Sandbox]) -> None:
    """The default device is the CPU again after a probed call, even one that raised."""
    sandbox = sandboxes["arange"]
    before = call_on(sandbox, REBALANCE)
    call_on(sandbox, REBALANCE, default_device=PROBE_DEVICE)
    assert call_on(sandbox, REBALANCE).same_result(before)


@pytest.mark.parametrize(
    ("error", "mismatch"),
    [
        ("RuntimeError: Tensor on device meta is not on the expected device cpu!", True),
        (
            "RuntimeError: Expected all tensors to be on the same device, but found at least "
            "two devices, meta and cpu!",
            True,
        ),
        ("RuntimeError: Expected all tensors to be on the same device, cuda:0 and cpu", False),
        ("RuntimeError: Tensor.item() cannot be called on meta tensors", False),
        ("NotImplementedError: Cannot copy out of meta tensor; no data!", False),
    ],
)
def test_only_a_mismatch_with_the_probe_device_is_one(error: str, mismatch: bool) -> None:
    assert mismatch_error(error) is mismatch


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        (
            CallOutcome(
                "error", error="RuntimeError: Tensor.item() cannot be called on meta tensors"
            ),
            INCONCLUSIVE_NO_DATA,
        ),
        (
            CallOutcome(
                "error", error="NotImplementedError: Cannot copy out of meta tensor; no data!"
            ),
            INCONCLUSIVE_NO_DATA,
        ),
        (
            CallOutcome(
                "error",
                error="TypeError: can't convert meta device type tensor to "
                "numpy. Use Tensor.cpu() first.",
            ),
            INCONCLUSIVE_NO_DATA,
        ),
        (
            CallOutcome(
                "error",
                error="NotImplementedError: aten::_unique2: attempted to run "
                "this operator with Meta tensors",
            ),
            INCONCLUSIVE_NO_KERNEL,
        ),
        (CallOutcome("error", error="ValueError: bad loads"), "another error (ValueError)"),
        (CallOutcome("timeout"), "the probed call ended in a timeout"),
    ],
)
def test_failures_of_the_probe_device_are_inconclusive(outcome: CallOutcome, reason: str) -> None:
    primary = CallOutcome("ok")
    verdict = judge_probe(
        "balanced_packing", PACKING, outcome, primary, moves_host_outputs=False, context={}
    )
    assert verdict == ProbeVerdict("inconclusive", reason=reason)


def test_host_outputs_under_vllm_and_other_results_are_inconclusive(
    sandboxes: dict[str, Sandbox],
) -> None:
    """An output on meta is a host output where the profile moves those (vLLM); a result
    other than the CPU call's means a meta tensor was read where torch does not check."""
    sandbox = sandboxes["output"]
    primary = call_on(sandbox, PACKING)
    probed = call_on(sandbox, PACKING, default_device=PROBE_DEVICE)
    on_host = judge_probe(
        "balanced_packing", PACKING, probed, primary, moves_host_outputs=True, context={}
    )
    assert on_host == ProbeVerdict("inconclusive", reason=INCONCLUSIVE_HOST_OUTPUT)
    other = call_on(sandbox, PackingInstance(weights=[[1, 9, 3, 2]], num_packs=2))
    differs = judge_probe(
        "balanced_packing", PACKING, other, primary, moves_host_outputs=False, context={}
    )
    assert differs == ProbeVerdict("inconclusive", reason=INCONCLUSIVE_OTHER_RESULT)

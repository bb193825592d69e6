"""The sandbox: a real worker process, real time limits, real crashes (no mocks)."""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from verifier.calling.pool import SandboxPool, started_pool
from verifier.calling.sandbox import CallOutcome, LoadInfo, OtherValue, Sandbox, TensorValue
from verifier.calling.sandbox.requests import (
    Binding,
    CallRequest,
    LoadRequest,
    Request,
    request_from_data,
)
from verifier.model.errors import CandidateError

WEIGHTS = [[90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86]]

MISBEHAVING = """
import ctypes, os, sys, time
import torch
from reference import balanced_packing as reference


class Hostile:
    def __repr__(self):
        raise RuntimeError("no repr for you")


def balanced_packing(weight, num_packs):
    mode = int(weight[0, 0])
    if mode == 1:
        time.sleep(3600)
    if mode == 2:
        os._exit(7)
    if mode == 3:
        ctypes.string_at(0)
    if mode == 4:
        raise KeyError("missing")
    if mode == 5:
        sys.exit(2)
    if mode == 6:
        print("chatter on stdout that must not break the protocol")
        print("and on stderr", file=sys.stderr)
    if mode == 7:
        weight.zero_()
    if mode == 8:
        return Hostile()
    if mode == 9:
        return (x for x in range(3))
    if mode == 10:
        return torch.zeros(3, 3, dtype=torch.complex64), 1.5
    return reference(weight, num_packs)
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    path = tmp_path_factory.mktemp("candidate") / "misbehaving.py"
    path.write_text(MISBEHAVING)
    with Sandbox(str(path), timeout=2.0) as box:
        box.start()
        yield box


def _call(sandbox: Sandbox, mode: int) -> CallOutcome:
    return sandbox.call("balanced_packing", [[mode, 1, 2, 3]], (2,), dtype="int64")


def test_load_reports_functions_and_reference_partners() -> None:
    with Sandbox("reference") as box:
        info = box.start()
    assert info.functions == ("balanced_packing", "replicate_experts", "rebalance_experts")
    assert info.variant == "greedy"
    assert info.partners["replicate_experts"] == "reference:heap"


def test_ok_call_returns_plain_data(sandbox: Sandbox) -> None:
    outcome = sandbox.call("balanced_packing", WEIGHTS, (4,), dtype="float32")
    assert outcome.status == "ok"
    assert outcome.result_type == "tuple"
    assert outcome.outputs is not None
    pack_index = outcome.outputs[0]
    assert isinstance(pack_index, TensorValue)
    assert (pack_index.dtype, pack_index.device, pack_index.shape) == (
        "torch.int64",
        "cpu",
        (1, 12),
    )
    assert sorted(pack_index.values[0]) == sorted([0, 1, 2, 3] * 3)
    assert not outcome.mutated


def test_persistent_worker_is_cheap(sandbox: Sandbox) -> None:
    restarts = sandbox.restarts
    started = time.monotonic()
    for _ in range(50):
        assert _call(sandbox, 0).status == "ok"
    assert sandbox.restarts == restarts
    assert time.monotonic() - started < 5  # a new interpreter per call would take far longer


def test_timeout_kills_and_replaces_the_worker(sandbox: Sandbox) -> None:
    restarts = sandbox.restarts
    started = time.monotonic()
    hung = sandbox.call("balanced_packing", [[1, 1, 2, 3]], (2,), dtype="int64", timeout=0.5)
    assert hung.status == "timeout"
    assert time.monotonic() - started < 2.0
    assert _call(sandbox, 0).status == "ok"
    assert sandbox.restarts == restarts + 1


@pytest.mark.parametrize(("mode", "why"), [(2, "exited with status 7"), (3, "SIGSEGV")])
def test_crash_is_an_outcome_and_the_run_goes_on(sandbox: Sandbox, mode: int, why: str) -> None:
    crashed = _call(sandbox, mode)
    assert crashed.status == "crash"
    assert why in crashed.error
    assert _call(sandbox, 0).status == "ok"


def test_exceptions_come_back_with_their_traceback(sandbox: Sandbox) -> None:
    outcome = _call(sandbox, 4)
    assert outcome.status == "error"
    assert outcome.error == "KeyError: 'missing'"
    assert "balanced_packing" in outcome.traceback
    exited = _call(sandbox, 5)
    assert exited.status == "error"
    assert exited.error.startswith("SystemExit")


def test_candidate_output_does_not_break_the_protocol(sandbox: Sandbox) -> None:
    assert _call(sandbox, 6).status == "ok"


def test_input_mutation_is_detected(sandbox: Sandbox) -> None:
    outcome = _call(sandbox, 7)
    assert outcome.mutated


def test_garbage_results_are_described_not_trusted(sandbox: Sandbox) -> None:
    hostile = _call(sandbox, 8)
    assert hostile.status == "ok"
    assert hostile.outputs is None
    assert isinstance(hostile.single, OtherValue)
    assert hostile.single.type_name == "Hostile"
    generator = _call(sandbox, 9)
    assert generator.result_type == "generator"
    odd = _call(sandbox, 10)
    assert odd.outputs is not None
    complex_tensor, number = odd.outputs
    assert isinstance(complex_tensor, TensorValue) and complex_tensor.values is None
    assert isinstance(number, OtherValue) and number.type_name == "float"


def test_unknown_device_is_an_error_not_a_crash(sandbox: Sandbox) -> None:
    outcome = sandbox.call("balanced_packing", WEIGHTS, (4,), device="no-such-device")
    assert outcome.status == "error"


def test_load_errors_are_candidate_errors(tmp_path: Path) -> None:
    crash = tmp_path / "crash_on_import.py"
    crash.write_text("import os\nos._exit(4)\n")
    with pytest.raises(CandidateError, match="exited with status 4 while loading"):
        Sandbox(str(crash)).start()
    hang = tmp_path / "hang_on_import.py"
    hang.write_text("import time\ntime.sleep(3600)\n")
    with pytest.raises(CandidateError, match="did not finish within"):
        Sandbox(str(hang), load_timeout=3).start()
    with pytest.raises(CandidateError, match="no module named"):
        Sandbox("no_such_candidate_module").start()


PREPARED = """
import time
from reference import balanced_packing as reference

READY = []


def eplb_prepare():
    time.sleep(1.5)  # a JIT compile: longer than the call's time limit below
    READY.append(True)


def balanced_packing(weight, num_packs):
    if not READY:
        raise RuntimeError("called before eplb_prepare")
    return reference(weight, num_packs)
"""


def test_eplb_prepare_runs_once_at_load_not_in_a_timed_call(tmp_path: Path) -> None:
    path = tmp_path / "prepared.py"
    path.write_text(PREPARED)
    with Sandbox(str(path), timeout=1.0) as box:
        box.start()
        assert box.call("balanced_packing", WEIGHTS, (4,)).status == "ok"
    path.write_text(PREPARED.replace("time.sleep(1.5)", "raise ValueError('no compiler')"))
    with pytest.raises(CandidateError, match=r"eplb_prepare\(\) failed: ValueError: no compiler"):
        Sandbox(str(path)).start()


def test_broken_candidates_load(broken_dir: Path) -> None:
    with Sandbox(str(broken_dir / "raises.py")) as box:
        assert box.start().functions == ("rebalance_experts",)


def test_requests_and_load_info_cross_as_plain_data() -> None:
    binding = Binding("reference", "sglang", fresh_instance=False)
    requests: list[Request] = [
        LoadRequest(binding, ("cuda",)),
        CallRequest(binding, "rebalance_experts", [[1, 2]], (4, 2, 2, 2), "int64", "cpu", True),
        CallRequest(Binding("reference:swap"), "balanced_packing", [[1.5]], (1,), old=[[0]]),
    ]
    for request in requests:
        assert request_from_data(json.loads(json.dumps(request.to_data()))) == request
    info = LoadInfo("x.py", ("balanced_packing",), "v", {"balanced_packing": "y"}, "vllm", ("n",))
    assert LoadInfo.from_data(json.loads(json.dumps(info.to_data()))) == info


@pytest.mark.skipif(
    importlib.util.find_spec("numba") is None,
    reason="numba is not installed: reference:fast has no compile step to prepare",
)
def test_a_shared_reference_worker_prepares_every_variant_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """reference:fast shares greedy's worker: its kernels compile at pool start (a cold cache
    here), not in its first call."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))  # the worker inherits it
    with SandboxPool(["reference:greedy", "reference:fast"], timeout=60.0) as pool:
        pool.start()
        assert pool["reference:fast"] is pool["reference:greedy"]
        assert any(tmp_path.rglob("*.nbi")), "the kernels were not compiled at load"
        outcome = pool["reference:fast"].call(
            "balanced_packing", WEIGHTS, (4,), spec="reference:fast"
        )
    assert outcome.status == "ok"
    assert outcome.seconds < 1.0  # a compile in the call takes seconds


def test_a_shared_worker_refuses_an_unknown_variant_at_load() -> None:
    with Sandbox("reference:greedy") as box:
        box.start()
        with pytest.raises(CandidateError, match="nosuch"):
            box.load_variant("reference:nosuch")


def test_a_command_runs_one_pool_that_must_hold_every_spec_it_is_asked_for() -> None:
    with SandboxPool(["reference:greedy"], timeout=30.0) as pool:
        with started_pool(["reference:greedy"], pool, timeout=30.0) as same:
            assert same is pool and pool.started  # started on first use, not a second pool
        with (
            pytest.raises(ValueError, match="reference:swap"),
            started_pool(["reference:swap"], pool, timeout=30.0),
        ):
            pass

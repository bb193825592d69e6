"""Profiles as axes: the one-string form, detection per axis with its reason, overrides, the
adaptations each axis calls for, the reference old placement and the first probe call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from candidate_paths import APIS_DIR, BROKEN_DIR
from verifier.calling.candidates import resolve_candidate
from verifier.calling.profiles.adapt import by_axes
from verifier.calling.profiles.axes import ApiSpec, Axes, parse_api, valid_api
from verifier.calling.profiles.axis_detection import detect_returns
from verifier.calling.profiles.binding import BoundCandidate, bind
from verifier.calling.profiles.old_placement import reference_old_placement
from verifier.calling.profiles.probe_call import probe_arrays, probe_old_placement
from verifier.model.errors import CandidateError

NUMPY_PORT = str(APIS_DIR / "numpy_port.py")
SWAP = f"{APIS_DIR / 'swap_policy.py'}:SwapEplbPolicy"
VLLM = f"{APIS_DIR / 'vllm_policy' / 'default.py'}:GreedyEplbPolicy"
OVER_BUDGET = f"{BROKEN_DIR / 'swap_over_budget.py'}:OverBudgetSwapPolicy"


def _bound(spec: str, api: str = "auto") -> BoundCandidate:
    return bind(resolve_candidate(spec), api)


def test_the_profile_string_round_trips_and_rejects_unknown_settings() -> None:
    spec = ApiSpec("deepseek", arrays="numpy", index_dtype="int32")
    assert spec.text() == "deepseek,arrays=numpy,index_dtype=int32"
    assert parse_api(spec.text()) == spec
    assert ApiSpec("vllm").text() == "vllm"  # a bare naming is today's --api
    assert not valid_api("deepseek,arrays=cupy") and not valid_api("tensorflow")
    with pytest.raises(CandidateError, match="arrays=cupy"):
        parse_api("deepseek,arrays=cupy")


def test_auto_detects_numpy_arrays_and_declared_int32_with_reasons() -> None:
    bound = _bound(NUMPY_PORT)
    assert bound.profile.name == "deepseek"
    for function in ("balanced_packing", "replicate_experts", "rebalance_experts"):
        axes = bound.axes_of(function)
        assert (axes.arrays, axes.index_dtype) == ("numpy", "int32")
        reasons = dict(axes.reasons)
        assert "annotated numpy.ndarray" in reasons["arrays"]
        assert "np.int32" in reasons["index_dtype"]
    assert any("arrays numpy (" in note for note in bound.notes)


def test_explicit_deepseek_keeps_todays_defaults_and_overrides_win() -> None:
    plain = _bound(NUMPY_PORT, "deepseek").axes_of("rebalance_experts")
    assert (plain.arrays, plain.index_dtype, plain.old_placement) == ("preset", "int64", "none")
    spec = ApiSpec("deepseek", arrays="numpy", index_dtype="int32").text()
    forced = _bound(NUMPY_PORT, spec).axes_of("rebalance_experts")
    assert (forced.arrays, forced.index_dtype) == ("numpy", "int32")
    assert dict(forced.reasons) == {"arrays": "requested", "index_dtype": "requested"}


def _pair(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return weight, weight


def _single(weight: torch.Tensor) -> torch.Tensor:
    return weight


def _triple(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return weight, weight, weight


def test_the_return_form_is_read_from_the_return_annotation() -> None:
    assert detect_returns("rebalance_experts", _pair) == ("pair", "its return annotation is a pair")
    assert detect_returns("rebalance_experts", _single)[0] == "phy2log"
    assert detect_returns("rebalance_experts", _triple) == ("preset", "")
    assert detect_returns("balanced_packing", _pair) == ("preset", "")  # a packing is a pair


def test_int32_of_a_torch_candidate_is_not_declared_by_its_source() -> None:
    """`wrong_dtype.py` casts to torch.int32: that stays a behaviour.dtype violation."""
    axes = _bound(str(BROKEN_DIR / "wrong_dtype.py")).axes_of("balanced_packing")
    assert (axes.arrays, axes.index_dtype) == ("preset", "int64")


def test_old_placement_axis_none_optional_required() -> None:
    assert _bound(SWAP).axes_of("rebalance_experts").old_placement == "required"
    assert "asserts that old_global_expert_indices is given" in " ".join(_bound(SWAP).notes)
    assert _bound(VLLM).axes_of("rebalance_experts").old_placement == "optional"
    assert _bound(NUMPY_PORT).axes_of("rebalance_experts").old_placement == "none"
    forced = ApiSpec("vllm", old_placement="optional").text()
    assert _bound(SWAP, forced).requires_old == []
    with pytest.raises(CandidateError, match="no old-placement parameter"):
        _bound(NUMPY_PORT, ApiSpec("deepseek", old_placement="required").text())


def test_the_first_probe_call_finds_a_required_old_placement() -> None:
    """The subclass's own source asserts nothing; its parent's call does."""
    bound = _bound(OVER_BUDGET)
    assert bound.requires_old == []
    probe_old_placement(bound)
    assert bound.requires_old == ["rebalance_experts"]
    why = dict(bound.axes_of("rebalance_experts").reasons)["old_placement"]
    assert why.startswith("a probe call without one raised AssertionError")
    optional = _bound(VLLM)
    probe_old_placement(optional)  # returns without one: stays optional
    assert optional.requires_old == [] and optional.accepts_old == ["rebalance_experts"]


def test_numpy_int32_outputs_are_widened_only_where_declared() -> None:
    result = (np.array([[0, 1]], dtype=np.int32), np.array([[0, 0]], dtype=np.int32))
    weight = torch.tensor([[3.0, 1.0]])
    declared = Axes("numpy", "int32", reasons=(("index_dtype", "requested"),))
    adapted, notes = by_axes("balanced_packing", result, weight, 2, declared)
    assert all(isinstance(t, torch.Tensor) and t.dtype == torch.int64 for t in adapted)
    assert any("int32 outputs accepted (requested)" in note for note in notes)
    undeclared, _ = by_axes("balanced_packing", result, weight, 2, Axes("numpy", "int64"))
    assert all(t.dtype == torch.int32 for t in undeclared)  # judged as returned: a violation


def test_a_pair_rebalance_gets_log2phy_and_keeps_its_own_logcnt() -> None:
    phy2log = torch.tensor([[0, 1, 0]])
    wrong_logcnt = torch.tensor([[1, 1]])
    (out_phy2log, log2phy, logcnt), notes = by_axes(
        "rebalance_experts", (phy2log, wrong_logcnt), torch.ones(1, 2), 2, Axes(returns="pair")
    )
    assert torch.equal(out_phy2log, phy2log) and torch.equal(logcnt, wrong_logcnt)
    assert log2phy.tolist() == [[[0, 2], [1, -1]]]
    assert notes == ["log2phy derived from phy2log (returns (phy2log, logcnt))"]


def test_the_reference_old_placement_is_per_layer_and_scale_invariant() -> None:
    weight = torch.tensor([[90, 132, 40, 61, 104, 165, 39, 4], [5, 1, 7, 2, 9, 3, 8, 6]])
    args = (12, 4, 2, 4)
    batch = reference_old_placement(weight, args, True)
    alone = reference_old_placement(weight[1:], args, True)
    assert torch.equal(batch[1:], alone)  # layer independence is kept
    assert torch.equal(reference_old_placement(weight * 4, args, True), batch)
    assert all(set(row) == set(range(8)) for row in batch.tolist())
    assert torch.equal(reference_old_placement(weight, args, True), batch)  # seeded


BARE_PORT = """
import numpy as np


def replicate_experts(weight, num_phy):
    layers, num_log = weight.shape
    loads = weight * (1 if weight.dtype.kind == "f" else 1.0)
    phy2log = np.tile(np.arange(num_phy) % num_log, (layers, 1))
    rank = np.zeros((layers, num_phy), dtype=np.int64)
    logcnt = np.ones((layers, num_log), dtype=np.int64)
    rows = np.arange(layers)
    for slot in range(num_log, num_phy):
        best = np.argmax(loads / logcnt, axis=-1)
        phy2log[:, slot], rank[:, slot] = best, logcnt[rows, best]
        logcnt[rows, best] += 1
    return phy2log.astype(np.int32), rank.astype(np.int32), logcnt.astype(np.int32)
"""


HELPER_CAST_PORT = """
from numpy import asarray, int32
import torch

from reference import rebalance_experts as reference


def _maps(*tensors):
    return tuple(t.numpy().astype(int32) for t in tensors)


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    loads = torch.from_numpy(asarray(weight))
    if loads.dtype.is_floating_point is None:
        raise TypeError("no loads")
    return _maps(*reference(loads, num_replicas, num_groups, num_nodes, num_gpus))
"""


def test_int32_cast_in_a_helper_of_a_from_numpy_port_is_declared(tmp_path: Path) -> None:
    """`from numpy import ...` is a numpy import, and the module's cast declares int32 even
    when a helper does it, not the function itself."""
    path = tmp_path / "helper_cast_port.py"
    path.write_text(HELPER_CAST_PORT.replace("asarray(weight)", "weight"))
    bound = _bound(str(path))
    probe_arrays(bound)  # torch.from_numpy(tensor) raises; with numpy loads it returns
    axes = bound.axes_of("rebalance_experts")
    assert (axes.arrays, axes.index_dtype) == ("numpy", "int32")
    assert dict(axes.reasons)["index_dtype"].startswith("a numpy port whose source casts")


def test_the_first_probe_call_finds_numpy_loads(tmp_path: Path) -> None:
    """No annotation, no idiom on its parameter: only a call with torch loads tells."""
    path = tmp_path / "bare_port.py"
    path.write_text(BARE_PORT)
    bound = _bound(str(path))
    assert bound.axes_of("replicate_experts").arrays == "preset"
    probe_arrays(bound)
    axes = bound.axes_of("replicate_experts")
    assert (axes.arrays, axes.index_dtype) == ("numpy", "int32")
    why = dict(axes.reasons)["arrays"]
    assert why.startswith("a probe call with torch loads raised AttributeError")
    forced = _bound(str(path), "deepseek")  # an explicit naming is not probed
    probe_arrays(forced)
    assert forced.axes_of("replicate_experts").arrays == "preset"


COUNTING_POLICY = """
from reference import rebalance_experts as reference


def _placement_given(old):
    assert old is not None, "an incremental policy needs the placement"


class CountingPolicy:
    def __init__(self):
        self.calls = 0

    def rebalance_experts(self, weight, num_replicas, num_groups, num_nodes, num_ranks,
                          old_global_expert_indices=None):
        self.calls += 1
        _placement_given(old_global_expert_indices)
        return reference(weight, num_replicas, num_groups, num_nodes, num_ranks)[0]
"""


def test_probe_calls_leave_a_shared_instance_untouched(tmp_path: Path) -> None:
    """The probe runs on a throwaway instance: a stateful policy's first real call is its first."""
    path = tmp_path / "counting.py"
    path.write_text(COUNTING_POLICY)
    bound = bind(resolve_candidate(f"{path}:CountingPolicy"), "auto", fresh_instance=False)
    probe_old_placement(bound)
    assert bound.requires_old == ["rebalance_experts"]
    assert bound.function("rebalance_experts").__self__.calls == 0  # type: ignore[attr-defined]

"""Load traces: every format reads back the same windows, malformed files fail naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from verifier.corpus.bundled_traces import (
    DEFAULT_SPEC,
    SMALL_SPEC,
    WRITERS,
    default_trace_path,
    small_trace_paths,
)
from verifier.model.traces import TraceError, load_trace

STEPS = np.array(
    [
        [[1, 2, 3], [0, 0, 4]],
        [[5, 0, 1], [2, 2, 2]],
        [[0, 7, 0], [1, 1, 1]],
        [[3, 3, 3], [9, 0, 0]],
    ],
    dtype=np.int64,
)  # 4 steps x 2 layers x 3 experts


@pytest.mark.parametrize("suffix", list(WRITERS))
def test_every_format_round_trips(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"trace{suffix}"
    WRITERS[suffix](path, STEPS)
    trace = load_trace(path, window=2)
    assert trace.steps == 4 and trace.window == 2
    assert trace.windows == [STEPS[0:2].sum(axis=0).tolist(), STEPS[2:4].sum(axis=0).tolist()]


def test_a_partial_last_window_is_dropped_and_said(tmp_path: Path) -> None:
    path = tmp_path / "trace.npy"
    WRITERS[".npy"](path, np.concatenate([STEPS, STEPS[:1]]))
    trace = load_trace(path, window=2)
    assert len(trace.windows) == 2 and trace.dropped_steps == 1
    assert "last 1 steps dropped" in trace.describe()


def test_float_loads_are_kept_as_floats(tmp_path: Path) -> None:
    path = tmp_path / "trace.json"
    path.write_text(json.dumps((STEPS / 4).tolist()))
    trace = load_trace(path, window=1)
    assert trace.windows[0][0] == [0.25, 0.5, 0.75]


def test_the_shipped_small_traces_agree_in_every_format() -> None:
    expected = load_trace(small_trace_paths()[".npy"], window=10).windows
    for suffix, path in small_trace_paths().items():
        assert load_trace(path, window=10).windows == expected, suffix


def test_the_shipped_traces_are_what_the_generator_makes() -> None:
    default = np.load(default_trace_path(), allow_pickle=False)
    assert np.array_equal(default, DEFAULT_SPEC.build())
    small = np.load(small_trace_paths()[".npy"], allow_pickle=False)
    assert np.array_equal(small, SMALL_SPEC.build())


def _problem(path: Path, window: int = 1) -> str:
    with pytest.raises(TraceError) as caught:
        load_trace(path, window=window)
    message = str(caught.value)
    assert str(path) in message  # every error names the file
    return message


def _write(tmp_path: Path, name: str, content: object) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.json", "{not json", "not valid JSON"),
        ("two_d.json", [[1, 2], [3, 4]], "got 2 dimensions"),
        ("ragged.json", [[[1, 2]], [[1]]], "different lengths"),
        (
            "negative.json",
            [[[1, -2]], [[1, 1]]],
            "negative load at [step, layer, expert] [0, 0, 1]",
        ),
        ("text.json", [[["a", "b"]], [["c", "d"]]], "must be numbers"),
        ("empty.json", [], "dimensions"),
        ("vllm_missing.json", {"steps": []}, "'load_history'"),
        ("vllm_entry.json", {"load_history": [{"loads": [[1]]}]}, "load_history[0] has no"),
        ("unknown.csv", "1,2,3", "unknown trace format '.csv'"),
    ],
)
def test_malformed_json_and_unknown_files(
    tmp_path: Path, name: str, content: object, expected: str
) -> None:
    assert expected in _problem(_write(tmp_path, name, content))


def test_non_finite_loads(tmp_path: Path) -> None:
    path = tmp_path / "nan.npy"
    np.save(path, np.array([[[1.0, np.nan]], [[1.0, 1.0]]]))
    assert "non-finite load at [step, layer, expert] [0, 0, 1]" in _problem(path)


def test_too_few_steps_for_two_windows(tmp_path: Path) -> None:
    path = tmp_path / "short.npy"
    WRITERS[".npy"](path, STEPS)
    assert "4 steps make 1 whole windows of 3 steps" in _problem(path, window=3)


def test_missing_file_and_garbage_binaries(tmp_path: Path) -> None:
    assert "no such file" in _problem(tmp_path / "absent.npy")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a torch file")
    assert "not a loadable torch file" in _problem(garbage)
    bad_npy = tmp_path / "garbage.npy"
    bad_npy.write_bytes(b"nope")
    assert "not a readable .npy array" in _problem(bad_npy)


def test_torch_files_never_unpickle_objects(tmp_path: Path) -> None:
    path = tmp_path / "object.pt"
    torch.save({"logical_count": torch.zeros(2, 1, 2), "payload": Path("x")}, path)
    assert "not a loadable torch file (weights only)" in _problem(path)


def test_a_torch_dict_without_sglangs_key(tmp_path: Path) -> None:
    path = tmp_path / "dict.pt"
    torch.save({"records": [], "last_physical_to_logical_map": torch.zeros(1)}, path)
    message = _problem(path)
    assert "without 'logical_count'" in message and "last_physical_to_logical_map" in message

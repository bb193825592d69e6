"""Expert-load traces: per-step loads of every MoE layer, read from what serving stacks write.

A trace is a `[steps, layers, experts]` array of non-negative loads (token counts). `load_trace`
reads it and sums consecutive steps into windows of `window` steps (a trailing partial window is
dropped: it is not comparable with the full ones). Formats, recognised by name and content:

- vLLM-based EPLB evaluators' JSON: `{"load_history": [{"logical_expert_load": [[loads of layer
  0], ...]}, ...]}`, one entry per step;
- a plain `[steps, layers, experts]` array: JSON (nested lists), `.npy`, or a torch `.pt` tensor;
- SGLang's expert-distribution recorder dump (`torch.save` of the `stat` mode's output): a dict
  whose `logical_count` is an integer tensor `[buffered_steps, layers, logical_experts]`; its
  other keys (`rank`, `average_utilization_rate_over_window`) are not read.

`.pt` files load with `torch.load(weights_only=True)`, which never unpickles arbitrary objects.
Anything else (a wrong shape, a negative, NaN or non-numeric load, too few steps) raises
`TraceError` naming the file and the problem.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from verifier.model.errors import EplbVerifyError
from verifier.model.instances import Number, Weights

DEFAULT_WINDOW = 100
LOAD_HISTORY = "load_history"
LOGICAL_EXPERT_LOAD = "logical_expert_load"
SGLANG_COUNT = "logical_count"
RAGGED = "rows of different lengths: not a [steps, layers, experts] array"


class TraceError(EplbVerifyError, ValueError):
    """A trace file that cannot be read; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"trace {path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class Trace:
    """Loads summed into windows: `windows[t][layer][expert]` (ints for integer traces)."""

    source: str  # the file, or "bundled:NAME"
    format: str  # vllm-json | array-json | npy | torch | sglang
    steps: int  # steps read from the file
    window: int  # steps per window
    windows: list[Weights]

    @property
    def layers(self) -> int:
        return len(self.windows[0])

    @property
    def experts(self) -> int:
        return len(self.windows[0][0])

    @property
    def dropped_steps(self) -> int:
        """Trailing steps that do not fill a whole window (not used)."""
        return self.steps - self.window * len(self.windows)

    def describe(self) -> str:
        dropped = f", last {self.dropped_steps} steps dropped" if self.dropped_steps else ""
        return (
            f"{self.source} ({self.format}): {self.steps} steps x {self.layers} layers x "
            f"{self.experts} experts, {len(self.windows)} windows of {self.window} steps{dropped}"
        )


def load_trace(path: str | Path, window: int = DEFAULT_WINDOW, *, min_windows: int = 2) -> Trace:
    """Read a trace file and sum it into windows; raises `TraceError` (a `ValueError`)."""
    path = Path(path)
    if window < 1:
        raise TraceError(path, f"the window must be at least 1 step, got {window}")
    fmt, steps = load_steps(path)
    return windowed(str(path), fmt, steps, window, min_windows=min_windows)


def load_steps(path: str | Path) -> tuple[str, np.ndarray]:
    """The format and the validated `[steps, layers, experts]` array of a trace file, step by
    step (not summed into windows: what a windowed policy is given); raises `TraceError`."""
    path = Path(path)
    if not path.is_file():
        raise TraceError(path, "no such file")
    fmt, raw = _read(path)
    return fmt, _validated(path, raw)


def windowed(source: str, fmt: str, steps: np.ndarray, window: int, *, min_windows: int) -> Trace:
    """Sum consecutive `window` steps of a validated `[steps, layers, experts]` array."""
    count = steps.shape[0] // window
    if count < min_windows:
        raise TraceError(
            source,
            f"{steps.shape[0]} steps make {count} whole windows of {window} steps; "
            f"at least {min_windows} are needed (pass a smaller --window)",
        )
    used = steps[: count * window].reshape(count, window, *steps.shape[1:]).sum(axis=1)
    return Trace(source, fmt, int(steps.shape[0]), window, [_rows(block) for block in used])


def _rows(block: np.ndarray) -> Weights:
    values: list[list[Number]] = block.tolist()
    return values


# --------------------------------------------------------------------------- reading


def _read(path: Path) -> tuple[str, Any]:
    """The format and the raw array-like content of a trace file."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return "npy", _read_npy(path)
    if suffix in (".pt", ".pth"):
        return _read_torch(path)
    if suffix == ".json":
        return _read_json(path)
    raise TraceError(
        path, f"unknown trace format {suffix or '(no suffix)'!r}: use .json, .npy or .pt"
    )


def _read_npy(path: Path) -> Any:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise TraceError(path, f"not a readable .npy array: {error}") from None


def _read_json(path: Path) -> tuple[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise TraceError(path, "not UTF-8 text (a JSON trace must be)") from None
    except json.JSONDecodeError as error:
        raise TraceError(path, f"not valid JSON: {error}") from None
    if isinstance(data, dict):
        return "vllm-json", _vllm_steps(path, data)
    return "array-json", data


def _vllm_steps(path: Path, data: dict[str, Any]) -> list[Any]:
    history = data.get(LOAD_HISTORY)
    if not isinstance(history, list):
        raise TraceError(
            path, f"a JSON object trace needs a {LOAD_HISTORY!r} list (the vLLM evaluator format)"
        )
    steps = []
    for index, entry in enumerate(history):
        if not isinstance(entry, dict) or LOGICAL_EXPERT_LOAD not in entry:
            raise TraceError(path, f"{LOAD_HISTORY}[{index}] has no {LOGICAL_EXPERT_LOAD!r}")
        steps.append(entry[LOGICAL_EXPERT_LOAD])
    return steps


def _read_torch(path: Path) -> tuple[str, Any]:
    import pickle

    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TraceError(path, f"not a loadable torch file (weights only): {first}") from None
    if isinstance(data, dict):
        if SGLANG_COUNT not in data:
            found = ", ".join(sorted(map(str, data))) or "none"
            raise TraceError(
                path,
                f"a dict without {SGLANG_COUNT!r} (SGLang's recorder in 'stat' mode writes it; "
                f"keys found: {found})",
            )
        return "sglang", _tensor_array(path, data[SGLANG_COUNT], SGLANG_COUNT)
    return "torch", _tensor_array(path, data, "the file")


def _tensor_array(path: Path, value: Any, what: str) -> np.ndarray:
    import torch

    if not isinstance(value, torch.Tensor):
        raise TraceError(path, f"{what} holds a {type(value).__name__}, not a tensor")
    if value.is_complex() or value.dtype == torch.bool:
        raise TraceError(path, f"{what} has dtype {value.dtype}, not a real number type")
    tensor = value.detach().cpu()
    if tensor.is_floating_point():
        return tensor.to(torch.float64).numpy()
    return tensor.to(torch.int64).numpy()


# --------------------------------------------------------------------------- validation


def _validated(path: Path, raw: Any) -> np.ndarray:
    """A `[steps, layers, experts]` int64 or float64 array of finite, non-negative loads."""
    try:
        array = np.asarray(raw)
    except (ValueError, TypeError):  # ragged nested lists
        raise TraceError(path, RAGGED) from None
    if array.dtype == object:
        raise TraceError(path, RAGGED)
    if array.ndim != 3:
        raise TraceError(
            path, f"expected a [steps, layers, experts] array, got {array.ndim} dimensions"
        )
    if 0 in array.shape:
        raise TraceError(path, f"empty trace (shape {list(array.shape)})")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise TraceError(path, f"loads must be numbers, got {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TraceError(path, "loads must be real numbers")
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.int64)
    else:
        array = array.astype(np.float64)
        bad = ~np.isfinite(array)
        if bad.any():
            raise TraceError(path, f"non-finite load at [step, layer, expert] {_where(bad)}")
    negative = array < 0
    if negative.any():
        raise TraceError(path, f"negative load at [step, layer, expert] {_where(negative)}")
    return array


def _where(mask: np.ndarray) -> list[int]:
    return [int(index) for index in np.argwhere(mask)[0]]

"""The bundled load traces (`verifier/data/traces/`), rebuilt deterministically by our drift model.

Every file is made by the corpus generator's drift model (`verifier.corpus.generate.drift_windows`,
seeded Python `random` streams, stable across platforms): each layer's expert popularity follows a
mean-reverting walk with occasional hot-expert turnover, one step per row. Regenerate with
`python -m verifier.trace_files` (the same loads every time; a test checks the shipped files).

- `drift-deepseek-v3.npy`: the default trace of `eplb-verify score`: 400 steps x 4 layers x 256
  experts (DeepSeek-V3's expert count), 4096 routed tokens per step (int16);
- `drift-small.*`: one small trace (40 steps x 2 layers x 16 experts) in every format `--trace`
  reads, for tests and examples: `.vllm.json` (vLLM evaluators' `load_history`), `.array.json`
  (a plain array), `.npy`, `.pt` (a torch tensor) and `.sglang.pt` (SGLang's recorder dump).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from verifier.corpus.generate import drift_windows, rng_for

TRACES_DIR = Path(__file__).resolve().parent / "data" / "traces"
DEFAULT_TRACE = "drift-deepseek-v3.npy"
SMALL_STEM = "drift-small"
SMALL_SUFFIXES = (".vllm.json", ".array.json", ".npy", ".pt", ".sglang.pt")
STEP_DRIFT = 0.05  # per-step walk of log-popularity (windows of 100 steps drift visibly)
STEP_TURNOVER = 0.01  # chance per step that a hot expert cools and a cold one heats up


@dataclass(frozen=True)
class TraceSpec:
    """One synthetic trace: its shape, routed tokens per step and seed."""

    name: str
    steps: int
    layers: int
    experts: int
    tokens: int
    seed: int

    def build(self) -> np.ndarray:
        """`[steps, layers, experts]` int16 loads; every layer has its own seeded stream."""
        per_layer = [
            drift_windows(
                rng_for(f"trace/{self.name}/layer{layer}", self.seed),
                self.experts,
                self.steps,
                self.tokens,
                step=STEP_DRIFT,
                turnover=STEP_TURNOVER,
            )
            for layer in range(self.layers)
        ]
        return np.asarray(per_layer, dtype=np.int16).transpose(1, 0, 2).copy()


DEFAULT_SPEC = TraceSpec("drift-deepseek-v3", 400, 4, 256, 4096, 0)
SMALL_SPEC = TraceSpec(SMALL_STEM, 40, 2, 16, 256, 0)


def default_trace_path() -> Path:
    return TRACES_DIR / DEFAULT_TRACE


def small_trace_paths() -> dict[str, Path]:
    """The small trace in every format, by suffix."""
    return {suffix: TRACES_DIR / f"{SMALL_STEM}{suffix}" for suffix in SMALL_SUFFIXES}


# --------------------------------------------------------------------------- writers


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    temp = Path(name)
    try:
        write(temp)
        temp.chmod(0o644)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data) + "\n")


def write_npy(path: Path, steps: np.ndarray) -> None:
    def write(temp: Path) -> None:
        with temp.open("wb") as stream:
            np.save(stream, steps, allow_pickle=False)

    _atomic(path, write)


def write_array_json(path: Path, steps: np.ndarray) -> None:
    _atomic(path, lambda temp: _write_json(temp, steps.tolist()))


def write_vllm_json(path: Path, steps: np.ndarray) -> None:
    history = [{"logical_expert_load": step.tolist()} for step in steps]
    _atomic(path, lambda temp: _write_json(temp, {"load_history": history}))


def write_torch(path: Path, steps: np.ndarray) -> None:
    import torch

    _atomic(path, lambda temp: torch.save(torch.from_numpy(steps.astype(np.int64)), temp))


def write_sglang(path: Path, steps: np.ndarray) -> None:
    """The keys SGLang's recorder writes in 'stat' mode (rank 0's file)."""
    import torch

    dump = {
        "rank": 0,
        "logical_count": torch.from_numpy(steps.astype(np.int32)),
        "average_utilization_rate_over_window": None,
    }
    _atomic(path, lambda temp: torch.save(dump, temp))


WRITERS: dict[str, Callable[[Path, np.ndarray], None]] = {
    ".vllm.json": write_vllm_json,
    ".array.json": write_array_json,
    ".npy": write_npy,
    ".pt": write_torch,
    ".sglang.pt": write_sglang,
}


def regenerate(folder: Path = TRACES_DIR) -> list[Path]:
    """Write every bundled trace into `folder`; the paths written."""
    written = [folder / DEFAULT_TRACE]
    write_npy(written[0], DEFAULT_SPEC.build())
    small = SMALL_SPEC.build()
    for suffix, writer in WRITERS.items():
        path = folder / f"{SMALL_STEM}{suffix}"
        writer(path, small)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """`python -m verifier.trace_files [FOLDER]`: regenerate the bundled traces."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else TRACES_DIR
    for path in regenerate(folder):
        print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

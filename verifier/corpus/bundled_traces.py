"""The bundled load traces (`verifier/data/traces/`), rebuilt deterministically by our drift model.

Every file is made by the corpus generator's drift model (`verifier.corpus.generate.drift_windows`,
seeded Python `random` streams, stable across platforms): each layer's expert popularity follows a
mean-reverting walk with occasional hot-expert turnover, one step per row. Regenerate with
`python -m verifier.corpus.bundled_traces` (the same loads every time; a test checks the shipped
files).

- `drift-deepseek-v3.npy`: the default trace of `eplb-verify score`: 400 steps x 4 layers x 256
  experts (DeepSeek-V3's expert count), 4096 routed tokens per step (int16);
- `drift-small.*`: one small trace (40 steps x 2 layers x 16 experts) in every format `--trace`
  reads, for tests and examples: `.vllm.json` (vLLM evaluators' `load_history`), `.array.json`
  (a plain array), `.npy`, `.pt` (a torch tensor) and `.sglang.pt` (SGLang's recorder dump).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from verifier.corpus.generate import drift_windows, rng_for
from verifier.model.atomic import write_atomically

TRACES_DIR = Path(__file__).resolve().parent.parent / "data" / "traces"
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


def _json_text(data: object) -> str:
    """Compact JSON (the bundled traces are large), one trailing newline."""
    return json.dumps(data) + "\n"


def _torch_bytes(value: object) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def write_npy(path: Path, steps: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, steps, allow_pickle=False)
    write_atomically(path, buffer.getvalue())


def write_array_json(path: Path, steps: np.ndarray) -> None:
    write_atomically(path, _json_text(steps.tolist()))


def write_vllm_json(path: Path, steps: np.ndarray) -> None:
    history = [{"logical_expert_load": step.tolist()} for step in steps]
    write_atomically(path, _json_text({"load_history": history}))


def write_torch(path: Path, steps: np.ndarray) -> None:
    import torch

    write_atomically(path, _torch_bytes(torch.from_numpy(steps.astype(np.int64))))


def write_sglang(path: Path, steps: np.ndarray) -> None:
    """The keys SGLang's recorder writes in 'stat' mode (rank 0's file)."""
    import torch

    dump = {
        "rank": 0,
        "logical_count": torch.from_numpy(steps.astype(np.int32)),
        "average_utilization_rate_over_window": None,
    }
    write_atomically(path, _torch_bytes(dump))


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
    """`python -m verifier.corpus.bundled_traces [FOLDER]`: regenerate the bundled traces."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else TRACES_DIR
    for path in regenerate(folder):
        print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

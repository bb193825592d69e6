"""Bug (a required-old-placement vLLM-style policy): after its swaps it sorts each GPU's slots by
expert id, so experts that stay on a GPU lose their old slots (needless weight copies):
`incremental.slot_preservation`. The policy itself is the fixture
`tests/candidates/apis/swap_policy.py`, loaded from its file."""

import importlib.util
from pathlib import Path

import numpy as np

_PATH = Path(__file__).resolve().parents[1] / "apis" / "swap_policy.py"
_SPEC = importlib.util.spec_from_file_location("eplb_fixture_swap_policy", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
_MODULE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)


class SortingSwapPolicy(_MODULE.SwapEplbPolicy):  # type: ignore[name-defined]
    @classmethod
    def _keep_slots(cls, old: np.ndarray, new: np.ndarray, per_gpu: int) -> np.ndarray:
        return np.sort(new.reshape(-1, per_gpu), axis=-1).reshape(-1)

"""Bug (a required-old-placement vLLM-style policy): after its swaps it sorts each GPU's slots by
expert id, so experts that stay on a GPU lose their old slots (needless weight copies):
`incremental.slot_preservation`. The policy itself is the fixture
`tests/candidates/apis/swap_policy.py`, loaded from its file."""

import numpy as np
from _api_fixture import api_fixture

_MODULE = api_fixture("swap_policy.py")


class SortingSwapPolicy(_MODULE.SwapEplbPolicy):  # type: ignore[name-defined]
    @classmethod
    def _keep_slots(cls, old: np.ndarray, new: np.ndarray, per_gpu: int) -> np.ndarray:
        return np.sort(new.reshape(-1, per_gpu), axis=-1).reshape(-1)

"""Bug (FlashLB-style stateful class): the random fill of `apis/windowed_policy.py` draws from
an unseeded generator, so two identical sequences of calls give different plans.

The fill only runs when a layer is planned again over an old plan; a check of single calls
never calls one instance twice with the same history, so only sequence mode
(`check --sequence N`) sees it: `behaviour.nondeterministic`.
"""

import importlib.util
import random
from pathlib import Path

_SOURCE = Path(__file__).resolve().parent.parent / "apis" / "windowed_policy.py"
_SPEC = importlib.util.spec_from_file_location("windowed_policy_fixture", _SOURCE)
assert _SPEC is not None and _SPEC.loader is not None
_FIXTURE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_FIXTURE)


class UnseededWindowedPolicy(_FIXTURE.WindowedPolicy):  # type: ignore[name-defined]
    def generator(self) -> random.Random:
        return random.Random()  # the bug: seeded from the operating system's entropy

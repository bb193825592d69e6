"""Bug (FlashLB-style stateful class): the random fill of `apis/windowed_policy.py` draws from
an unseeded generator, so two identical sequences of calls give different plans.

The fill only runs when a layer is planned again over an old plan; a check of single calls
never calls one instance twice with the same history, so only sequence mode
(`check --sequence N`) sees it: `behaviour.nondeterministic`.
"""

import random

from _api_fixture import api_fixture

_FIXTURE = api_fixture("windowed_policy.py")


class UnseededWindowedPolicy(_FIXTURE.WindowedPolicy):  # type: ignore[name-defined]
    def generator(self) -> random.Random:
        return random.Random()  # the bug: seeded from the operating system's entropy

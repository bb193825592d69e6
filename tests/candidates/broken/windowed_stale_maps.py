"""Bug (FlashLB-style stateful class): when a call changes several layers of its previous plan,
`apis/windowed_policy.py`'s cached maps are refreshed for the first of them only, so `log2phy`
and `logcnt` go stale for the others.

A fresh instance builds every map from scratch, so a check of single calls never sees it; in
sequence mode (`check --sequence N`) the first call that changes two layers breaks
`rebalance.log2phy` (or the `logcnt` rules) at that step.
"""

from _api_fixture import api_fixture

_FIXTURE = api_fixture("windowed_policy.py")


class StaleMapsWindowedPolicy(_FIXTURE.WindowedPolicy):  # type: ignore[name-defined]
    def update_maps(self, changed: list[int]) -> None:
        self.refresh(changed[:1])  # the bug: the other changed layers keep their old maps

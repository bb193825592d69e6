"""Sandbox workers for several candidates at once (`bench`, `score`, `report`, the corpus).

Every candidate gets its own worker, so one that crashes or hangs cannot disturb another's
results; the reference variants, which are our own code, share a single worker (each call names
its variant), which saves a torch import per variant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from verifier.calling.candidates import is_reference_variant
from verifier.calling.sandbox import Sandbox


class SandboxPool:
    """One started `Sandbox` per candidate spec (reference variants share one). Context manager.

    `start` raises `CandidateError` when a candidate cannot be loaded (the pool is closed first).
    """

    def __init__(
        self, specs: Sequence[str], *, timeout: float, api: str = "auto", fresh: bool = True
    ) -> None:
        self.specs = list(dict.fromkeys(specs))
        self.timeout = timeout
        self.api, self.fresh = api, fresh  # how the user's candidates are called (API profile)
        self._boxes: dict[str, Sandbox] = {}

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, progress: Callable[[str], None] | None = None) -> None:
        shared: Sandbox | None = None  # the reference variants' worker, once started
        try:
            for spec in self.specs:
                if progress is not None:
                    progress(f"loading {spec}")
                reference = is_reference_variant(spec)
                if reference and shared is not None:
                    shared.load_variant(spec)
                    self._boxes[spec] = shared
                    continue
                api = "deepseek" if reference else self.api  # the reference speaks DeepSeek's API
                box = Sandbox(spec, timeout=self.timeout, api=api, fresh_instance=self.fresh)
                self._boxes[spec] = box
                box.start()
                if reference:
                    shared = box
        except BaseException:
            self.close()
            raise

    @property
    def started(self) -> bool:
        return bool(self._boxes)

    def __getitem__(self, spec: str) -> Sandbox:
        return self._boxes[spec]

    def functions(self, spec: str) -> tuple[str, ...]:
        """The EPLB functions a candidate defines (every one, for a reference variant)."""
        info = self._boxes[spec].info
        return () if info is None else info.functions

    def profiles(self) -> dict[str, dict[str, Any]]:
        """Each candidate's API profile and why (from its worker's load reply), for reports."""
        found: dict[str, dict[str, Any]] = {}
        for spec, box in self._boxes.items():
            if box.info is not None:
                found[spec] = {"profile": box.info.profile, "notes": list(box.info.profile_notes)}
        return found

    def close(self) -> None:
        for box in {id(box): box for box in self._boxes.values()}.values():
            box.close()


@contextmanager
def started_pool(
    specs: Sequence[str],
    pool: SandboxPool | None = None,
    *,
    timeout: float,
    api: str = "auto",
    fresh: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Iterator[SandboxPool]:
    """`pool` when given (one pool for a whole command run; it must hold `specs`), else a pool of
    `specs` closed on exit; started either way (`CandidateError` when a candidate cannot be
    loaded)."""
    if pool is None:
        with SandboxPool(specs, timeout=timeout, api=api, fresh=fresh) as own:
            own.start(progress)
            yield own
        return
    missing = [spec for spec in specs if spec not in pool.specs]
    if missing:
        raise ValueError(f"pool: holds no sandbox for {', '.join(missing)}")
    if not pool.started:
        pool.start(progress)
    yield pool

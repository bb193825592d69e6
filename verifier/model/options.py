"""The options of a run: `RunOptions` is what `check` and `fuzz` share; `EngineOptions` is what the
engine reads (the shared ones plus `check`'s own flags). `FuzzOptions` (`verifier.runs.fuzz`)
extends `RunOptions` too, and a campaign hands its engine `EngineOptions(**fuzz.shared())`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from verifier.model.contract import FUNCTIONS, Policy
from verifier.model.instances import Instance

Device = Literal["cpu", "cuda", "all"]


@dataclass(frozen=True)
class RunOptions:
    """What every run takes (the flags `check` and `fuzz` share): the base of `EngineOptions`
    and `FuzzOptions`."""

    budget: float = 30.0  # seconds of checking once the candidate is loaded (edge suite included)
    seed: int = 0
    policy: Policy = "auto"
    timeout: float = 10.0  # per candidate call
    relations: bool = True  # metamorphic relations, differentials, quality observations
    functions: tuple[str, ...] = FUNCTIONS  # restrict to these (when the candidate has them)
    edge_cases: bool = True  # the fixed suite first (of several workers, only the first runs it)
    # API profile, stateful policy classes, cross-layer policies
    # auto | deepseek | vllm | sglang, with axes: `deepseek,arrays=numpy` (profiles.axes)
    api: str = "auto"
    fresh_instance: bool = True  # a policy class with plain methods: a new instance per call
    allow_cross_layer: bool = False  # layer independence breaks are observations, not violations
    # the quality gate (`verifier.judging.baseline`): None compares with the reference greedy
    baseline: str | None = None  # a candidate spec every valid case is compared with
    max_regression: float = 0.0  # R: a layer above (1 + R) x the baseline is a violation
    baseline_api: str = "auto"  # the baseline's API profile (a reference variant: DeepSeek's)
    device_probe: bool = True  # the default-device probe (verifier.judging.default_device)
    max_moves: int | None = None  # a declared move budget per layer (`migration.budget`)

    def shared(self) -> dict[str, Any]:
        """The shared fields by name (to build another run's options from these)."""
        return {name: getattr(self, name) for name in RunOptions.__dataclass_fields__}


@dataclass(frozen=True)
class EngineOptions(RunOptions):
    """Everything the engine reads: `check`'s options (its CLI flags, plus knobs for tests and
    `fuzz`), and what a fuzz campaign gives its engine."""

    device: Device = "cpu"
    strict: bool = False  # observations fail the run too
    max_cases: int | None = None  # stop each function after this many generated cases
    # (chunks then end by example count, not by time: the same cases whatever the machine load)
    database: str | None = None  # an example database to replay and save failures (folder or
    # redis:// URL, `verifier.runs.database`); None: none, every run deterministic
    replay: tuple[Instance, ...] = ()  # check exactly these cases (reproducers), nothing else

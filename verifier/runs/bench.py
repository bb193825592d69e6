"""Speed benchmarks of candidates at production shapes, against the reference greedy (same run).

Every candidate runs in its own sandbox worker (`verifier.calling.sandbox`), so untrusted code stays
sandboxed; the time of each call is measured *inside* the worker around the call alone (after
the input is on the device, with CUDA synchronised before the clock is read), so process
boundaries and result transfer do not count. Calls are interleaved round-robin over the
candidates, so a slow drift of the machine hits every candidate alike. The first `warmup` calls of
each candidate are discarded; the rest give the median, the spread (half the inter-quartile
range) and the extremes. The warm-up result is also run through the shared invariant checker, so
a fast but wrong candidate is flagged rather than celebrated, and its balancedness is reported.

Shapes and loads come from `verifier.model.shapes` (the corpus generator's MoE load model), seeded.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from verifier.calling.caller import call_on
from verifier.calling.candidates import default_reference_spec, is_reference_variant, reference_spec
from verifier.calling.pool import SandboxPool
from verifier.calling.sandbox import CallOutcome
from verifier.judging.judge import judge
from verifier.model.contract import Policy
from verifier.model.instances import Instance
from verifier.model.objectives import balance_ratio, ideal_load
from verifier.model.shapes import SHAPES, ModelShape

BASELINE = default_reference_spec()
HEAP = reference_spec("heap")
CALL_TIMEOUT = 300.0  # seconds per call: production shapes on a slow CPU stay well inside


@dataclass
class Timing:
    """The timings of one candidate function on one shape."""

    shape: str
    function: str
    candidate: str
    samples: list[float] = field(default_factory=list)  # seconds, warm-up excluded
    status: str = "ok"  # ok | invalid (contract violations) | failed (error, timeout, crash)
    problems: list[str] = field(default_factory=list)
    balancedness: float | None = None
    ratio_vs_baseline: float | None = None  # median / baseline median (>1: slower)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def spread(self) -> float | None:
        """Half the inter-quartile range (robust against the odd slow run)."""
        if len(self.samples) < 2:
            return 0.0 if self.samples else None
        quartiles = statistics.quantiles(self.samples, n=4, method="inclusive")
        return (quartiles[2] - quartiles[0]) / 2

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            median_s=self.median,
            spread_s=self.spread,
            min_s=min(self.samples, default=None),
            max_s=max(self.samples, default=None),
        )
        return data


@dataclass(frozen=True)
class PathComparison:
    """Heap (host) against vectorized (device) replication for one function on one shape."""

    shape: str
    function: str
    heap_s: float
    vectorized_s: float

    @property
    def heap_over_vectorized(self) -> float:
        return self.heap_s / self.vectorized_s if self.vectorized_s > 0 else float("inf")

    @property
    def faster(self) -> str:
        return "heap" if self.heap_s < self.vectorized_s else "vectorized"

    def sentence(self) -> str:
        ratio = self.heap_over_vectorized
        if self.faster == "heap":
            how = f"the heap (host) path is {1 / ratio:.2f}x faster than the vectorized path"
        else:
            how = f"the vectorized (device) path is {ratio:.2f}x faster than the heap path"
        return (
            f"{self.shape} {self.function}: heap {self.heap_s * 1e3:.2f} ms vs vectorized "
            f"{self.vectorized_s * 1e3:.2f} ms: {how}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "heap_over_vectorized": self.heap_over_vectorized,
            "faster": self.faster,
        }


@dataclass
class BenchResult:
    """Everything one bench run measured."""

    device: str
    seed: int
    repeats: int
    warmup: int
    shapes: list[str]
    candidates: list[str]
    timings: list[Timing]
    environment: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # API profile per candidate

    def paths(self) -> list[PathComparison]:
        """The heap vs vectorized comparisons this run can answer (both reference paths timed)."""
        found = []
        by_key = {(t.shape, t.function, t.candidate): t for t in self.timings}
        for shape in self.shapes:
            for function in ("replicate_experts", "rebalance_experts"):
                heap = by_key.get((shape, function, HEAP))
                vectorized = by_key.get((shape, function, BASELINE))
                if heap and vectorized and heap.median is not None and vectorized.median:
                    found.append(PathComparison(shape, function, heap.median, vectorized.median))
        return found

    @property
    def failed(self) -> list[Timing]:
        return [timing for timing in self.timings if timing.status != "ok"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "api_profiles": self.profiles,
            "device": self.device,
            "seed": self.seed,
            "repeats": self.repeats,
            "warmup": self.warmup,
            "baseline": BASELINE,
            "shapes": {name: asdict(SHAPES[name]) for name in self.shapes},
            "candidates": self.candidates,
            "environment": self.environment,
            "timings": [timing.to_dict() for timing in self.timings],
            "replication_paths": [path.to_dict() for path in self.paths()],
        }


def balancedness_of(instance: Instance, objectives: Sequence[Fraction]) -> float:
    """Sum over layers of the ideal (mean) load over sum of the achieved maximum load."""
    ideal = sum((ideal_load(instance, row) for row in instance.weights), Fraction(0))
    achieved = sum(objectives, Fraction(0))
    return balance_ratio(ideal, achieved)


def _first_call(
    timing: Timing, instance: Instance, outcome: CallOutcome, device: str, policy: Policy
) -> None:
    """Judge the warm-up call under the run's contract: a failure or a violation disqualifies
    the timings."""
    verdict = judge(instance, outcome, policy=policy, context={"device": device})
    timing.status = verdict.status
    timing.problems = [f"{finding.check}: {finding.message}" for finding in verdict.violations][:3]
    if verdict.objectives is not None:
        timing.balancedness = balancedness_of(instance, verdict.objectives)


BenchProgress = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


def bench_shape(
    pool: SandboxPool,
    specs: Sequence[str],
    shape: ModelShape,
    *,
    seed: int,
    device: str,
    repeats: int,
    warmup: int,
    progress: BenchProgress = _quiet,
    policy: Policy = "auto",
) -> list[Timing]:
    """Time every function every candidate defines on one shape (round-robin, warm-up first);
    the warm-up call is judged under `policy`'s contract."""
    timings: list[Timing] = []
    for function, instance in shape.instances(seed).items():
        runners = {spec: pool[spec] for spec in specs if function in pool.functions(spec)}
        if not runners:
            continue
        current = {spec: Timing(shape.name, function, spec) for spec in runners}
        dtype = "float32"  # what serving systems pass
        for round_ in range(warmup + repeats):
            for spec, sandbox in runners.items():
                timing = current[spec]
                if timing.status != "ok":
                    continue
                progress(f"{shape.name} {function} {spec} run {round_ + 1}/{warmup + repeats}")
                outcome = call_on(
                    sandbox, instance, dtype=dtype, device=device, spec=spec, timeout=CALL_TIMEOUT
                )
                if round_ == 0:
                    _first_call(timing, instance, outcome, device, policy)
                elif outcome.status != "ok":
                    timing.status = "failed"
                    timing.problems.append(f"run {round_ + 1}: {outcome.status} {outcome.error}")
                if round_ >= warmup and timing.status == "ok":
                    timing.samples.append(outcome.seconds)
        _set_ratios(current)
        timings.extend(current.values())
    return timings


def _set_ratios(timings: dict[str, Timing]) -> None:
    baseline = timings.get(BASELINE)
    reference = baseline.median if baseline is not None else None
    for timing in timings.values():
        median = timing.median
        if reference and median is not None:
            timing.ratio_vs_baseline = median / reference


def environment(device: str) -> dict[str, str]:
    """What the timings depend on: torch, the device, the CPU count."""
    import os
    import platform

    import torch

    info = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
        "worker_threads": "1",
    }
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_bench(
    specs: Sequence[str],
    shapes: Sequence[str],
    *,
    device: str = "cpu",
    repeats: int = 7,
    warmup: int = 1,
    seed: int = 0,
    compare_paths: bool = True,
    progress: BenchProgress = _quiet,
    api: str = "auto",  # the user's candidates' API profile
    fresh: bool = True,
) -> BenchResult:
    """Start a sandbox per candidate, time every shape.

    The reference greedy (the baseline of every ratio) always runs; with `compare_paths` the
    reference heap variant too, so the run answers whether heap replication beats vectorized.
    Raises `CandidateError` when a candidate cannot be loaded.
    """
    extra = [HEAP] if compare_paths else []
    ordered = list(dict.fromkeys([BASELINE, *specs, *extra]))
    timings: list[Timing] = []
    # The user's candidates start first, so one that cannot be loaded is reported at once.
    pool_of = SandboxPool([*specs, *ordered], timeout=CALL_TIMEOUT, api=api, fresh=fresh)
    with pool_of as pool:
        pool.start(progress)
        for name in shapes:
            timings += bench_shape(
                pool,
                ordered,
                SHAPES[name],
                seed=seed,
                device=device,
                repeats=repeats,
                warmup=warmup,
                progress=progress,
            )
        profiles = pool.profiles()
    return BenchResult(
        device, seed, repeats, warmup, list(shapes), ordered, timings, environment(device), profiles
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:.2f}"


def format_table(result: BenchResult) -> str:
    """Plain-text table (stable in terminals, logs and CI summaries alike)."""
    lines = [
        f"device {result.device}; {', '.join(f'{k} {v}' for k, v in result.environment.items())}; "
        f"seed {result.seed}; {result.warmup} warm-up + {result.repeats} timed runs per cell; "
        f"time measured inside the sandbox worker",
        *(  # the API profile of each candidate that is not a reference variant
            f"{spec}: API profile {info['profile']} ({'; '.join(map(str, info['notes']))})"
            for spec, info in result.profiles.items()
            if not is_reference_variant(spec)
        ),
    ]
    header = (
        f"{'shape':<12}{'function':<19}{'candidate':<24}{'median ms':>11}{'± ms':>9}"
        f"{'min ms':>9}{'x greedy':>10}{'balanced':>10}  status"
    )
    lines += ["", header, "-" * len(header)]
    for timing in result.timings:
        ratio = "-" if timing.ratio_vs_baseline is None else f"{timing.ratio_vs_baseline:.2f}"
        balance = "-" if timing.balancedness is None else f"{timing.balancedness:.4f}"
        lines.append(
            f"{timing.shape:<12}{timing.function:<19}{timing.candidate:<24}"
            f"{_ms(timing.median):>11}{_ms(timing.spread):>9}"
            f"{_ms(min(timing.samples, default=None)):>9}"
            f"{ratio:>10}{balance:>10}  {timing.status}"
        )
        lines += [f"{'':<12}  {problem}" for problem in timing.problems]
    paths = result.paths()
    if paths:
        lines += ["", f"heap (host) vs vectorized (device) replication on {result.device}:"]
        lines += [f"  {path.sentence()}" for path in paths]
    return "\n".join(lines)

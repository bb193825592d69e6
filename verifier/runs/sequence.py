"""Sequence mode (`check --sequence N`): one policy instance through N consecutive calls.

A stateful or windowed policy (a hotness window, an update threshold, a cap on layers changed per
call) is only seen as it runs in a sequence. Its `rebalance_experts` is called N times on drifting
loads (the windows of a load trace: the bundled DeepSeek-V3-shaped drift trace, or `--trace`),
on one shared instance in a sandbox of its own, on `cluster_for`'s cluster:

- each call gets the window's loads (its steps summed) and, where the profile takes one
  (`tokens_per_expert`), the window itself as `[steps, layers, experts]`;
- each call after the first gets the previous plan as the old placement, when the function
  takes one (the first, when it requires one, the reference greedy's plan for seeded perturbed
  loads: `verifier.calling.profiles.old_placement`);
- every call goes through the invariant checker (`verifier.judging.sequence.judged_step`), and
  one given the previous plan through a declared `--max-moves` budget too; the
  sequence stops at the first failed or invalid call (a later call would be given an invalid
  old placement);
- the same sequence runs in a second fresh sandbox, compared call by call: randomness without a
  seed is `behaviour.nondeterministic` (torch's global generator starts from the same seed in
  every fresh process: unseeded torch randomness repeats here; single-call checks see it);
- the reference greedy plans the same windows, for its stale-plan balancedness.

Every finding names its step and the command that replays the sequence (`details.reproduce`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import fmean
from typing import Any

import numpy as np

from verifier.calling.caller import call_on
from verifier.calling.profiles.axes import parse_api
from verifier.calling.sandbox import Sandbox
from verifier.corpus.bundled_traces import default_trace_path
from verifier.judging.baseline import GREEDY
from verifier.judging.sequence import REBALANCE, Plan, changes, diverged, judged_step
from verifier.model.findings import Finding
from verifier.model.options import EngineOptions
from verifier.model.traces import Trace, load_steps, windowed
from verifier.runs.results import EngineResult
from verifier.runs.sequence_record import SequenceRecord
from verifier.runs.trace_replay import plan_windows, stale_ratios, window_instance

WINDOW_NOTE = "loads passed as a window: "


@dataclass(frozen=True)
class SequenceOptions:
    """`--sequence N [--trace FILE] [--window STEPS]`."""

    calls: int
    trace: str | None = None  # None: the bundled drift trace
    window: int | None = None  # trace steps per call; None: the trace's steps // calls


@dataclass(frozen=True)
class SequenceInput:
    """The loaded trace of a sequence: `calls` windows, and their steps."""

    options: SequenceOptions
    trace: Trace  # exactly `calls` windows
    steps: np.ndarray  # [calls * window, layers, experts]

    def window_steps(self, call: int) -> list[list[list[Any]]]:
        """The steps of one call's window, as nested lists."""
        size = self.trace.window
        block: list[list[list[Any]]] = self.steps[call * size : (call + 1) * size].tolist()
        return block


def sequence_input(options: SequenceOptions) -> SequenceInput:
    """Load the sequence's trace; raises `TraceError` (exit 2) when it cannot be read or holds
    fewer than `calls` windows."""
    path = Path(options.trace) if options.trace else default_trace_path()
    fmt, steps = load_steps(path)
    window = options.window or max(1, steps.shape[0] // options.calls)
    trace = windowed(str(path), fmt, steps, window, min_windows=options.calls)
    trace = replace(trace, windows=trace.windows[: options.calls])
    return SequenceInput(options, trace, steps[: options.calls * window])


def reproduce_command(spec: str, engine: EngineOptions, options: SequenceOptions) -> str:
    """The `eplb-verify check` command that replays the sequence."""
    words = ["eplb-verify", "check", spec, "--sequence", str(options.calls)]
    if options.trace:
        words += ["--trace", options.trace]
    if options.window:
        words += ["--window", str(options.window)]
    words += parse_api(engine.api).flags()
    if engine.policy != "auto":
        words += ["--policy", engine.policy]
    if engine.max_moves is not None:
        words += ["--max-moves", str(engine.max_moves)]
    return shlex.join(words)


def _sandbox(spec: str, engine: EngineOptions) -> Sandbox:
    """A sandbox of the candidate whose policy class keeps one instance for all its calls."""
    return Sandbox(
        spec, timeout=engine.timeout, api=engine.api, policy=engine.policy, fresh_instance=False
    )


def _at_step(finding: Finding, step: int, calls: int) -> Finding:
    return replace(finding, message=f"sequence step {step} of {calls}: {finding.message}")


def _mean(values: list[float]) -> float | None:
    return fmean(values) if values else None


class SequenceRun:
    """One sequence of a candidate: `run()` returns its record and its findings."""

    def __init__(self, spec: str, engine: EngineOptions, given: SequenceInput) -> None:
        self.spec = spec
        self.engine = engine
        self.given = given
        trace = given.trace
        self.record = SequenceRecord(
            given.options.calls,
            trace.describe(),
            trace.window,
            reproduce_command(spec, engine, given.options),
            layers=trace.layers,
        )
        self.findings: list[Finding] = []
        self.plans: list[Plan] = []

    def run(self) -> tuple[SequenceRecord, list[Finding]]:
        """Raises `CandidateError` when the candidate cannot be loaded."""
        with _sandbox(self.spec, self.engine) as first, _sandbox(self.spec, self.engine) as second:
            second.launch()  # loads beside the first
            info = first.start()
            second.start()
            if REBALANCE not in info.functions:
                self.record.problem = f"the candidate has no {REBALANCE}: nothing to run"
                return self.record, []
            self.record.old_placement = REBALANCE in info.accepts_old
            self.record.first_old_supplied = REBALANCE in info.requires_old
            self._calls(first, second, vllm_contract=info.profile == "vllm")
            self._observe(second)
        return self.record, self.findings

    def _context(self, step: int) -> dict[str, Any]:
        return {
            "role": "sequence",
            "step": step,
            "calls": self.given.options.calls,
            "trace": self.record.trace,
            "window": self.record.window,
            "reproduce": self.record.reproduce,
        }

    def _calls(self, first: Sandbox, second: Sandbox, *, vllm_contract: bool) -> None:
        record, calls = self.record, self.given.options.calls
        comparing = True
        for call in range(calls):
            step = call + 1
            instance = window_instance(self.given.trace, call)
            window = self.given.window_steps(call)
            old = self.plans[-1] if record.old_placement and self.plans else None
            context = self._context(step)
            outcome = call_on(first, instance, old=old, window=window)
            verdict, found = judged_step(
                instance,
                outcome,
                old,
                policy=self.engine.policy,
                vllm_contract=vllm_contract,
                context=context,
                max_moves=self.engine.max_moves,
            )
            for note in outcome.adapted:  # how the child passed the window, if it did
                if note.startswith(WINDOW_NOTE):
                    record.window_input = note.removeprefix(WINDOW_NOTE)
            differ: list[Finding] = []
            if comparing:
                again = call_on(second, instance, old=old, window=window)
                differ = diverged(instance, outcome, again, context)
                comparing = not differ
                record.compared += not differ
                record.diverged_at = step if differ else None
            self.findings += [_at_step(finding, step, calls) for finding in found + differ]
            if verdict.outputs is None or verdict.violations:
                why = found[0].check if found else f"the call {verdict.status}"
                record.problem = f"step {step}: {why}"
                return
            self.plans.append(verdict.outputs["phy2log"])
            record.completed = step

    def _observe(self, box: Sandbox) -> None:
        """The observations over the valid calls, and the greedy's stale balancedness."""
        record, trace = self.record, self.given.trace
        num_gpus = window_instance(trace, 0).num_gpus
        record.changes = changes(self.plans, num_gpus)
        record.stale = _mean(stale_ratios(trace, self.plans))
        if len(self.plans) < 2:
            return
        prefix = replace(trace, windows=trace.windows[: len(self.plans)])
        greedy = plan_windows(
            box, GREEDY, prefix, policy=self.engine.policy, timeout=self.engine.timeout
        )
        if greedy.problem:
            record.greedy_problem = greedy.problem
            return
        record.greedy_stale = _mean(stale_ratios(prefix, greedy.plans))


def run_sequence(
    spec: str, engine: EngineOptions, given: SequenceInput
) -> tuple[SequenceRecord, list[Finding]]:
    """Drive one instance of the candidate through the sequence; its record and findings."""
    return SequenceRun(spec, engine, given).run()


def add_sequence(result: EngineResult, given: SequenceInput) -> None:
    """Run the sequence of `result`'s candidate and fold its findings and record into it."""
    record, findings = run_sequence(result.candidate, result.options, given)
    result.sequence = record
    result.add_findings(REBALANCE, findings)

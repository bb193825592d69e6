"""The engine of `check` and `fuzz`: the edge-case suite, then Hypothesis cases until the budget.

`Engine` drives the `Evaluator`: edge cases first, then Hypothesis-generated cases for every
function the candidate defines, round robin in time-boxed chunks with derived seeds (deterministic
for a given seed). When a case breaks a rule, Hypothesis shrinks it to a minimal reproducer; the
smallest instance seen for each finding is the one reported. What differs between `check` and
`fuzz` are the `RunHooks` the engine is given (`verifier.runs.check.CheckHooks`,
`verifier.runs.fuzz.FuzzHooks`): the engine asks them, it never looks at who runs it. (The
contract's auto/global choice is `options.policy`; the hooks are no policy.)
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from verifier.calling.candidates import variant_of
from verifier.calling.sandbox import LoadInfo, Sandbox
from verifier.judging.baseline import GREEDY, Gate, baseline_gate, greedy_gate
from verifier.judging.default_device import PROBE_DEVICE
from verifier.judging.evaluator import CaseResult, Evaluator
from verifier.model.contract import FUNCTIONS, contract_for, function_for
from verifier.model.elastic import has_dead_ranks
from verifier.model.errors import CandidateError
from verifier.model.instances import Instance
from verifier.model.options import EngineOptions
from verifier.runs.chunks import Chunk, FailingCase, StopChunk, chunk_settings, derived_seed
from verifier.runs.device_paths import CudaUse
from verifier.runs.results import EngineResult

MAX_TIMEOUTS = 2  # a function that hangs this often is not called again
MAX_CRASHES = 3


class RunHooks:
    """How a run behaves around the engine's one loop: settings, flags and callbacks the engine
    asks; the defaults are `check`'s choices."""

    seed_tag: tuple[str, ...] = ()  # mixed into every chunk's derived seed
    min_shrink_seconds = 1.0  # a chunk shrinks for at least this long (else a quarter budget)
    # True: cached cases are replayed whatever the time, and once the shrinking time is up unseen
    # cases count as passing (Hypothesis finishes on what it has). False: time up ends the chunk.
    replay_cached = False
    detect_stalls = True  # a function whose whole chunk brings no new case leaves the rotation
    elapsed_includes_loading = True  # `elapsed` counts loading the candidate
    note_abandoned_at_once = False  # note an abandoned function when seen, not once per round

    def settings(self, function: str) -> Any:
        """Hypothesis settings of one chunk of `function`."""
        return chunk_settings()

    def stopping(self) -> bool:
        """True once the run should stop early (asked between cases)."""
        return False

    def guard(self) -> contextlib.AbstractContextManager[None]:
        """Wraps loading and checking (e.g. a SIGINT handler)."""
        return contextlib.nullcontext()

    def absorb_interrupt(self) -> bool:
        """A KeyboardInterrupt during the phases: True ends the run quietly, False re-raises."""
        return False

    def note(self, result: EngineResult, note: str) -> None:
        """Keep a note of the run (where notes go is the hooks' choice)."""
        result.notes.append(note)

    def recorded(self, case: CaseResult, result: EngineResult, phase: str, elapsed: float) -> None:
        """After a new case is recorded (e.g. report progress)."""

    def after_case(self, case: CaseResult, in_test: bool) -> None:
        """After each edge case, and inside the Hypothesis test after each case (cached ones
        too; `in_test`), before its failing checks are pursued."""

    def finish(self, result: EngineResult) -> None:
        """After the run (its elapsed time and worker restarts are in `result`)."""


@dataclass
class Trouble:
    """Timeouts and crashes per function: one that keeps hanging or crashing is not called again."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def count(self, case: CaseResult) -> None:
        if case.outcome.status in ("timeout", "crash"):
            self.counts.setdefault(case.function, Counter())[case.outcome.status] += 1

    def abandoned(self, function: str) -> bool:
        counts = self.counts.get(function, Counter())
        return counts["timeout"] >= MAX_TIMEOUTS or counts["crash"] >= MAX_CRASHES


def probe_off(options: EngineOptions) -> str | None:
    """Why a run has no default-device probe; None when it has one."""
    if not options.device_probe:
        return "--no-device-probe"
    if options.device == "cuda":
        return "the checked calls run on CUDA, where the default device is the host"
    return None


def abandon_note(function: str) -> str:
    return f"{function}: stopped calling it after repeated timeouts or crashes"


class Engine:
    """One run of a candidate with the given hooks; `run()` returns the result (raises
    `CandidateError` when the candidate cannot be loaded). `result` holds what was found so far."""

    def __init__(
        self,
        spec: str,
        options: EngineOptions,
        hooks: RunHooks,
        *,
        result: EngineResult | None = None,
    ) -> None:
        """`result`: the record to fill in (a fresh one by default)."""
        self.spec = spec
        self.options = options
        self.hooks = hooks
        self.result = result if result is not None else EngineResult(spec, (), options)
        self._started = 0.0
        self._budget_start = 0.0
        self._done: dict[str, set[str]] = {}  # checks already shrunk, per function
        self._trouble = Trouble()
        self._phase = "edge cases"
        self._probe_off = probe_off(options)  # why the default-device probe is off (None: on)

    def _sandbox(self, devices: tuple[str, ...] = ()) -> Sandbox:
        """A sandbox of the candidate with the run's settings (not yet started)."""
        options = self.options
        return Sandbox(
            self.spec,
            timeout=options.timeout,
            devices=devices,
            api=options.api,  # the API profile settings go to the sandbox child
            policy=options.policy,
            fresh_instance=options.fresh_instance,
        )

    def run(self) -> EngineResult:
        self._started = time.monotonic()
        devices = ("cuda",) if self.options.device != "cpu" else ()
        sandbox = self._sandbox(devices)
        # the default-device probe calls on CPU inputs, in a worker of its own
        probe = self._sandbox((PROBE_DEVICE,)) if self._probe_off is None else None
        baseline = self._baseline_sandbox(devices)
        self.result.api.requested = self.options.api
        with (
            sandbox,
            probe or contextlib.nullcontext(),
            baseline or contextlib.nullcontext(),
            self.hooks.guard(),
        ):
            if probe is not None:
                probe.launch()  # it loads beside the checked calls, awaited at the first probe
            baseline_info = self._start_baseline(baseline)
            info = sandbox.start()
            self.result.api.loaded(info.profile, info.profile_notes)
            self._budget_start = time.monotonic()  # loading the candidate is not checking it
            if not self.hooks.elapsed_includes_loading:
                self._started = self._budget_start
            functions = tuple(fn for fn in FUNCTIONS if fn in info.functions)
            wanted = tuple(fn for fn in functions if fn in self.options.functions)
            self.result.functions = wanted
            gate = self._gate(sandbox, info, baseline, baseline_info, wanted)
            evaluator = Evaluator(sandbox, info, self.options, gate, probe=probe)
            self._note_devices(evaluator)
            try:
                self._phases(evaluator, wanted)
            except KeyboardInterrupt:
                if not self.hooks.absorb_interrupt():
                    raise
            finally:
                self._note_probe_failure(evaluator)
                self.result.elapsed = time.monotonic() - self._started
                self.result.worker_restarts = sandbox.restarts
                self.hooks.finish(self.result)
        return self.result

    # -- the quality gate --

    def _baseline_sandbox(self, devices: tuple[str, ...]) -> Sandbox | None:
        """The baseline's own sandbox (`--baseline`), under the candidate's contract."""
        if self.options.baseline is None:
            return None
        return Sandbox(
            self.options.baseline,
            timeout=self.options.timeout,
            devices=devices,
            api=self.options.baseline_api,
            policy=self.options.policy,
        )

    @staticmethod
    def _start_baseline(box: Sandbox | None) -> LoadInfo | None:
        """Load the baseline first: one that cannot be loaded ends the run (exit 2, one line)."""
        if box is None:
            return None
        try:
            return box.start()
        except CandidateError as error:
            first_line = str(error).splitlines()[0] if str(error) else "cannot be loaded"
            raise CandidateError(f"--baseline {box.spec!r}: {first_line}") from None

    def _gate(
        self,
        sandbox: Sandbox,
        info: LoadInfo,
        baseline: Sandbox | None,
        baseline_info: LoadInfo | None,
        wanted: Sequence[str],
    ) -> Gate | None:
        """The baseline's gate; without one, the reference greedy (unless this is the greedy,
        or the relations are off)."""
        self.result.baseline.spec = self.options.baseline or GREEDY
        if baseline is not None and baseline_info is not None:
            for function in wanted:
                if function not in baseline_info.functions:
                    self._note(f"{function}: the baseline does not define it (not compared)")
            record = self.result.baseline
            record.profile, record.gating = baseline_info.profile, True
            record.max_regression = self.options.max_regression
            return baseline_gate(baseline, self.options.max_regression, baseline_info.functions)
        if not self.options.relations or info.variant == variant_of(GREEDY):
            return None
        return greedy_gate(sandbox, FUNCTIONS)

    def _phases(self, evaluator: Evaluator, functions: Sequence[str]) -> None:
        if self.options.replay:
            self._replayed(evaluator, functions)
            return
        if self.options.edge_cases:
            self._edge_suite(evaluator, functions)
        self._phase = "generated cases"
        self._generated(evaluator, functions)

    # -- bookkeeping --

    def _note(self, note: str) -> None:
        self.hooks.note(self.result, note)

    def _note_probe_failure(self, evaluator: Evaluator) -> None:
        """The probe's sandbox could not load the candidate: say so, and that it did not run."""
        if evaluator.probe_failure:
            self.result.devices.probe.turned_off("it could not load the candidate")
            self._note(
                f"the default-device probe could not load the candidate: {evaluator.probe_failure}"
            )

    def _note_devices(self, evaluator: Evaluator) -> None:
        if self.options.device == "all" and not evaluator.cuda:
            self._note("CUDA is not available: the CPU/CUDA differential was skipped")
        cuda: CudaUse = "not requested"
        if self.options.device != "cpu":
            cuda = "unavailable" if not evaluator.cuda else "checked calls"
            cuda = "differential" if evaluator.cuda and self.options.device == "all" else cuda
        self.result.devices.started(evaluator.primary_device, cuda, self._probe_off)

    def _abandoned(self, function: str) -> bool:
        abandoned = self._trouble.abandoned(function)
        if abandoned and self.hooks.note_abandoned_at_once:
            self._abandon_note(function)
        return abandoned

    def _record(self, case: CaseResult, generated: bool) -> None:
        self.result.record(case, generated)
        self._trouble.count(case)
        elapsed = time.monotonic() - self._started
        self.hooks.recorded(case, self.result, self._phase, elapsed)

    def _abandon_note(self, function: str) -> None:
        note = abandon_note(function)
        if note not in self.result.notes:
            self._note(note)

    # -- edge cases --

    def _edge_suite(self, evaluator: Evaluator, functions: Sequence[str]) -> None:
        for function in functions:
            for _name, instance in contract_for(function).edge_cases():
                if self.hooks.stopping():
                    return
                if self._abandoned(function):
                    self._abandon_note(function)
                    break
                case = evaluator.evaluate(function, instance)
                self._record(case, generated=False)
                self.hooks.after_case(case, in_test=False)

    # -- replayed cases --

    def _replayed(self, evaluator: Evaluator, functions: Sequence[str]) -> None:
        """Exactly the given cases (reproducers), each of a function the candidate defines."""
        self._phase = "replayed cases"
        for instance in self.options.replay:
            function = function_for(instance)
            if function not in functions:
                self._note(f"replayed {function} case skipped: the candidate does not define it")
                continue
            if has_dead_ranks(instance) and function not in evaluator.info.takes_mask:
                self._note(f"replayed {function} case skipped: it has dead ranks, no mask axis")
                continue
            case = evaluator.evaluate(function, instance)
            self._record(case, generated=False)
            self.hooks.after_case(case, in_test=False)

    # -- generated cases --

    def _generated(self, evaluator: Evaluator, functions: Sequence[str]) -> None:
        """Round robin over the functions in chunks: time slices, or case counts (`max_cases`).

        A function leaves the rotation when it reaches `max_cases`, is abandoned (hangs,
        crashes), or a whole chunk brings no new case (its instance space is exhausted).
        """
        budget_end = self._budget_start + self.options.budget
        active = [fn for fn in functions if self._wants_cases(fn)]
        round_ = 0
        while active and time.monotonic() < budget_end and not self.hooks.stopping():
            stalled = set()
            for function in active:
                remaining = budget_end - time.monotonic()
                if remaining <= 0 or self.hooks.stopping():
                    break
                deadline = budget_end
                if self.options.max_cases is None:
                    slice_ = max(0.5, min(remaining, self.options.budget / (4 * len(active))))
                    deadline = time.monotonic() + slice_
                before = self._generated_cases(function)
                self._chunk(evaluator, function, round_, deadline)
                if self.hooks.detect_stalls and self._generated_cases(function) == before:
                    stalled.add(function)
            for function in active:
                if self._abandoned(function):
                    self._abandon_note(function)
            active = [fn for fn in active if self._wants_cases(fn) and fn not in stalled]
            round_ += 1

    def _generated_cases(self, function: str) -> int:
        counts = self.result.cases.get(function)
        return counts.generated if counts else 0

    def _wants_cases(self, function: str) -> bool:
        if self._abandoned(function):
            return False
        limit = self.options.max_cases
        return limit is None or self._generated_cases(function) < limit

    def _chunk(self, evaluator: Evaluator, function: str, round_: int, deadline: float) -> None:
        from hypothesis import given, seed

        from verifier.model.elastic_strategies import instances_with_masks
        from verifier.model.strategies import instances_for

        masks = function in evaluator.info.takes_mask  # the active-ranks axis: masked cases too
        strategy = instances_with_masks(function) if masks else instances_for(function)
        hooks = self.hooks
        shrink_allowance = max(hooks.min_shrink_seconds, 0.25 * self.options.budget)
        chunk = Chunk(function, deadline, shrink_allowance)

        @hooks.settings(function)
        @seed(derived_seed(self.options.seed, *hooks.seed_tag, function, round_))
        @given(strategy)
        def cases(instance: Instance) -> None:
            self._one_case(evaluator, chunk, instance)

        try:
            cases()
        except StopChunk:
            pass
        except FailingCase:
            pass  # the shrunk reproducer is already recorded
        except Exception as error:  # Hypothesis's own (flaky, unsatisfiable): keep going
            self._note(f"{function}: Hypothesis stopped a run early: {type(error).__name__}")
        if chunk.target is not None:
            self._done.setdefault(function, set()).add(chunk.target)

    def _one_case(self, evaluator: Evaluator, chunk: Chunk, instance: Instance) -> None:
        hooks = self.hooks
        if hooks.stopping():
            raise StopChunk
        function = chunk.function
        now = time.monotonic()
        case = evaluator.cached(function, instance)
        if case is None or not hooks.replay_cached:
            shrinking = chunk.target is not None
            deadline = chunk.shrink_deadline if shrinking else chunk.deadline
            done = self._abandoned(function) or (not shrinking and not self._wants_cases(function))
            if now > deadline or done:
                if shrinking and hooks.replay_cached:
                    return  # shrinking time is up: unseen cases count as passing
                # The smallest reproducer seen is already recorded, so stopping loses nothing.
                raise StopChunk
            if case is None:
                case = evaluator.evaluate(function, instance)
                self._record(case, generated=True)
        hooks.after_case(case, in_test=True)
        chunk.pursue(case.pursued(self.options.strict), self._done.get(function, set()), now)

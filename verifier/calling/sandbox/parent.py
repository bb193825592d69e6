"""The parent side of the sandbox: a persistent child process that runs untrusted candidate calls.

`Sandbox` starts `python -m verifier.calling.sandbox.child`, which loads the candidate once and
then answers call requests (`verifier.calling.sandbox.requests`), one JSON object per line. A call
that hangs past its time limit gets the child killed; a child that dies (os._exit, a segfault) is
noticed at once; either way a fresh one replaces it at the next call, so the run goes on.
Exceptions come back as structured errors with their traceback. Candidate output to stdout/stderr
goes to a temporary file (its tail is shown when the child crashes), never into the protocol
stream or the user's terminal.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from typing import Any

from verifier.calling.sandbox.outcomes import CallOutcome, LoadInfo, outcome_from_reply
from verifier.calling.sandbox.requests import Binding, CallRequest, LoadRequest, Request
from verifier.model.contract import Policy
from verifier.model.errors import CandidateError

STDERR_TAIL = 2000
CHILD_MODULE = "verifier.calling.sandbox.child"


class _Process:
    """One live worker process and its line-based pipes."""

    def __init__(self, python: str) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONUNBUFFERED="1")
        self.popen = subprocess.Popen(
            [python, "-m", CHILD_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the harness, which then ends the worker
        )
        self._buffer = b""
        self._finalizer = weakref.finalize(self, _kill, self.popen)

    def send(self, request: Request) -> bool:
        """Write one request; False when the worker is already gone."""
        assert self.popen.stdin is not None
        try:
            self.popen.stdin.write(json.dumps(request.to_data()).encode() + b"\n")
            self.popen.stdin.flush()
        except (BrokenPipeError, OSError):
            return False
        return True

    def read_line(self, deadline: float) -> bytes | None:
        """The next reply line; None on timeout, b"" when the worker died."""
        assert self.popen.stdout is not None
        fd = self.popen.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b""
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def death(self) -> str:
        """How the worker ended (waits briefly for its exit status)."""
        try:
            code = self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the worker stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the worker was killed by {name}"
        return f"the worker exited with status {code}"

    def stderr_tail(self) -> str:
        try:
            self.stderr.seek(0, os.SEEK_END)
            size = self.stderr.tell()
            self.stderr.seek(max(0, size - STDERR_TAIL))
            return self.stderr.read().decode(errors="replace")
        except OSError:
            return ""

    def close(self, kill: bool = False) -> None:
        """End the worker: politely (end of input) or, for a hung one, at once."""
        if kill:
            _kill(self.popen)
        if self.popen.poll() is None:
            try:
                assert self.popen.stdin is not None
                self.popen.stdin.close()
                self.popen.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._finalizer()
        for stream in (self.popen.stdout, self.stderr):
            if stream is not None:
                stream.close()


def _kill(popen: subprocess.Popen[bytes]) -> None:
    if popen.poll() is None:
        popen.kill()
        popen.wait()


class Sandbox:
    """Runs one candidate's calls in a persistent worker; hangs and crashes become outcomes.

    Use as a context manager. `start()` loads the candidate (raising `CandidateError` when it cannot
    be loaded); `call()` never raises for anything the candidate does.
    """

    def __init__(
        self,
        spec: str,
        *,
        timeout: float = 10.0,
        load_timeout: float = 120.0,
        python: str = sys.executable,
        devices: tuple[str, ...] = (),
        api: str = "auto",
        policy: Policy = "auto",
        fresh_instance: bool = True,
    ) -> None:
        """`devices` (e.g. ("cuda",)) are initialised while loading, outside any call's time;
        `api` and `fresh_instance` choose how the candidate is called
        (`verifier.calling.profiles`); `policy` is the rebalance contract its calls are made
        under (`verifier.calling.caller.call_on` tells each call whether the hierarchy applies)."""
        self.spec = spec
        self.binding = Binding(spec, api, fresh_instance)
        self.policy = policy
        self.devices = devices
        self.timeout = timeout
        self.load_timeout = load_timeout
        self.python = python
        self.restarts = 0
        self.info: LoadInfo | None = None
        self._process: _Process | None = None
        self._awaiting_load = False  # launched: the load request is sent, its answer not read

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def launch(self) -> None:
        """Start the worker and ask it to load the candidate, without waiting for the answer
        (`start()` waits for it): several sandboxes load side by side."""
        self._discard()
        self._process = _Process(self.python)
        self._awaiting_load = True
        if not self._process.send(LoadRequest(self.binding, self.devices)):
            self._discard()  # `start()` reports it

    def start(self) -> LoadInfo:
        """Start the worker (unless `launch()` just did) and load the candidate."""
        if not self._awaiting_load:
            self.launch()
        self.info = self._loaded()
        return self.info

    def load_variant(self, spec: str) -> None:
        """Load (and prepare) another reference variant in this started worker, under the load
        time limit, so that its first call pays no set-up (the pool's shared worker)."""
        process = self._process
        if process is None or not process.send(LoadRequest(Binding(spec), self.devices)):
            raise CandidateError(f"candidate {spec!r}: the shared worker is not running")
        line = process.read_line(time.monotonic() + self.load_timeout)
        if not line:
            self._discard(kill=line is None)
            raise CandidateError(f"candidate {spec!r}: loading it in the shared worker failed")
        reply = json.loads(line)
        if not reply["ok"]:
            raise CandidateError(reply["error"])

    def _spawn(self) -> LoadInfo:
        self.launch()
        return self._loaded()

    def _loaded(self) -> LoadInfo:
        """The launched worker's answer to the load request."""
        process, self._awaiting_load = self._process, False
        if process is None:
            raise CandidateError(f"candidate {self.spec!r}: the worker could not be started")
        line = process.read_line(time.monotonic() + self.load_timeout)
        if line is None:
            self._discard(kill=True)
            raise CandidateError(
                f"candidate {self.spec!r}: loading it did not finish within {self.load_timeout:g} s"
            )
        if not line:
            why = process.death()
            tail = process.stderr_tail().strip()
            self._discard()
            detail = f"\n{tail}" if tail else ""
            raise CandidateError(f"candidate {self.spec!r}: {why} while loading it{detail}")
        reply = json.loads(line)
        if not reply["ok"]:
            self._discard()
            raise CandidateError(reply["error"])
        return LoadInfo.from_data(reply)

    def _discard(self, kill: bool = False) -> None:
        self._awaiting_load = False
        if self._process is not None:
            self._process.close(kill)
            self._process = None

    def call(
        self,
        function: str,
        weights: list[list[Any]],
        args: tuple[int, ...],
        *,
        dtype: str = "float32",
        device: str = "cpu",
        spec: str | None = None,
        timeout: float | None = None,
        old: list[list[int]] | None = None,
        hierarchical: bool = False,
        default_device: str | None = None,
        active_ranks: list[int] | None = None,
        window: list[list[list[Any]]] | None = None,
    ) -> CallOutcome:
        """`function(tensor(weights, dtype, device), *args)` of the candidate (or of `spec`, a
        reference variant called through DeepSeek's API), through its API profile; `old` is an
        old placement for functions that accept one, `hierarchical` whether the hierarchical
        contract applies (SGLang's `enable_hierarchical`), `default_device` torch's default
        device during the call (None: unchanged), `active_ranks` an elastic EP mask for
        functions that take one, `window` the steps `weights` sums, for a profile that takes
        them (`tokens_per_expert`)."""
        if self._process is None:
            self.restarts += 1
            try:
                self._spawn()
            except CandidateError as error:
                return CallOutcome("crash", error=f"the worker could not be restarted: {error}")
        process = self._process
        assert process is not None
        binding = self.binding if spec is None or spec == self.spec else Binding(spec)
        request = CallRequest(
            binding,
            function,
            weights,
            args,
            dtype,
            device,
            hierarchical,
            old,
            default_device,
            active_ranks,
            window,
        )
        limit = self.timeout if timeout is None else timeout
        started = time.monotonic()
        line = process.read_line(started + limit) if process.send(request) else b""
        if line is None:
            self._discard(kill=True)
            return CallOutcome(
                "timeout",
                error=f"no answer within {limit:g} s (the worker was killed)",
                seconds=time.monotonic() - started,
            )
        if not line:
            why, tail = process.death(), process.stderr_tail()
            self._discard()
            return CallOutcome(
                "crash", error=why, traceback=tail, seconds=time.monotonic() - started
            )
        return outcome_from_reply(json.loads(line))

    def close(self) -> None:
        self._discard()

"""The sandbox: a persistent worker process that runs untrusted candidate calls with a time limit.

The parent (`Sandbox`) starts `python -m verifier.worker`, which loads the candidate once and then
answers call requests, one JSON object per line. A call that hangs past its time limit gets the
worker killed; a worker that dies (os._exit, a segfault) is noticed at once; either way a fresh
worker replaces it at the next call, so the run goes on. Exceptions come back as structured errors
with their traceback. Results cross the process boundary only as plain data (dtype, device, shape,
nested-list values, the type name of anything that is not a tensor), so a garbage result cannot
crash the harness. The worker also reports whether the call changed its input tensor.

Candidate output to stdout/stderr goes to a temporary file (its tail is shown when the worker
crashes), never into the protocol stream or the user's terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import weakref
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from verifier.candidates import CandidateError

CallStatus = Literal["ok", "error", "timeout", "crash"]
DTYPES = ("int64", "float32", "float64")
MAX_VALUES = 1_000_000  # larger outputs are described without their values
STDERR_TAIL = 2000


@dataclass(frozen=True)
class TensorValue:
    """A tensor the candidate returned, as plain data (`values` is None when it was too large)."""

    dtype: str  # e.g. "torch.int64"
    device: str  # e.g. "cpu", "cuda:0"
    shape: tuple[int, ...]
    values: Any


@dataclass(frozen=True)
class OtherValue:
    """Something that is not a tensor: only its type name and a short repr cross the boundary."""

    type_name: str
    text: str


Value = TensorValue | OtherValue


@dataclass(frozen=True)
class CallOutcome:
    """What one candidate call did."""

    status: CallStatus
    result_type: str = ""  # type name of the returned object ("tuple" for DeepSeek's signature)
    outputs: tuple[Value, ...] | None = None  # the items of a returned tuple/list; else None
    single: Value | None = None  # the returned object itself when it was not a tuple/list
    input_device: str = "cpu"
    mutated: bool = False
    seconds: float = 0.0
    error: str = ""  # "ExcType: message", or what happened to the worker
    traceback: str = ""  # the exception's traceback, or the tail of the worker's stderr
    adapted: tuple[str, ...] = ()  # what the API profile adapted (verifier.profiles)

    def same_result(self, other: CallOutcome) -> bool:
        """True when both calls returned exactly the same thing (types, dtypes, shapes, values)."""
        return (
            self.status == other.status == "ok"
            and self.result_type == other.result_type
            and _same_values(self.outputs, other.outputs)
            and _same_values(self.single, other.single)
        )


def _same_values(left: Any, right: Any) -> bool:
    """Equality that treats NaN as equal to NaN (a NaN output is still the same output)."""
    if isinstance(left, float) and isinstance(right, float):
        return left == right or (left != left and right != right)
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(map(_same_values, left, right))
    if isinstance(left, TensorValue) and isinstance(right, TensorValue):
        same_kind = (left.dtype, left.device, left.shape) == (
            right.dtype,
            right.device,
            right.shape,
        )
        return same_kind and _same_values(left.values, right.values)
    return bool(left == right)


@dataclass(frozen=True)
class LoadInfo:
    """What the worker reports after loading a candidate."""

    spec: str
    functions: tuple[str, ...]
    variant: str | None = None
    partners: dict[str, str] = field(default_factory=dict)
    profile: str = "deepseek"  # the API profile the worker called it through
    profile_notes: tuple[str, ...] = ()  # why that profile, and how a policy class is called
    accepts_old: tuple[str, ...] = ()  # functions that take an old placement (incremental)


def _value_from_data(data: dict[str, Any]) -> Value:
    if data["kind"] == "tensor":
        return TensorValue(data["dtype"], data["device"], tuple(data["shape"]), data["values"])
    return OtherValue(data["type"], data["text"])


def _outcome_from_reply(reply: dict[str, Any]) -> CallOutcome:
    if reply["status"] != "ok":
        return CallOutcome(
            "error",
            error=reply.get("error", ""),
            traceback=reply.get("traceback", ""),
            input_device=reply.get("input_device", "cpu"),
            mutated=bool(reply.get("mutated", False)),
            seconds=float(reply.get("seconds", 0.0)),
        )
    outputs = reply.get("outputs")
    single = reply.get("single")
    return CallOutcome(
        "ok",
        result_type=reply["result_type"],
        outputs=None if outputs is None else tuple(_value_from_data(item) for item in outputs),
        single=None if single is None else _value_from_data(single),
        input_device=reply["input_device"],
        mutated=bool(reply["mutated"]),
        seconds=float(reply["seconds"]),
        adapted=tuple(reply.get("adapted", ())),
    )


class _Process:
    """One live worker process and its line-based pipes."""

    def __init__(self, python: str) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONUNBUFFERED="1")
        self.popen = subprocess.Popen(
            [python, "-m", "verifier.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the harness, which then ends the worker
        )
        self._buffer = b""
        self._finalizer = weakref.finalize(self, _kill, self.popen)

    def send(self, request: dict[str, Any]) -> bool:
        """Write one request; False when the worker is already gone."""
        assert self.popen.stdin is not None
        try:
            self.popen.stdin.write(json.dumps(request).encode() + b"\n")
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
        policy: str = "auto",
        fresh_instance: bool = True,
    ) -> None:
        """`devices` (e.g. ("cuda",)) are initialised while loading, outside any call's time;
        `api`, `policy` and `fresh_instance` choose how the candidate is called
        (`verifier.profiles`)."""
        self.spec = spec
        self.binding = {"api": api, "policy": policy, "fresh_instance": fresh_instance}
        self.devices = devices
        self.timeout = timeout
        self.load_timeout = load_timeout
        self.python = python
        self.restarts = 0
        self.info: LoadInfo | None = None
        self._process: _Process | None = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> LoadInfo:
        """Start the worker and load the candidate."""
        self.info = self._spawn()
        return self.info

    def _spawn(self) -> LoadInfo:
        self._discard()
        process = _Process(self.python)
        self._process = process
        load = {"op": "load", "spec": self.spec, "devices": list(self.devices), **self.binding}
        if not process.send(load):
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
        return LoadInfo(
            self.spec,
            tuple(reply["functions"]),
            reply.get("variant"),
            reply.get("partners", {}),
            reply.get("profile", "deepseek"),
            tuple(reply.get("profile_notes", ())),
            tuple(reply.get("accepts_old", ())),
        )

    def _discard(self, kill: bool = False) -> None:
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
    ) -> CallOutcome:
        """`function(tensor(weights, dtype, device), *args)` of the candidate (or of `spec`),
        through its API profile; `old` is an old placement for functions that accept one."""
        if self._process is None:
            self.restarts += 1
            try:
                self._spawn()
            except CandidateError as error:
                return CallOutcome("crash", error=f"the worker could not be restarted: {error}")
        process = self._process
        assert process is not None
        request = {
            "op": "call",
            "spec": spec or self.spec,
            "function": function,
            "weights": weights,
            "args": list(args),
            "dtype": dtype,
            "device": device,
            **(self.binding if spec in (None, self.spec) else {"api": "deepseek"}),
            "old": old,
        }
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
        return _outcome_from_reply(json.loads(line))

    def close(self) -> None:
        self._discard()


# ---------------------------------------------------------------------------------------------
# The worker side: everything below runs inside `python -m verifier.worker`.


def _describe(value: Any) -> dict[str, Any]:
    """Plain data for one returned object (tensors with their values, anything else by type)."""
    try:
        return _describe_unchecked(value)
    except Exception as error:  # a tensor subclass or object that fights back
        return {"kind": "other", "type": type(value).__name__, "text": f"<{error!r}>"[:200]}


def _describe_unchecked(value: Any) -> dict[str, Any]:
    import torch

    if isinstance(value, torch.Tensor):
        data: dict[str, Any] = {
            "kind": "tensor",
            "dtype": str(value.dtype),
            "device": str(value.device),
            "shape": list(value.shape),
            "values": None,
        }
        readable = value.device.type != "meta" and not value.is_complex()
        if readable and value.numel() <= MAX_VALUES:
            data["values"] = value.detach().cpu().tolist()
        return data
    try:
        text = repr(value)[:200]
    except Exception as error:  # a hostile __repr__
        text = f"<repr raised {type(error).__name__}>"
    return {"kind": "other", "type": type(value).__name__, "text": text}


def outcome_of_result(
    result: Any, *, input_device: str = "cpu", mutated: bool = False
) -> CallOutcome:
    """The `CallOutcome` of a result computed in this process (hand-built outputs, trusted code)."""
    return _outcome_from_reply(_result_reply(result, input_device, mutated, 0.0))


def _result_reply(result: Any, input_device: str, mutated: bool, seconds: float) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "status": "ok",
        "input_device": input_device,
        "mutated": mutated,
        "seconds": seconds,
        "result_type": type(result).__name__,
    }
    if isinstance(result, (tuple, list)):
        reply["outputs"] = [_describe(item) for item in result]
    else:
        reply["single"] = _describe(result)
    return reply


def _make_weight(weights: list[list[Any]], dtype: str, device: str) -> Any:
    import torch

    torch_dtype = getattr(torch, dtype)
    if not weights:
        return torch.empty((0, 0), dtype=torch_dtype, device=device)
    return torch.tensor(weights, dtype=torch_dtype).reshape(len(weights), -1).to(device)


def _unchanged(weight: Any, snapshot: Any) -> bool:
    import torch

    try:
        return bool(
            weight.shape == snapshot.shape
            and weight.dtype == snapshot.dtype
            and torch.equal(weight, snapshot)
        )
    except Exception:
        return False


def _warm_up(devices: list[str]) -> None:
    """Set torch up for calls: one intra-op thread, and each device's context created now."""
    import torch

    torch.set_num_threads(1)
    for device in devices:
        with contextlib.suppress(Exception):  # an unusable device shows up at the first call
            torch.zeros(1, device=device).sum().item()


def _synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _call(request: dict[str, Any], loaded: dict[str, Any]) -> dict[str, Any]:
    # API profile hook (issue 10): the profile builds the call and adapts its result.
    from verifier.profiles.worker_side import adapt_result, prepare_call

    bound = _candidate(request["spec"], loaded, request)
    device = request["device"]
    weight = _make_weight(request["weights"], request["dtype"], device)
    function, parts = prepare_call(bound, request, weight)
    snapshot = weight.clone()
    _synchronize(device)  # the input copy and snapshot are done before the clock starts
    started = time.perf_counter()
    try:
        result = function(*parts.args, **parts.kwargs)
        _synchronize(device)
    except BaseException as error:  # untrusted code: SystemExit and friends are findings too
        return {
            **_error_reply(error),
            "input_device": str(weight.device),
            "seconds": time.perf_counter() - started,
            "mutated": not _unchanged(weight, snapshot),
        }
    seconds = time.perf_counter() - started
    mutated = not _unchanged(weight, snapshot)
    result, adapted = adapt_result(bound, request, result, weight)
    reply = _result_reply(result, str(weight.device), mutated, seconds)
    reply["adapted"] = parts.notes + adapted
    return reply


def _error_reply(error: BaseException) -> dict[str, Any]:
    """An "error" reply: the exception's type and message, and the tail of its traceback."""
    try:
        message = str(error)
    except Exception:  # an exception whose __str__ fails (traceback formatting copes with it)
        message = "<str() failed>"
    return {
        "status": "error",
        "error": f"{type(error).__name__}: {message}"[:2000],
        "traceback": "".join(traceback.format_exception(error))[-8000:],
    }


def _candidate(spec: str, loaded: dict[str, Any], request: dict[str, Any]) -> Any:
    """The candidate bound to its API profile (`verifier.profiles`), loaded once per spec."""
    from verifier.candidates import resolve_candidate
    from verifier.profiles.runtime import bind

    if spec not in loaded:
        api = request.get("api", "deepseek")
        fresh = bool(request.get("fresh_instance", True))
        loaded[spec] = bind(resolve_candidate(spec), api, fresh)
    return loaded[spec]


def _handle(request: dict[str, Any], loaded: dict[str, Any]) -> dict[str, Any]:
    if request["op"] == "load":
        try:
            bound = _candidate(request["spec"], loaded, request)
        except CandidateError as error:
            return {"ok": False, "error": str(error)}
        _warm_up(request.get("devices", []))
        candidate = bound.candidate
        return {
            "ok": True,
            "functions": list(candidate.functions),
            "variant": candidate.variant,
            "partners": candidate.partners,
            "profile": bound.profile.name,
            "profile_notes": bound.notes,
            "accepts_old": bound.accepts_old,
        }
    try:
        return _call(request, loaded)
    except CandidateError as error:
        return {"status": "error", "error": f"CandidateError: {error}", "traceback": ""}
    except Exception as error:  # preparing the call failed (e.g. no such device): not a crash
        return _error_reply(error)


def _encode(reply: dict[str, Any]) -> str:
    try:
        return json.dumps(reply)
    except (TypeError, ValueError) as error:
        return json.dumps(
            {"status": "error", "error": f"unserialisable result: {error}", "traceback": ""}
        )


def serve() -> None:
    """The worker's main loop: protocol on private copies of stdin/stdout, candidate I/O aside."""
    protocol_in: IO[str] = os.fdopen(os.dup(0), "r")
    protocol_out: IO[str] = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # candidate prints land in the stderr file, not in the protocol
    loaded: dict[str, Any] = {}
    for line in protocol_in:
        reply = _handle(json.loads(line), loaded)
        protocol_out.write(_encode(reply) + "\n")
        protocol_out.flush()


if __name__ == "__main__":
    serve()

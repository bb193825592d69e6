"""The child side of the sandbox: the loop inside `python -m verifier.calling.sandbox.child`.

It loads candidates (by spec, once each, bound to their API profile), turns each call request into
a torch tensor, has the profile build the call, calls the candidate function (under another default
device when the request asks for one: the default-device probe), has the profile adapt the result,
and answers with the outcome as plain data; it also reports whether the call changed its input
tensor and, when the call raised, the deepest line of the candidate's own file in the traceback.
The protocol runs on private copies of stdin/stdout, so candidate prints never reach it.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import time
import traceback
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from verifier.calling.profiles.adapt import by_axes
from verifier.calling.profiles.elastic import with_mask
from verifier.calling.profiles.old_placement import NOTE as OLD_NOTE
from verifier.calling.profiles.old_placement import reference_old_placement
from verifier.calling.sandbox.outcomes import LoadInfo, result_reply
from verifier.calling.sandbox.requests import Binding, CallRequest, LoadRequest, request_from_data
from verifier.model.errors import CandidateError

if TYPE_CHECKING:
    from verifier.calling.candidates import Candidate
    from verifier.calling.profiles.base import CallParts, Notes
    from verifier.calling.profiles.binding import BoundCandidate

Loaded = dict[str, "BoundCandidate"]  # by spec


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


def _warm_up(devices: tuple[str, ...]) -> None:
    """Set torch up for calls: one intra-op thread, and each device's context created now; for
    `meta` (the default-device probe), torch's device checks of mixed devices, whose first use
    imports about a second of torch (they would otherwise count against a call's time limit)."""
    import torch

    torch.set_num_threads(1)
    for device in devices:
        with contextlib.suppress(Exception):  # an unusable device shows up at the first call
            if device == "meta":
                torch.zeros(1, device=device) + torch.zeros(1)  # raises: devices differ
            torch.zeros(1, device=device).sum().item()


def _synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _old_placement(old: list[list[int]] | None, weight: Any) -> Any:
    """An old placement as an int64 tensor on the input's device (None when there is none)."""
    import torch

    return None if old is None else torch.tensor(old, dtype=torch.int64, device=weight.device)


def _with_window(parts: CallParts, window: list[list[list[Any]]] | None, weight: Any) -> CallParts:
    """The call with the real window of steps as `tokens_per_expert` (sequence mode), where the
    profile passes one; unchanged otherwise."""
    if window is None or "tokens_per_expert" not in parts.kwargs:
        return parts
    import torch

    from verifier.calling.profiles.base import CallParts

    steps = torch.tensor(window, dtype=weight.dtype).reshape(len(window), *weight.shape)
    kwargs = {**parts.kwargs, "tokens_per_expert": steps.to(weight.device)}
    shape = list(steps.shape)
    notes = [note for note in parts.notes if not note.startswith("loads passed as one step")]
    notes.append(f"loads passed as a window: tokens_per_expert {shape}")
    return CallParts(parts.args, kwargs, notes)


def _default_device(device: str | None) -> contextlib.AbstractContextManager[Any]:
    """torch's default device for the call (`with torch.device(...)`: factories without
    `device=` land there, e.g. on `meta`); no change when `device` is None."""
    if device is None:
        return contextlib.nullcontext()
    import torch

    return torch.device(device)


def _source_file(function: Callable[..., Any]) -> str | None:
    """The file that defines a candidate function (a bound method's function too)."""
    try:
        source = inspect.getsourcefile(inspect.unwrap(getattr(function, "__func__", function)))
    except (TypeError, ValueError):
        return None
    return os.path.realpath(source) if source else None


def candidate_frame(error: BaseException, function: Callable[..., Any]) -> str:
    """`FILE:LINE in NAME: CODE` of the deepest traceback frame in the file that defines
    `function` (where the candidate's own code was when it failed); "" when there is none."""
    source = _source_file(function)
    if source is None:
        return ""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if os.path.realpath(frame.filename) == source:
            code = (frame.line or "").strip()
            return f"{frame.filename}:{frame.lineno} in {frame.name}" + (
                f": {code}" if code else ""
            )
    return ""


def _adapt(bound: BoundCandidate, function: str, result: Any, weight: Any) -> tuple[Any, Notes]:
    """The result in DeepSeek's contract (the naming profile's adaptations, then its axes'), and
    what was adapted (as returned if adapting fails)."""
    num_log = weight.shape[1] if weight.dim() == 2 else 0
    try:
        result, notes = bound.profile.adapt(function, result, weight, num_log)
        adapted, more = by_axes(function, result, weight, num_log, bound.axes_of(function))
    except Exception as error:  # a hostile result: judge it as returned
        return result, [f"could not adapt the result ({type(error).__name__})"]
    return adapted, notes + more


def _call(request: CallRequest, loaded: Loaded) -> dict[str, Any]:
    bound = _candidate(request.binding, loaded)
    device = request.device
    weight = _make_weight(request.weights, request.dtype, device)
    function = bound.function(request.function)  # a policy instance is made now, untimed
    axes = bound.axes_of(request.function)
    old, supplied = _old_placement(request.old, weight), []
    if old is None and axes.old_placement == "required":
        old = reference_old_placement(weight, request.args, request.hierarchical)
        supplied = [OLD_NOTE] if old is not None else []
    parts = bound.profile.call_parts(
        request.function, function, weight, request.args, old, request.hierarchical, axes
    )
    parts = with_mask(request.function, parts, function, request.active_ranks, weight, request.args)
    parts = _with_window(parts, request.window, weight)
    snapshot = weight.clone()
    _synchronize(device)  # the input copy and snapshot are done before the clock starts
    started = time.perf_counter()
    try:
        with _default_device(request.default_device):
            result = function(*parts.args, **parts.kwargs)
        _synchronize(device)
    except BaseException as error:  # untrusted code: SystemExit and friends are findings too
        return {
            **_error_reply(error),
            "candidate_frame": candidate_frame(error, function),
            "input_device": str(weight.device),
            "seconds": time.perf_counter() - started,
            "mutated": not _unchanged(weight, snapshot),
        }
    seconds = time.perf_counter() - started
    mutated = not _unchanged(weight, snapshot)
    result, adapted = _adapt(bound, request.function, result, weight)
    reply = result_reply(result, str(weight.device), mutated, seconds)
    reply["adapted"] = supplied + parts.notes + adapted
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


def _prepare(candidate: Candidate) -> None:
    """Run the candidate's `eplb_prepare()` hook, if it has one (`CandidateError` when it fails)."""
    if candidate.prepare is None:
        return
    try:
        candidate.prepare()
    except Exception as error:  # untrusted code: its own preparation failing is a load error
        message = f"{type(error).__name__}: {error}"
        raise CandidateError(
            f"candidate {candidate.spec!r}: eplb_prepare() failed: {message}"
        ) from None


def _candidate(binding: Binding, loaded: Loaded) -> BoundCandidate:
    """The candidate bound to its API profile (`verifier.calling.profiles`), loaded and prepared
    once per spec (a worker shared by several reference variants binds each on first use)."""
    from verifier.calling.candidates import resolve_candidate
    from verifier.calling.profiles.binding import bind
    from verifier.calling.profiles.probe_call import probe_arrays, probe_old_placement

    if binding.spec not in loaded:
        candidate = resolve_candidate(binding.spec)
        bound = bind(candidate, binding.api, binding.fresh_instance)
        _prepare(candidate)
        probe_arrays(bound)  # first probe calls: numpy loads where torch ones fail,
        probe_old_placement(bound)  # a required old placement that looks optional
        bound.notes += bound.old_placement_notes()
        loaded[binding.spec] = bound
    return loaded[binding.spec]


def _load(request: LoadRequest, loaded: Loaded) -> dict[str, Any]:
    _warm_up(request.devices)
    try:
        bound = _candidate(request.binding, loaded)
    except CandidateError as error:
        return {"ok": False, "error": str(error)}
    candidate = bound.candidate
    info = LoadInfo(
        request.binding.spec,
        tuple(candidate.functions),
        candidate.variant,
        candidate.partners,
        bound.profile.name,
        tuple(bound.notes),
        tuple(bound.accepts_old),
        tuple(bound.takes_mask),
        tuple(bound.requires_old),
    )
    return info.to_data()


def _handle(data: dict[str, Any], loaded: Loaded) -> dict[str, Any]:
    request = request_from_data(data)
    if isinstance(request, LoadRequest):
        return _load(request, loaded)
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
    loaded: Loaded = {}
    for line in protocol_in:
        reply = _handle(json.loads(line), loaded)
        protocol_out.write(_encode(reply) + "\n")
        protocol_out.flush()


if __name__ == "__main__":
    serve()

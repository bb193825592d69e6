"""The child side of the sandbox: the loop that runs inside `python -m
verifier.calling.sandbox.child`.

It loads candidates (by spec, once each), turns each call request into a torch tensor, calls the
candidate function, and answers with the outcome as plain data; it also reports whether the call
changed its input tensor. The protocol runs on private copies of stdin/stdout, so candidate prints
never reach it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import traceback
from typing import IO, Any

from verifier.calling.sandbox.outcomes import result_reply
from verifier.model.errors import CandidateError


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
    # The candidate's API profile builds the call and adapts its result.
    from verifier.calling.profiles.worker_side import adapt_result, prepare_call

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
    reply = result_reply(result, str(weight.device), mutated, seconds)
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
    """The candidate bound to its API profile (`verifier.calling.profiles`), loaded once per
    spec."""
    from verifier.calling.candidates import resolve_candidate
    from verifier.calling.profiles.runtime import bind

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

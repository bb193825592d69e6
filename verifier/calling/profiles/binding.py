"""A loaded candidate bound to its API profile (child side): `auto` detection, the load-time
signature check, and the policy-class instances a call needs."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from verifier.calling.candidates import Candidate, CandidateError
from verifier.calling.profiles.base import Profile
from verifier.calling.profiles.deepseek import DeepSeekProfile
from verifier.calling.profiles.elastic import mask_note
from verifier.calling.profiles.sglang import SglangProfile
from verifier.calling.profiles.signature import (
    SGLANG_NAMES,
    VLLM_NAMES,
    mask_parameter,
    parameter_names,
)
from verifier.calling.profiles.vllm import VllmProfile

PROFILE_CLASSES: dict[str, type[Profile]] = {
    "deepseek": DeepSeekProfile,
    "vllm": VllmProfile,
    "sglang": SglangProfile,
}


def detect(candidate: Candidate) -> tuple[str, str]:
    """The profile `auto` picks, and why (from the candidate's shape and parameter names)."""
    names: set[str] = set()
    for fn in candidate.functions.values():
        names |= parameter_names(fn)
    if names & SGLANG_NAMES:
        found = ", ".join(sorted(names & SGLANG_NAMES))
        return "sglang", f"its parameters include SGLang's {found}"
    if inspect.isclass(candidate.target):
        return "vllm", f"{candidate.target.__name__} is a class (vLLM's policy API)"
    if names & VLLM_NAMES:
        return "vllm", f"its parameters include vLLM's {', '.join(sorted(names & VLLM_NAMES))}"
    return "deepseek", "module-level functions with DeepSeek's signatures"


def _needs_instance(target: Any, function: str) -> bool:
    """A class whose `function` is a plain method: it must be called on an instance."""
    if not inspect.isclass(target):
        return False
    static = inspect.getattr_static(target, function, None)
    return not isinstance(static, (classmethod, staticmethod))


@dataclass
class BoundCandidate:
    """A loaded candidate with its profile; makes policy instances when a class needs them."""

    candidate: Candidate
    profile: Profile
    notes: list[str]
    fresh_instance: bool = True
    _shared: Any = None

    @property
    def takes_mask(self) -> list[str]:
        """Functions with the active-ranks mask axis (`verifier.calling.profiles.elastic`)."""
        functions = self.candidate.functions
        return [name for name, fn in functions.items() if mask_parameter(fn) is not None]

    @property
    def accepts_old(self) -> list[str]:
        return [
            name for name, fn in self.candidate.functions.items() if self.profile.accepts_old(fn)
        ]

    def function(self, name: str) -> Callable[..., Any]:
        """The callable for one EPLB function (bound to a fresh or the shared instance)."""
        target = self.candidate.target
        if not _needs_instance(target, name):
            return self.candidate.functions[name]
        if self.fresh_instance or self._shared is None:
            instance = _instantiate(target, self.candidate.spec)
            if not self.fresh_instance:
                self._shared = instance
            return getattr(instance, name)
        return getattr(self._shared, name)


def _instantiate(target: Any, spec: str) -> Any:
    try:
        return target()
    except Exception as error:
        raise CandidateError(
            f"candidate {spec!r}: cannot make an instance of {target.__name__} with no "
            f"arguments: {type(error).__name__}: {error}"
        ) from None


def bind(candidate: Candidate, api: str, fresh_instance: bool = True) -> BoundCandidate:
    """Pick the profile (`auto` detects it) and check that its functions can be called."""
    if api == "auto":
        name, reason = detect(candidate)
        notes = [f"profile {name} detected: {reason}"]
    else:
        name, notes = api, [f"profile {api} requested"]
    if name not in PROFILE_CLASSES:
        raise CandidateError(f"candidate {candidate.spec!r}: unknown API profile {api!r}")
    profile = PROFILE_CLASSES[name]()
    problems = profile.load_problems(candidate.functions)
    if problems:
        raise CandidateError(f"candidate {candidate.spec!r}: " + "; ".join(problems))
    target = candidate.target
    if any(_needs_instance(target, fn) for fn in candidate.functions):
        _instantiate(target, candidate.spec)  # fails at load, not at every call
        how = "a fresh instance per call" if fresh_instance else "one shared instance"
        notes.append(f"{target.__name__} is called through {how}")
    bound = BoundCandidate(candidate, profile, notes, fresh_instance)
    for name in bound.accepts_old:
        notes.append(f"{name} takes an old placement: it is also called with one")
    notes += mask_note(candidate.functions)
    return bound

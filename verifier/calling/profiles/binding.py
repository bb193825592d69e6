"""A loaded candidate bound to its API profile (child side): `auto` detection, the load-time
signature check, and the policy-class instances a call needs."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from verifier.calling.candidates import Candidate, CandidateError
from verifier.calling.profiles.axes import ApiSpec, Axes, axes_notes, parse_api
from verifier.calling.profiles.axis_detection import resolve_axes
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

REQUIRED_OLD_NOTE = (
    "every call without one gets the reference greedy's plan for seeded perturbed loads, "
    "the incremental check its own plan for perturbed loads"
)
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
    axes: dict[str, Axes] = field(default_factory=dict)  # per function (resolved at bind)
    requested: ApiSpec = field(default_factory=ApiSpec)  # what the user asked for
    _shared: Any = None

    def axes_of(self, function: str) -> Axes:
        return self.axes.get(function, Axes())

    @property
    def takes_mask(self) -> list[str]:
        """Functions with the active-ranks mask axis (`verifier.calling.profiles.elastic`)."""
        functions = self.candidate.functions
        return [name for name, fn in functions.items() if mask_parameter(fn) is not None]

    @property
    def accepts_old(self) -> list[str]:
        return [name for name in self.candidate.functions if self.axes_of(name).takes_old]

    @property
    def requires_old(self) -> list[str]:
        return [
            name
            for name in self.candidate.functions
            if self.axes_of(name).old_placement == "required"
        ]

    def old_placement_notes(self) -> list[str]:
        """What each function that takes an old placement gets (once its axes are final)."""
        return [
            f"{name} requires an old placement: {REQUIRED_OLD_NOTE}"
            if name in self.requires_old
            else f"{name} takes an old placement: it is also called with one"
            for name in self.accepts_old
        ]

    def function(self, name: str, *, throwaway: bool = False) -> Callable[..., Any]:
        """The callable for one EPLB function (bound to a fresh or the shared instance;
        `throwaway`: a fresh instance that is never shared, for probe calls that must leave a
        stateful policy's state alone)."""
        target = self.candidate.target
        if not _needs_instance(target, name):
            return self.candidate.functions[name]
        if throwaway or self.fresh_instance or self._shared is None:
            instance = _instantiate(target, self.candidate.spec)
            if not (throwaway or self.fresh_instance):
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


def _axes(candidate: Candidate, api: str, naming: str) -> tuple[dict[str, Axes], list[str]]:
    """Every function's axes under the requested profile string, and their notes."""
    spec = parse_api(api)
    axes: dict[str, Axes] = {}
    for function, fn in candidate.functions.items():
        try:
            axes[function] = resolve_axes(function, fn, spec, naming)
        except CandidateError as error:
            raise CandidateError(f"candidate {candidate.spec!r}: {error}") from None
    return axes, axes_notes(axes)


def bind(candidate: Candidate, api: str, fresh_instance: bool = True) -> BoundCandidate:
    """Pick the profile (`auto` detects the naming and each axis; a string with axes, e.g.
    `deepseek,arrays=numpy`, overrides them) and check that its functions can be called. The
    sandbox child then probes an optional old placement (`probe_call.probe_old_placement`) and
    adds `old_placement_notes`."""
    try:
        naming = parse_api(api).naming
    except CandidateError as error:
        raise CandidateError(f"candidate {candidate.spec!r}: {error}") from None
    if naming == "auto":
        name, reason = detect(candidate)
        notes = [f"profile {name} detected: {reason}"]
    else:
        name, notes = naming, [f"profile {naming} requested"]
    profile = PROFILE_CLASSES[name]()
    axes, axis_notes = _axes(candidate, api, name)
    notes += axis_notes
    problems = profile.load_problems(candidate.functions)
    if problems:
        raise CandidateError(f"candidate {candidate.spec!r}: " + "; ".join(problems))
    target = candidate.target
    if any(_needs_instance(target, fn) for fn in candidate.functions):
        _instantiate(target, candidate.spec)  # fails at load, not at every call
        how = "a fresh instance per call" if fresh_instance else "one shared instance"
        notes.append(f"{target.__name__} is called through {how}")
    notes += mask_note(candidate.functions)
    return BoundCandidate(candidate, profile, notes, fresh_instance, axes, parse_api(api))

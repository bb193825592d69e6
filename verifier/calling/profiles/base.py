"""The profile interface (child side): build one call's arguments, adapt its result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from verifier.calling.profiles.axes import Axes
from verifier.calling.profiles.signature import (
    mask_parameter,
    old_placement_parameter,
    unbindable,
)
from verifier.model.contract import contract_for

Notes = list[str]
PRESET = Axes()  # every axis at the naming's own convention


@dataclass(frozen=True)
class CallParts:
    """The positional and keyword arguments of one candidate call, and what was adapted."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    notes: Notes = field(default_factory=list)


def named_values(
    function: str, weight: Any, args: tuple[int, ...], hierarchical: bool
) -> dict[str, Any]:
    """Every argument name the profiles know, with its value for this call: DeepSeek's names
    (the contract's arguments after `weight`) and the other APIs' names derived from them."""
    values: dict[str, Any] = dict(zip(contract_for(function).arguments, args, strict=True))
    values["weight"] = weight
    if function == "replicate_experts":
        values["num_replicas"] = values["num_physical_experts"] = values["num_phy"]
    if function == "rebalance_experts":
        replicas, gpus = values["num_replicas"], values["num_gpus"]
        values["num_physical_experts"] = replicas
        values["num_ranks"] = gpus
        values["num_local_physical_experts"] = replicas // gpus if gpus else 0
        values["enable_hierarchical"] = hierarchical
    return values


class Profile:
    """DeepSeek's calling convention; the other profiles override parts of it."""

    name = "deepseek"

    def known_names(self, function: str) -> set[str]:
        """Parameter names this profile can fill (for the load-time signature check)."""
        return {"weight", *contract_for(function).arguments}

    def load_problems(self, functions: dict[str, Callable[..., Any]]) -> list[str]:
        """Why a function cannot be called under this profile (required unknown parameters)."""
        problems = []
        for function, fn in functions.items():
            mask = mask_parameter(fn)  # the active-ranks axis, under every profile
            known = self.known_names(function) | {"self", "cls"} | ({mask} if mask else set())
            missing = unbindable(fn, known)
            if missing and self.binds_by_name:
                problems.append(
                    f"{function} has required parameter(s) {', '.join(missing)} that the "
                    f"{self.name} profile does not know"
                )
        return problems

    binds_by_name = False

    def input_for(self, function: str, fn: Callable[..., Any], weight: Any) -> tuple[Any, Notes]:
        """The load argument in the form the naming's convention wants (torch by default)."""
        return weight, []

    def loads(
        self, function: str, fn: Callable[..., Any], weight: Any, axes: Axes
    ) -> tuple[Any, Notes]:
        """The load argument as the arrays axis says (the naming's convention under "preset")."""
        if axes.arrays == "numpy":
            return weight.cpu().numpy(), ["loads passed as a numpy array"]
        if axes.arrays == "torch":
            return weight, []
        return self.input_for(function, fn, weight)

    def call_parts(
        self,
        function: str,
        fn: Callable[..., Any],
        weight: Any,
        args: tuple[int, ...],
        old: Any,
        hierarchical: bool,
        axes: Axes = PRESET,
    ) -> CallParts:
        """DeepSeek: `fn(weight, *args)`, positional (an old placement by its keyword)."""
        loads, notes = self.loads(function, fn, weight, axes)
        old_name = old_placement_parameter(fn)
        if old is None or old_name is None:
            return CallParts((loads, *args), {}, notes)
        old_value = old.cpu().numpy() if axes.arrays == "numpy" else old
        notes.append(f"old placement passed as {old_name}")
        return CallParts((loads, *args), {old_name: old_value}, notes)

    def adapt(self, function: str, result: Any, weight: Any, num_log: int) -> tuple[Any, Notes]:
        """DeepSeek: nothing is adapted (the contract is judged as returned)."""
        return result, []


class NamedProfile(Profile):
    """Profiles that bind arguments by parameter name (vLLM, SGLang)."""

    binds_by_name = True

    def known_names(self, function: str) -> set[str]:
        arity = len(contract_for(function).arguments)
        return set(named_values(function, None, (1,) * arity, False)) | {
            "tokens_per_expert",
            "old_global_expert_indices",
        }

    def call_parts(
        self,
        function: str,
        fn: Callable[..., Any],
        weight: Any,
        args: tuple[int, ...],
        old: Any,
        hierarchical: bool,
        axes: Axes = PRESET,
    ) -> CallParts:
        from verifier.calling.profiles.signature import parameters

        loads, notes = self.loads(function, fn, weight, axes)
        values = named_values(function, loads, args, hierarchical)
        values["tokens_per_expert"] = weight.unsqueeze(0)
        old_name = old_placement_parameter(fn)
        kwargs: dict[str, Any] = {}
        for parameter in parameters(fn):
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if parameter.name == old_name:
                if old is not None:
                    kwargs[parameter.name] = old.cpu().numpy() if axes.arrays == "numpy" else old
                    notes.append(f"old placement passed as {parameter.name}")
                continue
            if parameter.name in values:
                kwargs[parameter.name] = values[parameter.name]
        if "tokens_per_expert" in kwargs:
            notes.append("loads passed as one step: tokens_per_expert [1, layers, experts]")
        return CallParts((), kwargs, notes)

"""Resolving a candidate spec (what the user names on the command line) into its EPLB functions.

A candidate is anything that defines one or more of `balanced_packing`, `replicate_experts` and
`rebalance_experts` with DeepSeek's positional signatures. It is named as one of:

- `reference` or `reference:VARIANT` (every entry of `reference.VARIANTS`), or
  `reference:CLASS` for a policy class of the reference (`reference.POLICY_CLASSES`);
- a path to a `.py` file, optionally `path.py:NAME`;
- the name of an entry point in the `eplb_verify.candidates` group (installed packages);
- a dotted module `pkg.mod`, optionally `pkg.mod:NAME`.

`NAME` is either one of the three function names (a single-function candidate) or an attribute
that itself defines them (a namespace such as a class instance). Resolution imports untrusted
code, so it runs inside the sandbox worker (`verifier.calling.sandbox`); every failure is a
`CandidateError` whose message names the spec and the reason.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.model.contract import FUNCTIONS
from verifier.model.errors import CandidateError

ENTRY_POINT_GROUP = "eplb_verify.candidates"
REFERENCE = "reference"
PREPARE_HOOK = "eplb_prepare"  # optional, no arguments: called once after loading (see Candidate)


@dataclass(frozen=True)
class Candidate:
    """A resolved candidate: its spec and the EPLB functions it defines."""

    spec: str
    functions: dict[str, Callable[..., Any]]
    variant: str | None = None  # the reference variant's name when the candidate is the reference
    partners: dict[str, str] = field(default_factory=dict)  # function -> spec it must agree with
    target: Any = None  # the object that defines the functions (module, class, instance)
    # `eplb_prepare()` of the candidate, when it defines one: called once after loading, under
    # the load time limit (where JIT-compiled code compiles, instead of in its first timed call)
    prepare: Callable[[], Any] | None = None


def _split(spec: str) -> tuple[str, str | None]:
    """`target[:NAME]` -> (target, NAME); a Windows drive colon is not a separator."""
    head, sep, tail = spec.rpartition(":")
    if not sep or not head or "/" in tail or "\\" in tail:
        return spec, None
    return head, tail


def _functions_of(obj: Any, spec: str, name: str | None) -> dict[str, Callable[..., Any]]:
    """The EPLB functions an object provides (or the single named one)."""
    if name is not None and name in FUNCTIONS:
        if not callable(obj):
            raise CandidateError(f"candidate {spec!r}: {name} is not callable")
        return {name: obj}
    functions = {fn: getattr(obj, fn) for fn in FUNCTIONS if callable(getattr(obj, fn, None))}
    if not functions:
        raise CandidateError(
            f"candidate {spec!r} defines none of {', '.join(FUNCTIONS)} "
            "(name one of them after ':' or point at a module or object that defines them)"
        )
    return functions


def _attribute(module: Any, spec: str, name: str | None) -> Any:
    if name is None:
        return module
    if not hasattr(module, name):
        raise CandidateError(f"candidate {spec!r}: {module.__name__!r} has no attribute {name!r}")
    return getattr(module, name)


def _import_failure(spec: str, what: str, error: BaseException) -> CandidateError:
    if isinstance(error, SyntaxError):
        where = f"{error.filename}, line {error.lineno}" if error.filename else what
        return CandidateError(f"candidate {spec!r}: syntax error in {where}: {error.msg}")
    return CandidateError(
        f"candidate {spec!r}: importing {what} raised {type(error).__name__}: {error}"
    )


def _package_root(path: Path) -> Path | None:
    """The top folder of the package a .py file belongs to (folders with `__init__.py`)."""
    folder = path.resolve().parent
    if not (folder / "__init__.py").is_file():
        return None
    while (folder.parent / "__init__.py").is_file():
        folder = folder.parent
    return folder


def _load_package_file(path: Path, root: Path, spec: str) -> Any:
    """Import a .py file inside a package as `pkg.sub.mod`, so its relative imports work."""
    relative = path.resolve().relative_to(root.parent).with_suffix("")
    dotted = ".".join(relative.parts)
    if dotted.endswith(".__init__"):
        dotted = dotted[: -len(".__init__")]
    if not all(part.isidentifier() for part in dotted.split(".")):
        raise CandidateError(f"candidate {spec!r}: {dotted!r} is not an importable package path")
    sys.path.insert(0, str(root.parent))
    return _load_module(dotted, spec)


def _load_file(path: Path, spec: str) -> Any:
    """Import a .py file as a fresh module (its folder goes first on sys.path for its siblings);
    a file inside a package folder imports as part of its package."""
    if not path.is_file():
        raise CandidateError(f"candidate {spec!r}: no such file {str(path)!r}")
    root = _package_root(path)
    if root is not None:
        return _load_package_file(path, root, spec)
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"_eplb_candidate_{digest}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise CandidateError(f"candidate {spec!r}: cannot import {str(path)!r} as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(path.resolve().parent))
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException as error:  # untrusted code: anything may come out of its import
        sys.modules.pop(module_name, None)
        raise _import_failure(spec, str(path), error) from None
    return module


def _load_module(dotted: str, spec: str) -> Any:
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as error:
        if error.name is not None and (dotted == error.name or dotted.startswith(error.name + ".")):
            raise CandidateError(f"candidate {spec!r}: no module named {error.name!r}") from None
        raise _import_failure(spec, dotted, error) from None
    except BaseException as error:
        raise _import_failure(spec, dotted, error) from None


def _entry_point(name: str) -> importlib.metadata.EntryPoint | None:
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return entry
    return None


# --- the reference variants (one source: `reference.VARIANTS`) ----------------------------------


def reference_spec(variant: str) -> str:
    """The candidate spec of a reference variant: `reference:NAME`."""
    return f"{REFERENCE}:{variant}"


def variant_of(spec: str) -> str | None:
    """`reference:NAME` -> NAME; None for any other spec."""
    target, _, name = spec.partition(":")
    return name if target == REFERENCE and name else None


def reference_variants() -> dict[str, Any]:
    """Every reference variant object, by name, in `reference.VARIANTS` order."""
    from reference import VARIANTS

    return dict(VARIANTS)


def reference_specs() -> list[str]:
    """The spec of every reference variant, the default (the baseline of every ratio) first."""
    from reference import DEFAULT_VARIANT

    names = [DEFAULT_VARIANT] + [name for name in reference_variants() if name != DEFAULT_VARIANT]
    return [reference_spec(name) for name in names]


def default_reference_spec() -> str:
    """The default reference variant's spec (`reference:greedy`)."""
    return reference_specs()[0]


def is_reference_variant(spec: str) -> bool:
    """`reference` or `reference:VARIANT` (not a single reference function)."""
    target, _, variant = spec.partition(":")
    return target == REFERENCE and (variant in reference_variants() or not variant)


def reference_partners(variant: str) -> dict[str, str]:
    """The reference variants a variant must agree with exactly, per function.

    The vectorized and heap replication paths must agree on every input: `replicate_experts` of any
    variant is compared with a variant using the other path, and `rebalance_experts` with the
    variant that differs only in its replication path (when there is one).
    """
    from reference import VARIANTS

    own = VARIANTS[variant]
    partners: dict[str, str] = {}
    for name, other in VARIANTS.items():
        if other.replication == own.replication:
            continue
        partners.setdefault("replicate_experts", reference_spec(name))
        if other.packing == own.packing and other.seed == own.seed:
            partners["rebalance_experts"] = reference_spec(name)
    return partners


def _prepare_of(obj: Any) -> Callable[[], Any] | None:
    """The object's `eplb_prepare` hook, when it defines a callable one."""
    prepare = getattr(obj, PREPARE_HOOK, None)
    return prepare if callable(prepare) else None


def _resolve_reference(spec: str, name: str | None) -> Candidate:
    import reference
    from reference import DEFAULT_VARIANT, POLICY_CLASSES, VARIANTS

    if name in POLICY_CLASSES:  # a vLLM-style policy class of the reference (`reference.policy`)
        policy = getattr(reference, name)
        return Candidate(
            spec, _functions_of(policy, spec, None), target=policy, prepare=_prepare_of(policy)
        )
    variant = DEFAULT_VARIANT
    function: str | None = None
    if name in VARIANTS:
        variant = name
    elif name is not None and name in FUNCTIONS:
        function = name
    elif name is not None:
        raise CandidateError(
            f"candidate {spec!r}: unknown reference variant {name!r}; "
            f"expected one of {sorted(VARIANTS)}, {', '.join(POLICY_CLASSES)} or a function name"
        )
    obj = VARIANTS[variant]
    target = getattr(obj, function) if function else obj
    return Candidate(
        spec,
        _functions_of(target, spec, function),
        variant,
        reference_partners(variant),
        prepare=_prepare_of(obj),
    )


def resolve_candidate(spec: str) -> Candidate:
    """Import a candidate and collect its EPLB functions (`CandidateError` says why not)."""
    spec = spec.strip()
    if not spec:
        raise CandidateError("candidate: empty name")
    target, name = _split(spec)
    if target == REFERENCE:
        return _resolve_reference(spec, name)
    if target.endswith(".py") or "/" in target or Path(target).is_file():
        module = _load_file(Path(target), spec)
        obj = _attribute(module, spec, name)
        return Candidate(spec, _functions_of(obj, spec, name), target=obj, prepare=_prepare_of(obj))
    entry = _entry_point(target) if name is None else None
    if entry is not None:
        try:
            obj = entry.load()
        except BaseException as error:
            raise _import_failure(spec, f"entry point {entry.value!r}", error) from None
        return Candidate(spec, _functions_of(obj, spec, None), target=obj, prepare=_prepare_of(obj))
    if not all(part.isidentifier() for part in target.split(".")):
        raise CandidateError(
            f"candidate {spec!r}: not a .py file, a reference variant, an entry point in "
            f"{ENTRY_POINT_GROUP!r} or a dotted module name"
        )
    module = _load_module(target, spec)
    obj = _attribute(module, spec, name)
    return Candidate(spec, _functions_of(obj, spec, name), target=obj, prepare=_prepare_of(obj))

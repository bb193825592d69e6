"""A profile as independent axes: naming, arrays, index dtype, return form, old placement.

`ApiSpec` is what the user asked for (`--api NAMING` plus `--arrays`, `--index-dtype`, `--returns`,
`--old-placement`; "auto" leaves an axis to detection or to the naming preset). It travels to the
sandbox child as one string (`ApiSpec.text()`, e.g. `deepseek,arrays=numpy,index_dtype=int32`;
a bare naming such as `vllm` is today's `--api vllm`), so every command that passes an `api`
string passes the axes too. `Axes` is what the child resolved for one function, with the reason
for each axis (`verifier.calling.profiles.axis_detection`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from verifier.model.errors import CandidateError

ARRAYS: tuple[str, ...] = ("auto", "torch", "numpy")
INDEX_DTYPES: tuple[str, ...] = ("auto", "int64", "int32")
RETURNS: tuple[str, ...] = ("auto", "triple", "pair", "phy2log")
OLD_PLACEMENTS: tuple[str, ...] = ("auto", "none", "optional", "required")
NAMINGS: tuple[str, ...] = ("auto", "deepseek", "vllm", "sglang")
AXIS_CHOICES: dict[str, tuple[str, ...]] = {
    "arrays": ARRAYS,
    "index_dtype": INDEX_DTYPES,
    "returns": RETURNS,
    "old_placement": OLD_PLACEMENTS,
}


@dataclass(frozen=True)
class ApiSpec:
    """The requested profile: a naming preset and an override (or "auto") per axis."""

    naming: str = "auto"
    arrays: str = "auto"
    index_dtype: str = "auto"
    returns: str = "auto"
    old_placement: str = "auto"

    def overrides(self) -> dict[str, str]:
        """The axes given explicitly (not "auto")."""
        return {name: getattr(self, name) for name in AXIS_CHOICES if getattr(self, name) != "auto"}

    def text(self) -> str:
        """The one-string form (`naming[,axis=value...]`); a bare naming when nothing is set."""
        return ",".join([self.naming, *(f"{k}={v}" for k, v in self.overrides().items())])

    def flags(self) -> list[str]:
        """The command-line words that ask for this profile (`--api vllm --arrays numpy`; none
        when everything is "auto"), for printed reproducers."""
        words = [] if self.naming == "auto" else ["--api", self.naming]
        for name, value in self.overrides().items():
            words += ["--" + name.replace("_", "-"), value]
        return words


def parse_api(text: str) -> ApiSpec:
    """`ApiSpec` from its string form; `CandidateError` for an unknown naming, axis or value."""
    naming, *items = text.split(",")
    if naming not in NAMINGS:
        raise CandidateError(f"unknown API profile {naming!r} (one of {', '.join(NAMINGS)})")
    values: dict[str, str] = {}
    for item in items:
        name, _, value = item.partition("=")
        if value not in AXIS_CHOICES.get(name, ()):
            raise CandidateError(f"unknown API axis setting {item!r} in {text!r}")
        values[name] = value
    return ApiSpec(naming, **values)


def valid_api(text: str) -> bool:
    """True when `text` is a profile string `parse_api` accepts."""
    try:
        parse_api(text)
    except CandidateError:
        return False
    return True


@dataclass(frozen=True)
class Axes:
    """One function's resolved axes ("preset" for arrays and returns: the naming profile's own
    convention) and why each was chosen."""

    arrays: str = "preset"  # torch | numpy | preset
    index_dtype: str = "int64"  # int64 | int32 (int32 outputs accepted and widened)
    returns: str = "preset"  # triple | pair | phy2log | preset
    old_placement: str = "none"  # none | optional | required
    reasons: tuple[tuple[str, str], ...] = ()  # (axis, why) for the axes not left at the preset

    def note(self) -> str:
        """`arrays numpy (why), ...`: the axes set apart from the naming's preset, and why."""
        return ", ".join(
            f"{name.replace('_', ' ')} {getattr(self, name)} ({why})" for name, why in self.reasons
        )

    @property
    def takes_old(self) -> bool:
        return self.old_placement in ("optional", "required")


AXIS_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Axes) if f.name != "reasons")


def axes_notes(axes: dict[str, Axes]) -> list[str]:
    """One note per distinct axis choice: `f, g: arrays numpy (why), ...` (functions at the
    naming's preset on every axis are left out)."""
    by_note: dict[str, list[str]] = {}
    for function, axis in axes.items():
        if axis.note():
            by_note.setdefault(axis.note(), []).append(function)
    return [f"{', '.join(functions)}: {note}" for note, functions in by_note.items()]

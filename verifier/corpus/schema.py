"""The corpus record format: typed entries, their JSON form, and validation naming file and field.

A record file holds one instance and everything known about it::

    {
      "schema_version": 1,
      "hash": "<instance_hash of the instance>",
      "instance": {... the shared instance format ...},
      "provenance": {"family": str, "source": "generator"|"fuzz"|"manual", "date": "YYYY-MM-DD",
                     "description": str, "generator": str|null, "seed": int|null,
                     "campaign": str|null, "extra": {...}},
      "oracle": {"solver": str, "method": "solve"|"bound", "time_limit": float|null, "seed": int,
                 "layers": [{"objective": "p/q"|null, "objective_float": float|null,
                             "bound": "p/q", "bound_float": float,
                             "status": "optimal"|"feasible"|"unknown", "proven": bool,
                             "seconds": float, "details": {...}}, ...]},
      "baselines": {"<variant>": {"layers": [{"objective": "p/q", "objective_float": float,
                                             "gap": "p/q"|null, "gap_float": float|null}, ...],
                                  "max_gap": "p/q"|null, "max_gap_float": float|null}}
    }

Exact values are strings "p/q" (or "p"); the `*_float` twins are for humans and plots and must
agree with them. `gap` is the certified relative gap against the oracle's bound,
(objective - bound) / bound: an upper bound on the true gap, and the true gap when the layer is
proven. It is null when the bound is zero and the objective is not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from verifier.model.errors import RecordError
from verifier.model.instances import (
    Instance,
    InstanceError,
    instance_from_dict,
    instance_hash,
    num_layers,
    read_json,
)
from verifier.model.instances import instance_to_dict as _instance_to_dict
from verifier.model.objectives import gap_interval, relative_gap

SCHEMA_VERSION = 1
STATUSES = ("optimal", "feasible", "unknown")
SOURCES = ("generator", "fuzz", "manual")
ORACLE_METHODS = ("solve", "bound")
FLOAT_AGREEMENT = 1e-9  # how closely a *_float twin must match its exact value


# --------------------------------------------------------------------------- exact values


def fraction_to_str(value: Fraction) -> str:
    """The exact string form of a rational: "p" or "p/q"."""
    return str(value)


def parse_fraction(text: Any, where: str) -> Fraction:
    """Parse an exact "p/q" string (never a float: floats would smuggle in rounding)."""
    if not isinstance(text, str):
        raise RecordError(f"field {where!r}: expected an exact string 'p/q', got {text!r}")
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise RecordError(f"field {where!r}: not an exact rational 'p/q': {text!r}") from None


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Provenance:
    """Where an instance came from: its family and how to reproduce it."""

    family: str
    source: str = "generator"
    date: str = ""
    description: str = ""
    generator: str | None = None
    seed: int | None = None
    campaign: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "source": self.source,
            "date": self.date,
            "description": self.description,
            "generator": self.generator,
            "seed": self.seed,
            "campaign": self.campaign,
            "extra": self.extra,
        }


@dataclass(frozen=True)
class OracleLayer:
    """The oracle's result on one layer: best objective found (if any), certified bound, status."""

    objective: Fraction | None
    bound: Fraction
    status: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)  # e.g. contract, global optimum

    @property
    def proven(self) -> bool:
        return self.status == "optimal"

    def to_dict(self) -> dict[str, Any]:
        return {
            "details": self.details,
            "objective": None if self.objective is None else fraction_to_str(self.objective),
            "objective_float": None if self.objective is None else float(self.objective),
            "bound": fraction_to_str(self.bound),
            "bound_float": float(self.bound),
            "status": self.status,
            "proven": self.proven,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class OracleRecord:
    """The oracle's results on every layer, and what produced them."""

    solver: str
    method: str
    time_limit: float | None
    seed: int
    layers: list[OracleLayer]

    def to_dict(self) -> dict[str, Any]:
        return {
            "solver": self.solver,
            "method": self.method,
            "time_limit": self.time_limit,
            "seed": self.seed,
            "layers": [layer.to_dict() for layer in self.layers],
        }


@dataclass(frozen=True)
class Baseline:
    """One reference variant's recorded objective per layer: the regression baseline."""

    objectives: list[Fraction]

    def gaps(self, oracle: OracleRecord) -> list[Fraction | None]:
        """Certified relative gap per layer against the oracle's bound (None: unbounded)."""
        return [
            relative_gap(value, layer.bound)
            for value, layer in zip(self.objectives, oracle.layers, strict=True)
        ]

    def max_gap(self, oracle: OracleRecord) -> Fraction | None:
        gaps = self.gaps(oracle)
        if any(gap is None for gap in gaps):
            return None
        return max((gap for gap in gaps if gap is not None), default=Fraction(0))

    def to_dict(self, oracle: OracleRecord) -> dict[str, Any]:
        layers = []
        for value, gap in zip(self.objectives, self.gaps(oracle), strict=True):
            layers.append(
                {
                    "objective": fraction_to_str(value),
                    "objective_float": float(value),
                    "gap": None if gap is None else fraction_to_str(gap),
                    "gap_float": None if gap is None else float(gap),
                }
            )
        worst = self.max_gap(oracle)
        return {
            "layers": layers,
            "max_gap": None if worst is None else fraction_to_str(worst),
            "max_gap_float": None if worst is None else float(worst),
        }


@dataclass(frozen=True)
class CorpusEntry:
    """One corpus record: an instance, its provenance, the oracle record and the baselines."""

    instance: Instance
    provenance: Provenance
    oracle: OracleRecord
    baselines: dict[str, Baseline]
    path: Path | None = None

    @property
    def family(self) -> str:
        return self.provenance.family

    @property
    def problem(self) -> str:
        return self.instance.problem

    @property
    def hash(self) -> str:
        return instance_hash(self.instance)

    @property
    def name(self) -> str:
        """A short display name: problem/hash."""
        return f"{self.problem}/{self.hash}"

    def gap_interval(self, variant: str, layer: int) -> tuple[Fraction, Fraction | None]:
        """An honest interval for the variant's true relative gap on one layer.

        Low end against the oracle's best objective (clamped at 0), high end against its
        certified bound (None when unbounded). Both ends coincide on a proven layer.
        """
        record = self.oracle.layers[layer]
        return gap_interval(
            self.baselines[variant].objectives[layer], record.bound, record.objective
        )

    def with_baselines(self, baselines: Mapping[str, Baseline]) -> CorpusEntry:
        return CorpusEntry(self.instance, self.provenance, self.oracle, dict(baselines), self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "hash": self.hash,
            "instance": _instance_to_dict(self.instance),
            "provenance": self.provenance.to_dict(),
            "oracle": self.oracle.to_dict(),
            "baselines": {
                name: baseline.to_dict(self.oracle)
                for name, baseline in sorted(self.baselines.items())
            },
        }


def pretty_json(value: Any, indent: str = "") -> str:
    """JSON with sorted keys, one key per line, but a list of plain values on a single line.

    So a layer of weights is one line: records stay readable and a changed layer is a one-line
    diff. `json.loads(pretty_json(x)) == x`.
    """
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [
            f"{inner}{json.dumps(key)}: {pretty_json(value[key], inner)}" for key in sorted(value)
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        items = [inner + pretty_json(item, inner) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return json.dumps(value, sort_keys=True)


def entry_json(entry: CorpusEntry) -> str:
    """The file content of a record: pretty-printed, sorted keys, a trailing newline."""
    return pretty_json(entry.to_dict()) + "\n"


# --------------------------------------------------------------------------- validation


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise RecordError(f"missing field {where + key!r}")
    return data[key]


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise RecordError(f"field {where!r}: expected a JSON object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise RecordError(f"field {where!r}: expected a list, got {type(value).__name__}")
    return value


def _string(value: Any, where: str, *, choices: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str):
        raise RecordError(f"field {where!r}: expected a string, got {value!r}")
    if choices and value not in choices:
        raise RecordError(f"field {where!r}: must be one of {list(choices)}, got {value!r}")
    return value


def _optional_string(value: Any, where: str) -> str | None:
    return None if value is None else _string(value, where)


def _optional_int(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"field {where!r}: expected an integer or null, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RecordError(f"field {where!r}: expected a finite number, got {value!r}")
    return float(value)


def _check_float_twin(
    data: Mapping[str, Any], key: str, exact: Fraction | None, where: str
) -> None:
    """The human-readable float must agree with the exact value (catches half-done hand edits)."""
    twin = data.get(f"{key}_float")
    if exact is None:
        if twin is not None:
            raise RecordError(f"field {where + key + '_float'!r}: must be null when {key} is null")
        return
    value = _number(twin, where + key + "_float")
    if not math.isclose(value, float(exact), rel_tol=FLOAT_AGREEMENT, abs_tol=1e-300):
        raise RecordError(
            f"field {where + key + '_float'!r}: {value!r} disagrees with exact {where + key} "
            f"= {exact} ({float(exact)!r})"
        )


def _parse_provenance(data: Any) -> Provenance:
    data = _object(data, "provenance")
    extra = data.get("extra", {})
    return Provenance(
        family=_string(_require(data, "family", "provenance."), "provenance.family"),
        source=_string(
            _require(data, "source", "provenance."), "provenance.source", choices=SOURCES
        ),
        date=_string(data.get("date", ""), "provenance.date"),
        description=_string(data.get("description", ""), "provenance.description"),
        generator=_optional_string(data.get("generator"), "provenance.generator"),
        seed=_optional_int(data.get("seed"), "provenance.seed"),
        campaign=_optional_string(data.get("campaign"), "provenance.campaign"),
        extra=dict(_object(extra, "provenance.extra")),
    )


def _parse_oracle_layer(data: Any, where: str) -> OracleLayer:
    data = _object(data, where.rstrip("."))
    raw_objective = _require(data, "objective", where)
    objective = (
        None if raw_objective is None else parse_fraction(raw_objective, where + "objective")
    )
    bound = parse_fraction(_require(data, "bound", where), where + "bound")
    status = _string(_require(data, "status", where), where + "status", choices=STATUSES)
    _check_float_twin(data, "objective", objective, where)
    _check_float_twin(data, "bound", bound, where)
    proven = _require(data, "proven", where)
    if proven is not (status == "optimal"):
        raise RecordError(f"field {where + 'proven'!r}: {proven!r} contradicts status {status!r}")
    if objective is not None and bound > objective:
        raise RecordError(f"field {where + 'bound'!r}: bound {bound} exceeds objective {objective}")
    if status == "optimal" and objective != bound:
        raise RecordError(
            f"field {where + 'status'!r}: 'optimal' needs objective == bound, got {objective} "
            f"and {bound}"
        )
    if status != "unknown" and objective is None:
        raise RecordError(f"field {where + 'objective'!r}: status {status!r} needs an objective")
    seconds = _number(data.get("seconds", 0.0), where + "seconds")
    details = dict(_object(data.get("details", {}), where + "details"))
    return OracleLayer(objective, bound, status, seconds, details)


def _parse_oracle(data: Any, layers: int) -> OracleRecord:
    data = _object(data, "oracle")
    time_limit = data.get("time_limit")
    raw_layers = _list(_require(data, "layers", "oracle."), "oracle.layers")
    if len(raw_layers) != layers:
        raise RecordError(
            f"field 'oracle.layers': {len(raw_layers)} entries for an instance of {layers} layers"
        )
    return OracleRecord(
        solver=_string(_require(data, "solver", "oracle."), "oracle.solver"),
        method=_string(
            _require(data, "method", "oracle."), "oracle.method", choices=ORACLE_METHODS
        ),
        time_limit=None if time_limit is None else _number(time_limit, "oracle.time_limit"),
        seed=_optional_int(data.get("seed", 0), "oracle.seed") or 0,
        layers=[
            _parse_oracle_layer(layer, f"oracle.layers[{index}].")
            for index, layer in enumerate(raw_layers)
        ],
    )


def _parse_baseline(data: Any, where: str, oracle: OracleRecord) -> Baseline:
    data = _object(data, where)
    raw_layers = _list(_require(data, "layers", where + "."), where + ".layers")
    if len(raw_layers) != len(oracle.layers):
        raise RecordError(
            f"field {where + '.layers'!r}: {len(raw_layers)} entries for an instance of "
            f"{len(oracle.layers)} layers"
        )
    objectives = []
    for index, raw in enumerate(raw_layers):
        at = f"{where}.layers[{index}]."
        raw = _object(raw, at.rstrip("."))
        value = parse_fraction(_require(raw, "objective", at), at + "objective")
        _check_float_twin(raw, "objective", value, at)
        bound = oracle.layers[index].bound
        if value < bound:
            raise RecordError(
                f"field {at + 'objective'!r}: {value} is below the oracle's certified bound {bound}"
            )
        objectives.append(value)
    return Baseline(objectives)


def entry_from_dict(data: Any, path: Path | None = None) -> CorpusEntry:
    """Validate a decoded record; RecordError names the field (the caller adds the file)."""
    data = _object(data, "<record>")
    version = _require(data, "schema_version", "")
    if version != SCHEMA_VERSION:
        raise RecordError(
            f"field 'schema_version': unsupported version {version!r} (this tool reads "
            f"{SCHEMA_VERSION})"
        )
    try:
        instance = instance_from_dict(_require(data, "instance", ""))
    except InstanceError as error:
        raise RecordError(f"field 'instance': {error}") from None
    recorded_hash = _string(_require(data, "hash", ""), "hash")
    actual_hash = instance_hash(instance)
    if recorded_hash != actual_hash:
        raise RecordError(
            f"field 'hash': {recorded_hash!r} does not match the instance's hash {actual_hash!r} "
            "(was the instance edited by hand?)"
        )
    provenance = _parse_provenance(_require(data, "provenance", ""))
    oracle = _parse_oracle(_require(data, "oracle", ""), num_layers(instance))
    raw_baselines = _object(_require(data, "baselines", ""), "baselines")
    baselines = {
        _string(name, "baselines key"): _parse_baseline(raw, f"baselines.{name}", oracle)
        for name, raw in raw_baselines.items()
    }
    return CorpusEntry(instance, provenance, oracle, baselines, path)


def load_entry(path: str | Path) -> CorpusEntry:
    """Read and validate one record file; every error message starts with the file's path."""
    path = Path(path)
    data = read_json(path, RecordError)
    try:
        entry = entry_from_dict(data, path)
    except RecordError as error:
        raise RecordError(f"{path}: {error}") from None
    if path.stem != entry.hash:
        raise RecordError(f"{path}: file name does not match field 'hash' ({entry.hash!r})")
    if path.parent.name != entry.problem:
        raise RecordError(
            f"{path}: field 'instance.problem' is {entry.problem!r} but the file lies in "
            f"{path.parent.name!r}/"
        )
    return entry

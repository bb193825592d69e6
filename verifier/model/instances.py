"""EPLB problem instances: the JSON instance format shared by every command.

An instance file is one JSON object, one of::

    {"problem": "packing", "weights": [[...], ...], "num_packs": m}
    {"problem": "replication", "weights": [[...], ...], "num_phy": P}
    {"problem": "rebalance", "weights": [[...], ...], "num_replicas": R,
     "num_groups": G, "num_nodes": N, "num_gpus": K}

A rebalance instance may also carry a running cluster's placement and a move budget (the
migration-aware oracle): `"old_phy2log": [[...], ...]` (per layer, the expert in each of the R
slots; slot s on GPU s // (R / K)) and `"max_moves": M` (an integer >= 0, or one per layer), the
most replica weight copies a new placement may make (see `objectives.moves`). An instance without
them prints, serialises and hashes exactly as before.

A rebalance instance may also carry an elastic cluster's active-ranks mask (SGLang's elastic EP):
`"active_ranks": [1, 0, 1, 1]`, one entry per GPU, 1 live and 0 dead, at least one live, and the
live GPUs' slots enough for every expert; it cannot be combined with `old_phy2log`. What it means
for a plan is in `verifier.model.elastic`.

`weights` is a list of layers, each a list of non-negative finite numbers (integers stay integers).
Parsing checks everything a solver or a candidate would otherwise trip over and raises
`InstanceError` with a message naming the offending field. A field the format does not know is an
error too (a misspelled field would otherwise give the answer to another problem); free-form notes
go under `"metadata"`, which is accepted and ignored (not part of the instance or its hash).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from verifier.model.errors import InstanceError

Number = int | float
Weights = list[list[Number]]
ProblemName = Literal["packing", "replication", "rebalance"]
PROBLEMS: tuple[ProblemName, ...] = ("packing", "replication", "rebalance")


@dataclass(frozen=True)
class PackingInstance:
    """`n` weighted items per layer into `num_packs` packs of exactly n/num_packs items."""

    weights: Weights
    num_packs: int
    problem: ProblemName = "packing"

    def sizes(self) -> dict[str, int]:
        return {"num_packs": self.num_packs}


@dataclass(frozen=True)
class ReplicationInstance:
    """`num_log` experts per layer into `num_phy` physical slots (each expert at least once)."""

    weights: Weights
    num_phy: int
    problem: ProblemName = "replication"

    def sizes(self) -> dict[str, int]:
        return {"num_phy": self.num_phy}


@dataclass(frozen=True)
class RebalanceInstance:
    """The full EPLB problem: replicas of experts onto GPUs (hierarchical or global)."""

    weights: Weights
    num_replicas: int
    num_groups: int
    num_nodes: int
    num_gpus: int
    problem: ProblemName = "rebalance"
    old_phy2log: list[list[int]] | None = None  # the running placement, per layer
    max_moves: int | list[int] | None = None  # move budget: one for all layers, or per layer
    active_ranks: list[int] | None = None  # elastic EP: 1 live, 0 dead, one entry per GPU

    def sizes(self) -> dict[str, int]:
        return {
            "num_replicas": self.num_replicas,
            "num_groups": self.num_groups,
            "num_nodes": self.num_nodes,
            "num_gpus": self.num_gpus,
        }

    def migration_fields(self) -> dict[str, Any]:
        """The optional migration fields that are set (nothing for a from-scratch instance)."""
        fields: dict[str, Any] = {}
        if self.old_phy2log is not None:
            fields["old_phy2log"] = self.old_phy2log
        if self.max_moves is not None:
            fields["max_moves"] = self.max_moves
        return fields

    def optional_fields(self) -> dict[str, Any]:
        """Every optional field that is set: the migration fields and the active-ranks mask."""
        fields = self.migration_fields()
        if self.active_ranks is not None:
            fields["active_ranks"] = self.active_ranks
        return fields

    def move_budget(self, layer: int) -> int | None:
        """The move budget of one layer (None: unlimited)."""
        if isinstance(self.max_moves, list):
            return self.max_moves[layer]
        return self.max_moves


Instance = PackingInstance | ReplicationInstance | RebalanceInstance
# The size fields of each problem's JSON object, in order (besides "problem" and "weights").
SIZE_FIELDS: dict[ProblemName, tuple[str, ...]] = {
    "packing": ("num_packs",),
    "replication": ("num_phy",),
    "rebalance": ("num_replicas", "num_groups", "num_nodes", "num_gpus"),
}
METADATA_FIELD = "metadata"  # free-form notes in an instance file: accepted, ignored
# Optional fields beyond the sizes (rebalance only: the migration-aware oracle's inputs).
OPTIONAL_FIELDS: dict[ProblemName, tuple[str, ...]] = {
    "packing": (),
    "replication": (),
    "rebalance": ("old_phy2log", "max_moves", "active_ranks"),
}


def num_layers(instance: Instance) -> int:
    return len(instance.weights)


def num_items(instance: Instance) -> int:
    """Items (packing) or logical experts (replication, rebalance) per layer."""
    return len(instance.weights[0]) if instance.weights else 0


def _require_int(data: dict[str, Any], field: str, minimum: int) -> int:
    if field not in data:
        raise InstanceError(f"missing field {field!r}")
    value = data[field]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InstanceError(f"field {field!r} must be an integer, got {value!r}")
    if value < minimum:
        raise InstanceError(f"field {field!r} must be >= {minimum}, got {value}")
    return value


def _parse_weights(data: dict[str, Any]) -> Weights:
    if "weights" not in data:
        raise InstanceError("missing field 'weights'")
    layers = data["weights"]
    if not isinstance(layers, list) or not all(isinstance(row, list) for row in layers):
        raise InstanceError("field 'weights' must be a list of layers, each a list of numbers")
    widths = {len(row) for row in layers}
    if len(widths) > 1:
        raise InstanceError(f"field 'weights': layers have different lengths {sorted(widths)}")
    for layer, row in enumerate(layers):
        for index, value in enumerate(row):
            where = f"field 'weights' layer {layer} item {index}"
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InstanceError(f"{where}: not a number: {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise InstanceError(f"{where}: not finite: {value!r}")
            if value < 0:
                raise InstanceError(f"{where}: negative load {value!r}")
    return [list(row) for row in layers]


def _check_divides(numerator: int, denominator: int, what: str) -> None:
    if denominator and numerator % denominator:
        raise InstanceError(f"impossible shape: {what} ({numerator} % {denominator} != 0)")


def _reject_unknown_fields(data: dict[str, Any], problem: ProblemName) -> None:
    known = ("problem", "weights", *SIZE_FIELDS[problem], *OPTIONAL_FIELDS[problem], METADATA_FIELD)
    unknown = [str(field) for field in data if field not in known]
    if unknown:
        raise InstanceError(
            f"unknown field {unknown[0]!r} in a {problem} instance (known: {', '.join(known)}; "
            f"free-form notes go under {METADATA_FIELD!r})"
        )


def instance_from_dict(data: Any) -> Instance:
    """Validate a decoded JSON object and build the instance it describes."""
    if not isinstance(data, dict):
        raise InstanceError("an instance must be a JSON object")
    problem = data.get("problem")
    if problem not in PROBLEMS:
        raise InstanceError(f"field 'problem' must be one of {list(PROBLEMS)}, got {problem!r}")
    _reject_unknown_fields(data, problem)
    weights = _parse_weights(data)
    n = len(weights[0]) if weights else 0
    if problem == "packing":
        num_packs = _require_int(data, "num_packs", 1)
        _check_divides(n, num_packs, "items per layer must divide evenly into num_packs")
        return PackingInstance(weights, num_packs)
    if problem == "replication":
        num_phy = _require_int(data, "num_phy", 0)
        if num_phy < n:
            raise InstanceError(f"impossible shape: num_phy ({num_phy}) < experts per layer ({n})")
        if n == 0 and num_phy > 0:
            raise InstanceError("impossible shape: num_phy > 0 with no experts")
        return ReplicationInstance(weights, num_phy)
    num_replicas = _require_int(data, "num_replicas", 1)
    num_groups = _require_int(data, "num_groups", 1)
    num_nodes = _require_int(data, "num_nodes", 1)
    num_gpus = _require_int(data, "num_gpus", 1)
    if n == 0:
        raise InstanceError("impossible shape: rebalance needs at least one expert per layer")
    _check_divides(n, num_groups, "experts per layer must divide evenly into num_groups")
    _check_divides(num_gpus, num_nodes, "num_gpus must divide evenly into num_nodes")
    _check_divides(num_replicas, num_gpus, "num_replicas must divide evenly into num_gpus")
    if num_replicas < n:
        raise InstanceError(f"impossible shape: num_replicas ({num_replicas}) < experts ({n})")
    old = _parse_old_placement(data, len(weights), n, num_replicas)
    budget = _parse_move_budget(data, len(weights))
    if budget is not None and old is None:
        raise InstanceError("field 'max_moves' needs field 'old_phy2log' (moves from what?)")
    mask = _parse_active_ranks(data, n, num_replicas, num_gpus)
    if mask is not None and old is not None:
        raise InstanceError("field 'active_ranks' cannot be combined with field 'old_phy2log'")
    return RebalanceInstance(
        weights,
        num_replicas,
        num_groups,
        num_nodes,
        num_gpus,
        old_phy2log=old,
        max_moves=budget,
        active_ranks=mask,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_old_placement(
    data: dict[str, Any], layers: int, experts: int, replicas: int
) -> list[list[int]] | None:
    """`old_phy2log`: one row of `replicas` expert ids per layer, every expert present."""
    if "old_phy2log" not in data:
        return None
    rows = data["old_phy2log"]
    field = "field 'old_phy2log'"
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise InstanceError(f"{field} must be a list of layers, each a list of expert ids")
    if len(rows) != layers:
        raise InstanceError(f"{field} has {len(rows)} layers, 'weights' has {layers}")
    for layer, row in enumerate(rows):
        if len(row) != replicas:
            raise InstanceError(
                f"{field} layer {layer}: {len(row)} slots, num_replicas is {replicas}"
            )
        for slot, expert in enumerate(row):
            if not _is_int(expert) or not 0 <= expert < experts:
                raise InstanceError(
                    f"{field} layer {layer} slot {slot}: not an expert id in 0..{experts - 1}: "
                    f"{expert!r}"
                )
        missing = sorted(set(range(experts)) - set(row))
        if missing:
            raise InstanceError(f"{field} layer {layer}: expert {missing[0]} has no slot")
    return [list(row) for row in rows]


def _parse_move_budget(data: dict[str, Any], layers: int) -> int | list[int] | None:
    """`max_moves`: an integer >= 0, or a list of them, one per layer."""
    if "max_moves" not in data:
        return None
    value = data["max_moves"]
    field = "field 'max_moves'"
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and len(value) != layers:
        raise InstanceError(f"{field} has {len(value)} entries, 'weights' has {layers} layers")
    for budget in values:
        if not _is_int(budget) or budget < 0:
            raise InstanceError(f"{field} must be an integer >= 0 or one per layer, got {budget!r}")
    return list(value) if isinstance(value, list) else value


def _parse_active_ranks(
    data: dict[str, Any], experts: int, replicas: int, gpus: int
) -> list[int] | None:
    """`active_ranks`: one 0/1 entry per GPU, at least one 1, live slots enough for every expert."""
    if "active_ranks" not in data:
        return None
    mask = data["active_ranks"]
    field = "field 'active_ranks'"
    if not isinstance(mask, list) or len(mask) != gpus:
        raise InstanceError(f"{field} must be a list of {gpus} entries (one per GPU), got {mask!r}")
    for rank, value in enumerate(mask):
        if not _is_int(value) or value not in (0, 1):
            raise InstanceError(f"{field} rank {rank}: must be 1 (live) or 0 (dead), got {value!r}")
    live = sum(mask)
    if live == 0:
        raise InstanceError(f"{field}: every rank is dead (at least one must be live)")
    live_slots = live * (replicas // gpus)
    if live_slots < experts:
        raise InstanceError(
            f"{field}: the {live} live ranks hold {live_slots} slots, "
            f"fewer than the {experts} experts"
        )
    return list(mask)


def instance_to_dict(instance: Instance) -> dict[str, Any]:
    """The JSON object for an instance (the inverse of `instance_from_dict`)."""
    fields = instance.optional_fields() if isinstance(instance, RebalanceInstance) else {}
    return {"problem": instance.problem, "weights": instance.weights, **instance.sizes(), **fields}


def read_json(path: Path, error: type[ValueError]) -> Any:
    """Decode a JSON file; any failure (unreadable, not UTF-8, not JSON) raises `error` with a
    message that names the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as failure:
        raise error(f"{path}: cannot read: {failure.strerror or failure}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as failure:
        raise error(f"{path}: not valid JSON: {failure}") from None


def load_instance(path: str | Path) -> Instance:
    """Read and validate an instance file; errors name the file."""
    path = Path(path)
    data = read_json(path, InstanceError)
    try:
        return instance_from_dict(data)
    except InstanceError as error:
        raise InstanceError(f"{path}: {error}") from None


def canonical_json(instance: Instance) -> str:
    """A canonical, compact serialisation (sorted keys, no spaces): the content hash's basis."""
    return json.dumps(instance_to_dict(instance), sort_keys=True, separators=(",", ":"))


def instance_hash(instance: Instance) -> str:
    """A short, stable content hash of an instance (hex sha256 prefix)."""
    return hashlib.sha256(canonical_json(instance).encode()).hexdigest()[:16]


def instance_json(instance: Instance) -> str:
    """Pretty JSON for printing a reproducer: one layer per line so it stays readable."""
    parts = [f'  "problem": "{instance.problem}"']
    parts += [f'  "{key}": {value}' for key, value in instance.sizes().items()]
    rows = ",\n    ".join(json.dumps(row) for row in instance.weights)
    parts.append(f'  "weights": [\n    {rows}\n  ]' if instance.weights else '  "weights": []')
    if isinstance(instance, RebalanceInstance):
        parts += [
            f'  "{key}": {json.dumps(value)}' for key, value in instance.optional_fields().items()
        ]
    return "{\n" + ",\n".join(parts) + "\n}"


def float32(value: float) -> float:
    """`value` rounded to the nearest float32 (returned as a Python float)."""
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def one_layer(instance: Instance, layer: int) -> Instance:
    """The instance restricted to one layer (layers are independent problems), its old placement
    and move budget included."""
    alone = replace(instance, weights=[list(instance.weights[layer])])
    if isinstance(alone, RebalanceInstance) and alone.old_phy2log is not None:
        assert isinstance(instance, RebalanceInstance)
        budget = instance.move_budget(layer)
        alone = replace(alone, old_phy2log=[list(alone.old_phy2log[layer])], max_moves=budget)
    return alone

"""Re-proving records: every layer solved again by today's oracle with the record's own limits.

`corpus rebaseline --reprove` runs this. Each layer of each record is one independent task (the
record's deterministic time limit and seed; records that only carry the cheap bound get the
cheap bound again), all of them mapped over one `verifier.oracle.distribute.Distributor`, so local
processes or Ray give the same results as a sequential run. A layer whose objective, bound or
status differ from the record is classified:

- stronger: a bound at least as high and an objective at least as good (e.g. after an oracle or
  OR-Tools upgrade that proves more): the record takes the new result;
- weaker: a lower bound or a worse (or lost) objective: an oracle regression, never written;
- conflict: the new bound exceeds the recorded objective, or the new objective is below the
  recorded bound: one of the two is wrong, never written.

A record is rewritten only when every differing layer is stronger (such a layer is taken whole,
with its new details and seconds); unchanged layers keep what was recorded, so a re-proof that
finds nothing new writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from verifier.corpus.records import (
    DEFAULT_TIME_LIMIT,
    bound_layer,
    solved_layer,
    solver_version,
)
from verifier.corpus.schema import CorpusEntry, OracleLayer
from verifier.model.instances import Instance
from verifier.oracle.distribute import Distributor, map_in_order

LayerKind = Literal["stronger", "weaker", "conflict"]


@dataclass(frozen=True)
class LayerTask:
    """One layer to re-prove (plain data, so worker processes and Ray tasks can take it)."""

    instance: Instance
    layer: int
    time_limit: float | None  # None: the cheap certified bound only (a bound-only record)
    seed: int


def reprove_layer(task: LayerTask) -> OracleLayer:
    """The oracle's result on one layer, as `corpus add` records it (module level: picklable)."""
    if task.time_limit is None:
        return bound_layer(task.instance, task.layer)
    return solved_layer(task.instance, task.layer, task.time_limit, task.seed)


def layer_tasks(entry: CorpusEntry) -> list[LayerTask]:
    """Every layer of a record, with the record's method, deterministic limit and seed."""
    oracle = entry.oracle
    limit = (oracle.time_limit or DEFAULT_TIME_LIMIT) if oracle.method == "solve" else None
    return [
        LayerTask(entry.instance, layer, limit, oracle.seed) for layer in range(len(oracle.layers))
    ]


def same_result(old: OracleLayer, new: OracleLayer) -> bool:
    """The same objective, bound and status. The wall-clock seconds and the informational
    details (whose form changes between versions) alone never rewrite a record."""
    return (old.objective, old.bound, old.status) == (new.objective, new.bound, new.status)


def classify(old: OracleLayer, new: OracleLayer) -> LayerKind:
    """How a differing re-proof relates to the recorded result (see the module docstring)."""
    if (old.objective is not None and new.bound > old.objective) or (
        new.objective is not None and new.objective < old.bound
    ):
        return "conflict"
    lost_objective = old.objective is not None and (
        new.objective is None or new.objective > old.objective
    )
    lost_proof = old.proven and not new.proven
    if new.bound < old.bound or lost_objective or lost_proof:
        return "weaker"
    return "stronger"


@dataclass(frozen=True)
class LayerChange:
    """One layer whose re-proof differs from the record."""

    layer: int
    old: OracleLayer
    new: OracleLayer

    @property
    def kind(self) -> LayerKind:
        return classify(self.old, self.new)

    def describe(self) -> str:
        def show(result: OracleLayer) -> str:
            objective = "none" if result.objective is None else str(result.objective)
            return f"{result.status} objective {objective} bound {result.bound}"

        return f"  {self.kind}: layer {self.layer}: {show(self.old)} -> {show(self.new)}"


@dataclass(frozen=True)
class Reproof:
    """A record's re-proof: its differing layers and the record with the new results."""

    entry: CorpusEntry
    changes: list[LayerChange]
    new_entry: CorpusEntry  # the entry itself when nothing differs or the re-proof failed

    @property
    def failed(self) -> bool:
        """A layer came out weaker or in conflict: the record is left as it is."""
        return any(change.kind != "stronger" for change in self.changes)

    @property
    def changed(self) -> bool:
        return bool(self.changes) and not self.failed

    def lines(self) -> list[str]:
        return [change.describe() for change in self.changes]


def reproof_of(entry: CorpusEntry, results: Sequence[OracleLayer]) -> Reproof:
    """Compare one record's re-proved layers with it; the new entry keeps unchanged layers."""
    layers = entry.oracle.layers
    changes = [
        LayerChange(index, old, new)
        for index, (old, new) in enumerate(zip(layers, results, strict=True))
        if not same_result(old, new)
    ]
    reproof = Reproof(entry, changes, entry)
    if not reproof.changed:
        return reproof
    fresh = {change.layer: change.new for change in changes}
    oracle = replace(
        entry.oracle,
        solver=solver_version(),
        layers=[fresh.get(index, layer) for index, layer in enumerate(layers)],
    )
    return replace(reproof, new_entry=replace(entry, oracle=oracle))


def reprove(
    entries: Sequence[CorpusEntry], distributor: Distributor | None = None
) -> list[Reproof]:
    """Re-prove every layer of every record as one list of independent tasks on `distributor`
    (None: in this process); one `Reproof` per record, in order."""
    tasks = [layer_tasks(entry) for entry in entries]
    flat = [task for record in tasks for task in record]
    results = map_in_order(reprove_layer, flat, distributor)
    proofs, start = [], 0
    for entry, record in zip(entries, tasks, strict=True):
        proofs.append(reproof_of(entry, results[start : start + len(record)]))
        start += len(record)
    return proofs

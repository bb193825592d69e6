"""The rebalance instance's migration fields (`old_phy2log`, `max_moves`) and `moves`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from verifier.cli.dispatch import main
from verifier.judging.incremental import migration
from verifier.model.errors import InstanceError
from verifier.model.instances import (
    RebalanceInstance,
    canonical_json,
    instance_from_dict,
    instance_hash,
    instance_to_dict,
    one_layer,
)
from verifier.model.objectives import moves

BASE: dict[str, Any] = {
    "problem": "rebalance",
    "weights": [[4, 3, 2, 1], [1, 2, 3, 4]],
    "num_replicas": 6,
    "num_groups": 1,
    "num_nodes": 1,
    "num_gpus": 2,
}
OLD = [[0, 1, 2, 3, 0, 1], [3, 2, 1, 0, 3, 2]]


def test_an_instance_without_the_fields_hashes_as_before() -> None:
    instance = instance_from_dict(BASE)
    assert "old_phy2log" not in canonical_json(instance)
    assert instance_hash(instance) == "b61bfe99f44ffaf0"  # the hash main gave before the fields


def test_the_fields_round_trip_and_change_the_hash() -> None:
    data = {**BASE, "old_phy2log": OLD, "max_moves": [1, 2]}
    instance = instance_from_dict(data)
    assert isinstance(instance, RebalanceInstance)
    assert instance.old_phy2log == OLD
    assert [instance.move_budget(layer) for layer in (0, 1)] == [1, 2]
    assert instance_from_dict(instance_to_dict(instance)) == instance
    assert instance_hash(instance) != instance_hash(instance_from_dict(BASE))


def test_one_layer_keeps_that_layers_placement_and_budget() -> None:
    instance = instance_from_dict({**BASE, "old_phy2log": OLD, "max_moves": [1, 2]})
    alone = one_layer(instance, 1)
    assert isinstance(alone, RebalanceInstance)
    assert (alone.weights, alone.old_phy2log, alone.max_moves) == ([[1, 2, 3, 4]], [OLD[1]], 2)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"old_phy2log": [[0, 1, 2, 3, 0, 1]]}, "old_phy2log"),  # one layer short
        ({"old_phy2log": [[0, 1, 2, 3, 0], OLD[1]]}, "old_phy2log"),  # a slot short
        ({"old_phy2log": [[0, 1, 2, 4, 0, 1], OLD[1]]}, "old_phy2log"),  # expert 4 out of range
        ({"old_phy2log": [[0, 1, 2, 2, 0, 1], OLD[1]]}, "old_phy2log"),  # expert 3 missing
        ({"old_phy2log": [[0, 1, 2, 3, 0, True], OLD[1]]}, "old_phy2log"),
        ({"old_phy2log": OLD, "max_moves": -1}, "max_moves"),
        ({"old_phy2log": OLD, "max_moves": 1.5}, "max_moves"),
        ({"old_phy2log": OLD, "max_moves": [1]}, "max_moves"),
        ({"max_moves": 1}, "max_moves"),  # a budget without an old placement
    ],
)
def test_bad_values_exit_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(InstanceError, match=named):
        instance_from_dict({**BASE, **fields})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**BASE, **fields}), encoding="utf-8")
    assert main(["solve", str(path)]) == 2
    assert named in capsys.readouterr().err


def test_the_fields_belong_to_rebalance_only() -> None:
    packing = {"problem": "packing", "weights": [[1, 2]], "num_packs": 2, "max_moves": 0}
    with pytest.raises(InstanceError, match="unknown field 'max_moves'"):
        instance_from_dict(packing)


def test_moves_counts_copies_per_gpu_and_ignores_order_within_a_gpu() -> None:
    old = [0, 1, 2, 3, 0, 1]
    assert moves(old, [1, 2, 0, 0, 3, 1], num_gpus=2) == 0  # reordered within each GPU
    assert moves(old, [0, 1, 3, 2, 0, 1], num_gpus=2) == 2  # 2 and 3 swap GPUs: two copies
    # GPU 0: {0,1,2} -> {0,0,0} copies 0 twice; GPU 1: {3,0,1} -> {3,2,1} copies 2 once
    assert moves(old, [0, 0, 0, 3, 2, 1], num_gpus=2) == 3


def test_migration_is_moves_summed_over_layers() -> None:
    new = [[0, 1, 3, 2, 0, 1], [3, 2, 1, 0, 3, 2]]
    assert migration(OLD, new, 2) == moves(OLD[0], new[0], 2) + moves(OLD[1], new[1], 2) == 2

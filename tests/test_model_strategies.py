"""The instance strategies build valid shapes directly and cover every family and shape kind."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.model.contract import FUNCTIONS, hierarchical_rules_apply, natural_dtype
from verifier.model.instances import (
    Instance,
    RebalanceInstance,
    float32,
    instance_from_dict,
    instance_to_dict,
)
from verifier.model.strategies import FAMILIES, instances_for, load_profile, register_profiles


@pytest.mark.parametrize("function", FUNCTIONS)
@given(data=st.data())
def test_instances_are_valid_by_construction(function: str, data: st.DataObject) -> None:
    instance: Instance = data.draw(instances_for(function))
    assert instance_from_dict(instance_to_dict(instance)) == instance  # validates every field
    floats = [v for row in instance.weights for v in row if isinstance(v, float)]
    assert all(float32(value) == value for value in floats)
    assert natural_dtype(instance) == ("float32" if floats else "int64")


@pytest.mark.parametrize("family", FAMILIES)
@given(data=st.data())
@settings(max_examples=10)
def test_every_family_draws(family: str, data: st.DataObject) -> None:
    instance = data.draw(instances_for("balanced_packing", family=family))
    assert instance_from_dict(instance_to_dict(instance)) == instance


def _collect(strategy: st.SearchStrategy[Instance], examples: int) -> list[Instance]:
    seen: list[Instance] = []

    @settings(max_examples=examples, database=None, derandomize=True)
    @given(strategy)
    def collect(instance: Instance) -> None:
        seen.append(instance)

    collect()
    return seen


def test_rebalance_shapes_cover_both_policies_and_many_layers() -> None:
    seen = _collect(instances_for("rebalance_experts"), 200)
    kinds = Counter(
        (hierarchical_rules_apply(instance, "auto"), len(instance.weights) > 3)
        for instance in seen
        if isinstance(instance, RebalanceInstance)
    )
    assert set(kinds) == {(True, False), (True, True), (False, False), (False, True)}


def test_edge_shapes_occur() -> None:
    packing = _collect(instances_for("balanced_packing"), 200)
    assert any(len(i.weights[0]) == i.sizes()["num_packs"] for i in packing)  # one item per pack
    replication = _collect(instances_for("replicate_experts"), 200)
    assert any(len(i.weights[0]) == i.sizes()["num_phy"] for i in replication)  # no redundancy
    assert any(all(v == 0 for v in row) for i in replication for row in i.weights)  # zero layer


def test_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    register_profiles()
    try:
        monkeypatch.setenv("HYPOTHESIS_PROFILE", "fuzz")
        assert load_profile() == "fuzz"
        assert settings().max_examples >= 10_000
        monkeypatch.delenv("HYPOTHESIS_PROFILE")
        monkeypatch.setenv("CI", "true")
        assert load_profile() == "ci"
        assert settings().derandomize  # Hypothesis's own CI profile, kept
        assert settings().database is None
    finally:
        monkeypatch.undo()
        load_profile()  # back to the session's profile (same environment as conftest saw)

"""Elastic EP (issue 19, part 3): the active-ranks mask of an instance, the mask axis of a
candidate, the `elastic.*` rules on live and dead slots, balance and the oracle over live ranks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given

from candidate_paths import APIS_DIR
from verifier.calling.sandbox import outcome_of_result
from verifier.cli.dispatch import main
from verifier.judging.invariants import check_call
from verifier.judging.judge import judge
from verifier.judging.quality import anti_affinity
from verifier.model.contract import hierarchical_rules_apply
from verifier.model.elastic import PLACEHOLDER, dead_slots, live_instance, live_slots
from verifier.model.elastic_strategies import instances_with_masks, masked_rebalance_instances
from verifier.model.errors import InstanceError
from verifier.model.instances import (
    RebalanceInstance,
    instance_from_dict,
    instance_hash,
    instance_to_dict,
)
from verifier.oracle import lower_bound, solve_layer
from verifier.runs.check import ALL_CHECKS, EngineOptions, check_candidate

MASKED: dict[str, Any] = {
    "problem": "rebalance",
    "weights": [[9, 5, 3, 2, 1, 1], [1, 1, 2, 3, 5, 9]],
    "num_replicas": 8,
    "num_groups": 2,
    "num_nodes": 2,
    "num_gpus": 4,
    "active_ranks": [1, 0, 1, 1],  # rank 1 (slots 2, 3) is dead
}
ELASTIC_CHECKS = (
    "elastic.dead_rank_load",
    "elastic.expert_lost",
    "elastic.log2phy_dead",
    "elastic.placeholder",
)


def _masked() -> RebalanceInstance:
    instance = instance_from_dict(MASKED)
    assert isinstance(instance, RebalanceInstance)
    return instance


def _plan(
    instance: RebalanceInstance, phy2log: list[list[int]], counted: list[int]
) -> tuple[torch.Tensor, ...]:
    """The outputs of a plan whose logcnt and log2phy count and list the `counted` slots."""
    experts = len(instance.weights[0])
    slots = [[[p for p in counted if row[p] == e] for e in range(experts)] for row in phy2log]
    width = max(len(listed) for layer in slots for listed in layer)
    log2phy = [[listed + [-1] * (width - len(listed)) for listed in layer] for layer in slots]
    logcnt = [[len(listed) for listed in layer] for layer in slots]
    return tuple(torch.tensor(value) for value in (phy2log, log2phy, logcnt))


def _oracle_plan(instance: RebalanceInstance) -> list[list[int]]:
    """The oracle's plan over the live ranks, written back into the full slot layout with the
    placeholder in every dead slot (an independent construction of a correct masked plan)."""
    rows = []
    for layer in range(len(instance.weights)):
        assignment = solve_layer(instance, layer).assignment
        assert assignment is not None
        row = [PLACEHOLDER] * instance.num_replicas
        for slot, expert in zip(live_slots(instance), assignment, strict=True):
            row[slot] = expert
        rows.append(row)
    return rows


def _checks(instance: RebalanceInstance, result: tuple[torch.Tensor, ...]) -> list[str]:
    return [f.check for f in check_call("rebalance_experts", instance, outcome_of_result(result))]


# --- the instance field --------------------------------------------------------------------------


def test_the_mask_round_trips_and_changes_the_hash() -> None:
    instance = _masked()
    assert instance.active_ranks == [1, 0, 1, 1]
    assert instance_from_dict(instance_to_dict(instance)) == instance
    plain = instance_from_dict({k: v for k, v in MASKED.items() if k != "active_ranks"})
    assert instance_hash(plain) != instance_hash(instance)


@pytest.mark.parametrize(
    "mask",
    [[1, 0, 1], [1, 2, 1, 1], [1, True, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0], "1011"],
)
def test_a_bad_mask_names_the_field(mask: Any) -> None:
    # [1, 0, 0, 0]: one live rank holds 2 slots, fewer than the 6 experts
    with pytest.raises(InstanceError, match="'active_ranks'"):
        instance_from_dict({**MASKED, "active_ranks": mask})


def test_a_mask_with_an_old_placement_is_rejected() -> None:
    old = [[0, 1, 2, 3, 4, 5, 0, 1]] * 2
    with pytest.raises(InstanceError, match="'active_ranks'"):
        instance_from_dict({**MASKED, "old_phy2log": old})


def test_a_bad_mask_in_a_replayed_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**MASKED, "active_ranks": [1, 0, 1]}))
    assert main(["check", "reference", "--replay", str(path)]) == 2
    assert "'active_ranks'" in capsys.readouterr().err


# --- the strategies ------------------------------------------------------------------------------


@given(masked_rebalance_instances())
def test_masks_have_one_to_all_but_one_dead_ranks(instance: RebalanceInstance) -> None:
    mask = instance.active_ranks
    assert mask is not None and len(mask) == instance.num_gpus
    assert 1 <= mask.count(0) <= instance.num_gpus - 1
    assert instance_from_dict(instance_to_dict(instance)) == instance  # valid: enough live slots


def test_functions_with_the_axis_get_masked_and_plain_cases() -> None:
    from hypothesis import find

    strategy = instances_with_masks("rebalance_experts")
    masked = find(strategy, lambda i: isinstance(i, RebalanceInstance) and bool(i.active_ranks))
    plain = find(strategy, lambda i: isinstance(i, RebalanceInstance) and not i.active_ranks)
    assert isinstance(masked, RebalanceInstance) and isinstance(plain, RebalanceInstance)
    assert masked.active_ranks and plain.active_ranks is None


# --- the rules -----------------------------------------------------------------------------------


def test_a_plan_over_the_survivors_with_placeholders_passes_at_the_optimum() -> None:
    instance = _masked()
    result = _plan(instance, _oracle_plan(instance), live_slots(instance))
    assert _checks(instance, result) == []
    verdict = judge(instance, outcome_of_result(result))
    optima = [solve_layer(instance, layer).objective for layer in range(2)]
    assert verdict.objectives is not None and list(verdict.objectives) == optima  # gap 0 exactly


@pytest.mark.parametrize("value", [-1, 3])
def test_anything_but_the_placeholder_in_a_dead_slot_is_a_violation(value: int) -> None:
    instance = _masked()
    rows = _oracle_plan(instance)
    rows[1][dead_slots(instance)[0]] = value  # not counted as a replica, not listed
    assert _checks(instance, _plan(instance, rows, live_slots(instance))) == ["elastic.placeholder"]


def test_a_counted_replica_on_a_dead_rank_serves_load_there() -> None:
    instance = _masked()
    rows = _oracle_plan(instance)
    rows[0][dead_slots(instance)[1]] = 0  # expert 0 (the hottest) gets a replica on rank 1
    found = _checks(instance, _plan(instance, rows, list(range(instance.num_replicas))))
    assert "elastic.dead_rank_load" in found and "elastic.log2phy_dead" in found
    assert "elastic.placeholder" not in found  # a counted replica is no placeholder


def test_an_expert_without_a_live_replica_is_lost() -> None:
    instance = _masked()
    rows = _oracle_plan(instance)
    live = live_slots(instance)
    rows[0][next(p for p in live if rows[0][p] == 5)] = 0  # expert 5's one replica becomes 0
    found = _checks(instance, _plan(instance, rows, live))
    assert "elastic.expert_lost" in found
    assert "elastic.dead_rank_load" not in found


def test_log2phy_into_a_dead_rank_is_a_violation() -> None:
    instance = _masked()
    phy2log, log2phy, logcnt = _plan(instance, _oracle_plan(instance), live_slots(instance))
    log2phy[0][5][0] = dead_slots(instance)[0]  # expert 5 routed to a dead slot
    found = _checks(instance, (phy2log, log2phy, logcnt))
    assert found == ["elastic.log2phy_dead"]


def test_placeholders_are_no_replicas_for_anti_affinity() -> None:
    shape = {"weights": [[4, 1]], "num_replicas": 6, "num_groups": 1, "num_nodes": 1}
    instance = instance_from_dict({**MASKED, **shape, "num_gpus": 3, "active_ranks": [1, 0, 1]})
    spread = {"phy2log": [[0, 1, 0, 0, 0, 1]]}  # dead rank 1 holds two placeholders
    assert anti_affinity("rebalance_experts", instance, spread) == []
    (found,) = anti_affinity("rebalance_experts", instance, {"phy2log": [[0, 1, 0, 0, 1, 1]]})
    assert found.details["gpu"] == 2  # the live rank, numbered as in the full layout


def test_the_checks_are_declared() -> None:
    assert set(ELASTIC_CHECKS) <= set(ALL_CHECKS)


# --- live ranks: the contract, the oracle ---------------------------------------------------


def test_dead_ranks_judge_the_plan_as_global() -> None:
    instance = _masked()
    assert not hierarchical_rules_apply(instance, "auto")
    unmasked = instance_from_dict({**MASKED, "active_ranks": [1, 1, 1, 1]})
    assert hierarchical_rules_apply(unmasked, "auto")


def test_the_oracle_solves_the_live_ranks_only() -> None:
    instance = _masked()
    live = live_instance(instance)
    assert (live.num_replicas, live.num_gpus, live.active_ranks) == (6, 3, None)
    for layer in range(2):
        solution = solve_layer(instance, layer)
        assert solution.status == "optimal"
        assert solution.objective == solve_layer(live, layer).objective
        assert solution.assignment is not None and len(solution.assignment) == 6
        assert lower_bound(instance, layer) <= solution.objective


# --- the fixtures through the command ------------------------------------------------------------


def test_check_detects_the_axis_and_passes_the_elastic_fixture(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["check", str(APIS_DIR / "elastic_mask.py"), "--max-cases", "30", "--seed", "3"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0
    assert "API profile: sglang" in out
    assert "active-ranks mask axis detected: rebalance_experts takes active_ranks" in out


def test_check_fails_the_broken_twin_for_serving_load_on_a_dead_rank(
    broken_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    spec = str(broken_dir / "elastic_dead_slots.py")
    code = main(["check", spec, "--max-cases", "30", "--seed", "3", "--json", str(report)])
    capsys.readouterr()
    assert code == 1
    findings = {f["check"]: f for f in json.loads(report.read_text())["findings"]}
    assert "elastic.dead_rank_load" in findings
    reproducer = instance_from_dict(findings["elastic.dead_rank_load"]["instance"])
    assert isinstance(reproducer, RebalanceInstance) and reproducer.active_ranks is not None


DEEPSEEK_NAMED = """
import importlib.util

spec = importlib.util.spec_from_file_location("elastic_mask", {path!r})
elastic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(elastic)


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus, active_ranks_cpu):
    return elastic.rebalance_experts(
        weight, num_replicas, num_groups, num_nodes, num_gpus, True, active_ranks_cpu
    )
"""


def test_the_axis_is_detected_under_any_profile(tmp_path: Path) -> None:
    """DeepSeek's positional names and a mask named like SGLang's (`active_ranks_cpu`): the
    profile stays deepseek, the arguments go positionally and the mask by name."""
    candidate = tmp_path / "deepseek_elastic.py"
    candidate.write_text(DEEPSEEK_NAMED.format(path=str(APIS_DIR / "elastic_mask.py")))
    result = check_candidate(str(candidate), EngineOptions(max_cases=20, device_probe=False))
    assert result.api.profile == "deepseek" and result.exit_code == 0
    assert any("takes active_ranks_cpu" in note for note in result.api.notes)
    assert (
        result.api.adapted["rebalance_experts"][
            "the active-ranks mask passed as active_ranks_cpu (int32, 1 live, 0 dead)"
        ]
        > 0
    )


def test_a_masked_case_is_skipped_for_a_candidate_without_the_axis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "masked.json"
    path.write_text(json.dumps(MASKED))
    assert main(["check", "reference", "--replay", str(path), "--no-device-probe"]) == 0
    assert "it has dead ranks, no mask axis" in capsys.readouterr().out

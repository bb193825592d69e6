"""Sequence mode (`verifier.runs.sequence`): one policy instance through consecutive calls on a
drift trace, the window of steps as its input, its previous plan as the old placement."""

from __future__ import annotations

import shlex

import pytest

from candidate_paths import APIS_DIR, BROKEN_DIR
from verifier.cli.dispatch import build_parser
from verifier.corpus.bundled_traces import small_trace_paths
from verifier.judging.sequence import changes
from verifier.model.options import EngineOptions
from verifier.model.traces import TraceError
from verifier.runs.sequence import (
    SequenceOptions,
    reproduce_command,
    run_sequence,
    sequence_input,
)
from verifier.runs.sequence_record import SequenceRecord

WINDOWED = f"{APIS_DIR / 'windowed_policy.py'}:WindowedPolicy"
SMOOTHING = f"{APIS_DIR / 'stateful_policy.py'}:SmoothingPolicy"
VLLM = f"{APIS_DIR / 'vllm_policy' / 'default.py'}:GreedyEplbPolicy"
SWAP = f"{APIS_DIR / 'swap_policy.py'}:SwapEplbPolicy"  # requires the old placement
VLLM_SLOTS_LOST = f"{BROKEN_DIR / 'vllm_slots_lost' / 'policy.py'}:SlotLosingPolicy"
SMALL_TRACE = str(small_trace_paths()[".npy"])  # 40 steps x 2 layers x 16 experts
MAX_LAYERS = 2  # the windowed fixture's cap on layers changed per call
ENGINE = EngineOptions(timeout=10.0)


def test_the_windowed_policy_runs_a_whole_sequence_with_its_window_and_old_plan() -> None:
    given = sequence_input(SequenceOptions(6))  # the bundled drift trace: 400 steps x 4 x 256
    record, findings = run_sequence(WINDOWED, ENGINE, given)
    assert findings == []
    assert (record.completed, record.compared, record.diverged_at) == (6, 6, None)
    assert record.window == 400 // 6 and record.layers == 4
    assert record.window_input == f"tokens_per_expert [{400 // 6}, 4, 256]"  # the real window
    assert record.old_placement
    layers = [count for count, _ in record.changes]
    assert len(layers) == 5 and max(layers) == MAX_LAYERS  # its cap, reached and kept
    assert record.stale is not None and record.greedy_stale is not None
    assert 0 < record.stale <= 1 and 0 < record.greedy_stale <= 1


def test_a_policy_without_a_window_or_old_placement_keeps_its_state_across_the_sequence() -> None:
    given = sequence_input(SequenceOptions(4, SMALL_TRACE))
    record, findings = run_sequence(SMOOTHING, ENGINE, given)
    assert findings == []
    assert record.completed == 4 and record.window == 10
    assert record.window_input == "" and not record.old_placement
    assert "loads summed" in record.lines()[0]


def test_a_vllm_policy_keeps_its_slot_contract_with_each_previous_plan() -> None:
    given = sequence_input(SequenceOptions(4, SMALL_TRACE))
    record, findings = run_sequence(VLLM, ENGINE, given)
    assert findings == []
    assert record.completed == 4 and record.old_placement and record.window_input == ""


def test_a_policy_that_requires_an_old_placement_gets_one_at_its_first_call() -> None:
    given = sequence_input(SequenceOptions(3, SMALL_TRACE))
    record, findings = run_sequence(SWAP, ENGINE, given)
    assert findings == []
    assert record.completed == 3 and record.old_placement and record.first_old_supplied
    assert "the first call the reference greedy's plan" in record.lines()[0]
    assert not run_sequence(VLLM, ENGINE, given)[0].first_old_supplied  # optional: none given


def test_each_call_given_the_previous_plan_is_held_to_a_declared_move_budget() -> None:
    given = sequence_input(SequenceOptions(3, SMALL_TRACE))
    record, findings = run_sequence(SWAP, EngineOptions(timeout=10.0, max_moves=0), given)
    assert {finding.check for finding in findings} == {"migration.budget"}
    assert [finding.details["step"] for finding in findings] == [2, 3]  # not the first: no plan
    assert all(finding.details["moves"] > 0 for finding in findings)
    assert record.completed == 3  # an over-budget plan is still a valid old placement
    assert "--max-moves 0" in record.reproduce


def test_a_vllm_policy_that_loses_its_slots_is_caught_at_the_second_call() -> None:
    given = sequence_input(SequenceOptions(4, SMALL_TRACE))
    _, findings = run_sequence(VLLM_SLOTS_LOST, ENGINE, given)
    assert {finding.check for finding in findings} == {"incremental.slot_preservation"}
    assert {finding.details["step"] for finding in findings} <= {2, 3, 4}
    assert findings[0].message.startswith("sequence step 2 of 4: ")


def test_changes_count_layers_and_replica_moves_between_consecutive_plans() -> None:
    first = [[0, 1, 2, 3], [0, 1, 2, 3]]  # 2 GPUs of 2 slots
    same = [[0, 1, 2, 3], [0, 1, 2, 3]]
    swapped = [[1, 0, 2, 3], [0, 1, 2, 3]]  # layer 0 reordered within GPU 0: no copy
    moved = [[2, 1, 0, 3], [0, 1, 2, 3]]  # experts 0 and 2 swap GPUs: two copies
    assert changes([first, same, swapped, moved], 2) == [(0, 0), (1, 0), (1, 2)]
    record = SequenceRecord(4, "trace", 10, "cmd", layers=2, changes=[(0, 0), (1, 0), (1, 2)])
    assert record.unchanged == 1
    assert "changed nothing on 1 of 3 calls" in "\n".join(record.lines())


def test_the_reproducer_names_every_option_that_shapes_the_sequence() -> None:
    options = SequenceOptions(5, "loads.npy", 20)
    engine = EngineOptions(api="sglang", policy="global")
    command = reproduce_command("pkg/policy.py:Policy", engine, options)
    assert command == (
        "eplb-verify check pkg/policy.py:Policy --sequence 5 --trace loads.npy --window 20 "
        "--api sglang --policy global"
    )
    axes = EngineOptions(api="deepseek,arrays=numpy,index_dtype=int32")
    command = reproduce_command("port.py", axes, options)
    assert command.endswith("--api deepseek --arrays numpy --index-dtype int32")
    args = build_parser().parse_args(shlex.split(command)[1:])  # the CLI takes it as printed
    assert (args.api, args.arrays, args.index_dtype) == ("deepseek", "numpy", "int32")


def test_a_trace_too_short_for_the_sequence_is_a_trace_error() -> None:
    with pytest.raises(TraceError, match="at least 8 are needed"):
        sequence_input(SequenceOptions(8, SMALL_TRACE, window=10))

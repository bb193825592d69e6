"""`reference.policy.FastEplbPolicy`: the `fast` variant behind vLLM's policy interface.

Its plan is `reference:fast`'s; with an old placement only the slots within a GPU move, as
vLLM's `preserve_intragpu_slots` moves them; `eplb-verify check` under the vllm profile passes.
"""

from __future__ import annotations

import inspect
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reference
from reference import rebalance_experts
from reference.policy import FastEplbPolicy, preserve_slots
from verifier.calling.candidates import resolve_candidate
from verifier.calling.profiles.binding import detect
from verifier.runs.check import EngineOptions, check_candidate

FEW = EngineOptions(budget=120.0, max_cases=12, timeout=10.0)
POLICY_FILE = Path(reference.__file__).parent / "policy.py"


def _loads(seed: int, layers: int = 4, experts: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    loads = torch.randn(layers, experts, generator=generator, dtype=torch.float64).exp()
    return (loads * 1000).round().to(torch.int64)


def test_it_has_vllms_classmethod_signature() -> None:
    method = inspect.getattr_static(FastEplbPolicy, "rebalance_experts")
    assert isinstance(method, classmethod)
    parameters = list(inspect.signature(FastEplbPolicy.rebalance_experts).parameters)
    assert parameters == [
        "weight",
        "num_replicas",
        "num_groups",
        "num_nodes",
        "num_ranks",
        "old_global_expert_indices",
    ]


@pytest.mark.parametrize("policy", [(8, 4), (1, 1), (3, 2)])
def test_its_plan_is_the_fast_variants_phy2log(policy: tuple[int, int]) -> None:
    weight = _loads(0, experts=96 if policy == (3, 2) else 64)
    phy2log = FastEplbPolicy.rebalance_experts(weight, 128, *policy, 16)
    assert phy2log.dtype == torch.int64 and phy2log.device.type == "cpu"
    groups, nodes = policy
    if groups % nodes:  # vLLM's default falls back to the global policy; so does the reference
        groups, nodes = 1, 1
    expected = rebalance_experts(weight, 128, groups, nodes, 16, packing="fast")[0]
    assert torch.equal(phy2log, expected)


def _vllm_preserve(new: list[list[int]], old: list[list[int]], per_gpu: int) -> list[list[int]]:
    """A plain transcription of vLLM's `preserve_intragpu_slots` (first pass: each old slot keeps
    its expert if an unused new copy is on the GPU; second pass: the rest in order)."""
    result = []
    for new_row, old_row in zip(new, old, strict=True):
        row: list[int] = []
        for start in range(0, len(new_row), per_gpu):
            waiting = list(new_row[start : start + per_gpu])
            placed: list[int | None] = [None] * per_gpu
            for slot, expert in enumerate(old_row[start : start + per_gpu]):
                if expert in waiting:
                    waiting.remove(expert)
                    placed[slot] = expert
            for slot in range(per_gpu):
                if placed[slot] is None:
                    placed[slot] = waiting.pop(0)
            row += [int(expert) for expert in placed if expert is not None]
        result.append(row)
    return result


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([(64, 16), (80, 16), (128, 8), (96, 32)]))
def test_an_old_placement_only_reorders_slots_within_each_gpu(
    seed: int, sizes: tuple[int, int]
) -> None:
    replicas, gpus = sizes
    per_gpu = replicas // gpus
    weight = _loads(seed, experts=64)
    old = FastEplbPolicy.rebalance_experts(_loads(seed + 1, experts=64), replicas, 8, 4, gpus)
    plain = FastEplbPolicy.rebalance_experts(weight, replicas, 8, 4, gpus)
    kept = FastEplbPolicy.rebalance_experts(weight, replicas, 8, 4, gpus, old)
    assert kept.tolist() == _vllm_preserve(plain.tolist(), old.tolist(), per_gpu)
    for layer in range(weight.shape[0]):
        for start in range(0, replicas, per_gpu):
            span = slice(start, start + per_gpu)
            assert Counter(kept[layer, span].tolist()) == Counter(plain[layer, span].tolist())
            shared = Counter(old[layer, span].tolist()) & Counter(plain[layer, span].tolist())
            same = (kept[layer, span] == old[layer, span]).sum().item()
            assert same == sum(shared.values())


def test_the_compiled_and_plain_slot_preservation_agree() -> None:
    weight = _loads(5, layers=6)
    new = FastEplbPolicy.rebalance_experts(weight, 80, 8, 4, 16).numpy()
    old = FastEplbPolicy.rebalance_experts(_loads(6, layers=6), 80, 8, 4, 16).numpy()
    compiled, plain = np.empty_like(new), np.empty_like(new)
    preserve_slots(new, old, 5, compiled)
    getattr(preserve_slots, "py_func", preserve_slots)(new, old, 5, plain)
    assert np.array_equal(compiled, plain)


def test_an_old_placement_of_another_shape_is_ignored() -> None:
    weight = _loads(2)
    plain = FastEplbPolicy.rebalance_experts(weight, 80, 8, 4, 16)
    other = torch.zeros(4, 96, dtype=torch.int64)
    assert torch.equal(FastEplbPolicy.rebalance_experts(weight, 80, 8, 4, 16, other), plain)


def test_inputs_are_left_alone() -> None:
    weight = _loads(3)
    old = FastEplbPolicy.rebalance_experts(_loads(4), 80, 8, 4, 16)
    before, old_before = weight.clone(), old.clone()
    FastEplbPolicy.rebalance_experts(weight, 80, 8, 4, 16, old)
    assert torch.equal(weight, before) and torch.equal(old, old_before)


@pytest.mark.parametrize("spec", ["reference:FastEplbPolicy", f"{POLICY_FILE}:FastEplbPolicy"])
def test_it_is_a_candidate_called_through_the_vllm_profile(spec: str) -> None:
    candidate = resolve_candidate(spec)
    assert candidate.target is FastEplbPolicy and set(candidate.functions) == {"rebalance_experts"}
    assert detect(candidate)[0] == "vllm"


def test_check_under_the_vllm_profile_passes() -> None:
    result = check_candidate("reference:FastEplbPolicy", FEW)
    assert result.exit_code == 0, [r.finding.message for r in result.violations]
    assert result.api.profile == "vllm"
    migration_record = result.to_dict()["migration"]
    assert migration_record["with_old_placement"] is True and migration_record["cases"] > 0

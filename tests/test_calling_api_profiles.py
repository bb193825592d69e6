"""API profiles: detection, calling conventions, adaptations, incremental checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from candidate_paths import APIS_DIR
from verifier.calling.caller import call_on
from verifier.calling.candidates import resolve_candidate
from verifier.calling.profiles.binding import bind, detect
from verifier.calling.sandbox import Sandbox
from verifier.judging.incremental import migration, perturbed_instance, slot_preservation_violation
from verifier.model.contract import Policy
from verifier.model.instances import RebalanceInstance
from verifier.runs.check import EngineOptions, check_candidate

VLLM = f"{APIS_DIR / 'vllm_policy' / 'default.py'}:GreedyEplbPolicy"
SGLANG = str(APIS_DIR / "sglang_vec.py")
STATEFUL = f"{APIS_DIR / 'stateful_policy.py'}:SmoothingPolicy"
FEW = EngineOptions(budget=120.0, max_cases=8, timeout=5.0)


def test_a_file_in_a_package_imports_with_its_relative_imports() -> None:
    candidate = resolve_candidate(VLLM)
    assert candidate.target.__module__ == "vllm_policy.default"
    assert set(candidate.functions) == {
        "balanced_packing",
        "replicate_experts",
        "rebalance_experts",
    }


@pytest.mark.parametrize(
    ("spec", "profile"),
    [(VLLM, "vllm"), (SGLANG, "sglang"), (STATEFUL, "vllm"), ("reference", "deepseek")],
)
def test_auto_detects_the_profile(spec: str, profile: str) -> None:
    assert detect(resolve_candidate(spec))[0] == profile


def test_vllm_policy_is_called_its_way_and_passes() -> None:
    result = check_candidate(VLLM, FEW)
    assert result.exit_code == 0, [r.finding.message for r in result.violations]
    assert result.api.profile == "vllm"
    adapted = result.api.to_dict()["adapted"]
    assert "loads passed as a numpy array" in adapted["balanced_packing"]
    assert any("rank derived" in note for note in adapted["replicate_experts"])
    assert any("log2phy and logcnt derived" in note for note in adapted["rebalance_experts"])
    migration_record = result.to_dict()["migration"]
    assert migration_record["with_old_placement"] is True and migration_record["cases"] > 0


def test_the_deepseek_profile_on_a_vllm_policy_reports_the_mismatch() -> None:
    options = EngineOptions(budget=60.0, max_cases=3, api="deepseek", edge_cases=False)
    result = check_candidate(VLLM, options)
    assert result.api.profile == "deepseek"
    assert "behaviour.return_type" in {record.finding.check for record in result.violations}


def test_sglang_int32_maps_are_its_contract() -> None:
    result = check_candidate(SGLANG, FEW)
    assert result.exit_code == 0, [r.finding.message for r in result.violations]
    assert result.api.profile == "sglang"
    notes = result.api.to_dict()["adapted"]["rebalance_experts"]
    assert any("int32 outputs accepted" in note for note in notes)
    assert any("tokens_per_expert [1, layers, experts]" in note for note in notes)


def test_int32_maps_under_the_deepseek_profile_are_a_dtype_violation() -> None:
    options = EngineOptions(budget=60.0, max_cases=3, api="deepseek", edge_cases=False)
    result = check_candidate(f"{APIS_DIR / 'sglang_vec.py'}", options)
    assert "behaviour.exception" in {record.finding.check for record in result.violations}


def test_a_stateful_policy_gets_a_fresh_instance_per_call() -> None:
    assert check_candidate(STATEFUL, FEW).exit_code == 0
    shared = check_candidate(
        STATEFUL, EngineOptions(budget=120.0, max_cases=8, fresh_instance=False)
    )
    assert "behaviour.nondeterministic" in {record.finding.check for record in shared.violations}


def test_bind_reports_why_a_policy_class_cannot_be_made() -> None:
    from verifier.calling.candidates import Candidate, CandidateError

    class NeedsArguments:
        def __init__(self, config: object) -> None:
            self.config = config

        def balanced_packing(self, weight: object, num_packs: int) -> None:
            return None

    candidate = Candidate("x", {"balanced_packing": NeedsArguments.balanced_packing}, None, {},
                          NeedsArguments)  # fmt: skip
    with pytest.raises(CandidateError, match="cannot make an instance of NeedsArguments"):
        bind(candidate, "auto")


def test_allow_cross_layer_turns_the_violation_into_an_observation(broken_dir: Path) -> None:
    spec = str(broken_dir / "sglang_layer_mixing.py")
    result = check_candidate(spec, EngineOptions(budget=120.0, max_cases=8, allow_cross_layer=True))
    assert result.exit_code == 0
    assert "metamorphic.layer_independence" in {r.finding.check for r in result.observations}


def test_migration_counts_replicas_that_change_gpu() -> None:
    old = [[0, 1, 2, 3]]
    assert migration(old, [[1, 0, 3, 2]], num_gpus=2) == 0  # reordered within GPUs
    assert migration(old, [[2, 1, 0, 3]], num_gpus=2) == 2  # experts 0 and 2 swap GPUs


def test_slot_preservation_needs_staying_experts_in_their_old_slots() -> None:
    instance = RebalanceInstance([[4, 3, 2, 1]], 4, 1, 1, 2)
    old = [[0, 1, 2, 3]]
    assert slot_preservation_violation(instance, old, [[2, 1, 0, 3]], {}) is None
    broken = slot_preservation_violation(instance, old, [[1, 2, 0, 3]], {})
    assert broken is not None and broken.check == "incremental.slot_preservation"


def test_perturbed_loads_are_seeded() -> None:
    instance = RebalanceInstance([[90, 132, 40, 61]], 8, 2, 1, 4)
    assert perturbed_instance(instance) == perturbed_instance(instance)
    assert perturbed_instance(instance).weights != instance.weights


def test_check_cli_says_which_profile_and_what_was_adapted(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    command = [
        sys.executable, "-m", "verifier", "check", SGLANG, "--max-cases", "5",
        "--budget", "60", "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "API profile: sglang" in done.stdout
    data = json.loads(out.read_text())
    assert data["api"]["profile"] == "sglang" and data["options"]["api"] == "auto"
    assert data["migration"]["cases"] > 0


def test_report_table_names_profiles_and_migration() -> None:
    from verifier.corpus import default_corpus_dir, load_corpus
    from verifier.report.tables import api_profiles_table
    from verifier.runs.corpus_runs import measure_api_profiles

    entries, _ = load_corpus(default_corpus_dir())
    rebalance = sorted(
        (e for e in entries if isinstance(e.instance, RebalanceInstance)),
        key=lambda e: len(e.instance.weights) * len(e.instance.weights[0]),
    )[:2]
    profiles = measure_api_profiles(["reference:greedy", VLLM], rebalance, timeout=60.0)
    assert [profile.profile for profile in profiles] == ["deepseek", "vllm"]
    vllm = profiles[1]
    assert vllm.migration.cases == 2 and vllm.migration.with_old_placement
    # slot preservation: never more slots rewritten than the plan from scratch rewrites
    assert vllm.migration.rewritten <= profiles[0].migration.rewritten
    table = api_profiles_table(profiles)
    assert [row[1] for row in table.rows] == ["deepseek", "vllm"]


SGLANG_2D = """
import torch
from reference import rebalance_experts as reference_rebalance

def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus, enable_hierarchical):
    if not enable_hierarchical:
        num_groups, num_nodes = 1, 1
    return tuple(t.int() for t in reference_rebalance(weight, num_replicas, num_groups, num_nodes,
                                                        num_gpus))
"""


def test_sglang_deepseek_form_with_enable_hierarchical(tmp_path: Path) -> None:
    # SGLang's eplb_algorithms/deepseek.py: DeepSeek's 2-D signature plus enable_hierarchical.
    module = tmp_path / "sglang_deepseek.py"
    module.write_text(SGLANG_2D)
    result = check_candidate(str(module), FEW)
    assert result.api.profile == "sglang"
    assert result.exit_code == 0, [r.finding.message for r in result.violations]


ECHO_HIERARCHY = """
def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus, enable_hierarchical):
    raise RuntimeError(f"enable_hierarchical={enable_hierarchical}")
"""


@pytest.mark.parametrize(("policy", "expected"), [("auto", [True, False]), ("global", [False] * 2)])
def test_the_parent_says_whether_the_hierarchy_applies(
    tmp_path: Path, policy: Policy, expected: list[bool]
) -> None:
    # groups divide evenly into nodes (4 onto 2), then not (3 onto 2); "global" drops the rule.
    module = tmp_path / "echo_hierarchy.py"
    module.write_text(ECHO_HIERARCHY)
    instances = [RebalanceInstance([list(range(12))], 16, groups, 2, 8) for groups in (4, 3)]
    with Sandbox(str(module), api="sglang", policy=policy) as box:
        box.start()
        errors = [call_on(box, instance).error for instance in instances]
    assert errors == [f"RuntimeError: enable_hierarchical={flag}" for flag in expected]


def test_an_unknown_required_parameter_is_a_load_error(tmp_path: Path) -> None:
    from verifier.calling.candidates import CandidateError

    module = tmp_path / "dispatcher.py"
    module.write_text(
        "def rebalance_experts(tokens_per_expert, num_physical_experts,\n"
        "                      num_local_physical_experts, num_groups, num_nodes, algorithm):\n"
        "    raise NotImplementedError\n"
    )
    with pytest.raises(CandidateError, match="algorithm"):
        check_candidate(str(module), FEW)


def test_merged_worker_results_keep_the_profile_and_add_up_migration() -> None:
    """`--workers N`: the merged result reports the profile once, every adaptation, all moves."""
    from collections import Counter

    from verifier.runs.results import EngineResult
    from verifier.runs.run_record import ApiRecord

    def worker(moved: int, adapted: str) -> EngineResult:
        result = EngineResult("c.py", ("rebalance_experts",), EngineOptions(api="vllm"))
        result.api = ApiRecord("vllm", "vllm", ("a class",), {"rebalance_experts": Counter()})
        metric = {"moved": moved, "rewritten": moved, "replicas": 10, "with_old_placement": True}
        result.api.record("rebalance_experts", (adapted,), {"migration": metric})
        return result

    merged = EngineResult("c.py", (), EngineOptions(api="vllm"))
    for part in (worker(3, "derived log2phy"), worker(4, "numpy to torch")):
        merged.merge(part)
    data = merged.to_dict()
    assert data["api"]["profile"] == "vllm" and data["api"]["requested"] == "vllm"
    assert data["api"]["adapted"]["rebalance_experts"] == ["derived log2phy", "numpy to torch"]
    assert data["migration"]["moved_replicas"] == 7 and data["migration"]["replicas"] == 20
    assert data["migration"]["cases"] == 2 and data["migration"]["with_old_placement"]

"""`eplb-verify bench`: real sandboxed timings at a tiny shape, checked for content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from verifier.cli.dispatch import main
from verifier.model.instances import PackingInstance, RebalanceInstance, ReplicationInstance
from verifier.model.shapes import SHAPES, replica_loads
from verifier.runs.bench import BASELINE, HEAP, Timing

REFERENCE = [
    "reference:greedy",
    "reference:swap",
    "reference:pool_split",
    "reference:heap",
    "reference:fast",
]


def test_production_shapes_are_the_documented_ones() -> None:
    deepseek = SHAPES["deepseek-v3"].instances(seed=0)
    rebalance = deepseek["rebalance_experts"]
    assert isinstance(rebalance, RebalanceInstance)
    assert (len(rebalance.weights), len(rebalance.weights[0])) == (58, 256)
    assert rebalance.sizes() == {
        "num_replicas": 288,
        "num_groups": 8,
        "num_nodes": 4,
        "num_gpus": 32,
    }
    replication = deepseek["replicate_experts"]
    assert isinstance(replication, ReplicationInstance) and replication.num_phy == 288
    packing = deepseek["balanced_packing"]
    assert isinstance(packing, PackingInstance)
    assert len(packing.weights[0]) == 288 and packing.num_packs == 32
    # Loads are seeded: the same seed gives the same loads, another seed different ones.
    assert SHAPES["qwen-moe"].loads(3) == SHAPES["qwen-moe"].loads(3)
    assert SHAPES["qwen-moe"].loads(3) != SHAPES["qwen-moe"].loads(4)


def test_replica_loads_split_the_hottest_expert() -> None:
    # 12 / 2 = 6 beats 5: the one extra slot goes to expert 0, split in two halves.
    assert replica_loads([12, 5, 1], 4) == [6, 6, 5, 1]
    assert replica_loads([3, 3], 2) == [3, 3]


def test_timing_statistics() -> None:
    timing = Timing("tiny", "rebalance_experts", BASELINE, samples=[0.004, 0.001, 0.002, 0.003])
    assert timing.median == pytest.approx(0.0025)
    assert timing.spread == pytest.approx((0.00325 - 0.00175) / 2)
    data = timing.to_dict()
    assert data["min_s"] == 0.001 and data["max_s"] == 0.004


def test_bench_tiny_shape_prints_medians_and_ratios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    code = main(["bench", "--shape", "tiny", "--repeats", "3", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    data = json.loads(out.read_text())
    assert data["baseline"] == BASELINE and data["device"] == "cpu"
    assert data["candidates"] == REFERENCE
    cells = {(t["function"], t["candidate"]): t for t in data["timings"]}
    for function in ("rebalance_experts", "replicate_experts", "balanced_packing"):
        for spec in REFERENCE:
            timing = cells[(function, spec)]
            assert timing["status"] == "ok", timing["problems"]
            assert len(timing["samples"]) == 3 and all(s > 0 for s in timing["samples"])
            assert timing["min_s"] <= timing["median_s"] <= timing["max_s"]
            assert 0 < timing["balancedness"] <= 1
            baseline = cells[(function, BASELINE)]["median_s"]
            assert timing["ratio_vs_baseline"] == pytest.approx(timing["median_s"] / baseline)
            # The table shows this row with its median in milliseconds.
            row = next(
                line
                for line in printed.splitlines()
                if line.startswith("tiny") and function in line and spec in line
            )
            assert f"{timing['median_s'] * 1e3:.2f}" in row
        assert cells[(function, BASELINE)]["ratio_vs_baseline"] == 1.0
    # Both replication paths were timed, and the verdict follows from the medians.
    paths = {p["function"]: p for p in data["replication_paths"]}
    assert set(paths) == {"replicate_experts", "rebalance_experts"}
    for function, path in paths.items():
        heap = cells[(function, HEAP)]["median_s"]
        vectorized = cells[(function, BASELINE)]["median_s"]
        assert path["heap_over_vectorized"] == pytest.approx(heap / vectorized)
        assert path["faster"] == ("heap" if heap < vectorized else "vectorized")
        assert f"tiny {function}: heap" in printed


def test_bench_flags_a_broken_candidate(
    broken_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = str(broken_dir / "wrong_pack_sizes.py")
    code = main(
        ["bench", broken, "--shape", "tiny", "--repeats", "1", "--json", str(tmp_path / "b")]
    )
    printed = capsys.readouterr().out
    assert code == 1
    data = json.loads((tmp_path / "b").read_text())
    timing = next(t for t in data["timings"] if t["candidate"] == broken)
    assert timing["function"] == "balanced_packing"
    assert timing["status"] == "invalid" and timing["samples"] == []
    assert any("packing.pack_size" in problem for problem in timing["problems"])
    assert "packing.pack_size" in printed


def test_bench_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "no_such_module_xyz", "--shape", "tiny"]) == 2
    assert "no_such_module_xyz" in capsys.readouterr().err
    assert main(["bench", "--shape", "nonsense"]) == 2
    assert main(["bench", "--repeats", "0"]) == 2
    if not torch.cuda.is_available():
        assert main(["bench", "--device", "cuda", "--shape", "tiny"]) == 2
        assert "CUDA" in capsys.readouterr().err


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bench_on_cuda(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "--device", "cuda", "--shape", "tiny", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["device"] == "cuda" and "gpu" in data["environment"]
    assert all(t["status"] == "ok" and t["median_s"] > 0 for t in data["timings"])

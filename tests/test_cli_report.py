"""`eplb-verify report`: a tiny real corpus (built with the corpus API), every output checked."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from candidate_paths import APIS_DIR
from verifier.calling.pool import SandboxPool
from verifier.cli.dispatch import main
from verifier.corpus import Provenance, add_instance, load_corpus
from verifier.model.instances import Instance, PackingInstance, RebalanceInstance
from verifier.report.conclusions import verdict
from verifier.report.metrics import Stats, compare, percentile
from verifier.runs.corpus_runs import LayerScore, RunResult
from verifier.runs.migration_runs import measure_migration

VLLM = f"{APIS_DIR / 'vllm_policy' / 'default.py'}:GreedyEplbPolicy"

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Round-robin packing: valid, but (8, 7, 2, 1) into 2 packs gives max 10 where 9 is optimal.
ROUND_ROBIN = """
import torch

def balanced_packing(weight, num_packs):
    layers, n = weight.shape
    items = torch.arange(n).expand(layers, n)
    return (items % num_packs).clone(), (items // num_packs).clone()
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, reference_pool: SandboxPool) -> Path:
    """Four records: an easy packing (greedy is optimal), a hard one for round robin, the 2G/(G+1)
    rebalance worst case (greedy replication loses 1/3 on 2 GPUs), and a short drift trace."""
    folder = tmp_path_factory.mktemp("corpus")
    records: list[tuple[str, Instance]] = [
        ("easy", PackingInstance([[4, 4, 4, 4], [5, 3, 2, 2]], 2)),
        ("round-robin-trap", PackingInstance([[8, 7, 2, 1]], 2)),
        ("worst-case-2g", RebalanceInstance([[1, 0, 0, 0]], 6, 1, 1, 2)),
        (
            "drift-trace",
            RebalanceInstance([[9, 1, 1, 1], [1, 9, 1, 1], [1, 1, 9, 1]], 6, 2, 1, 2),
        ),
    ]
    for family, instance in records:
        provenance = Provenance(family=family, source="manual", description=family)
        path = add_instance(folder, instance, provenance, time_limit=5.0, pool=reference_pool)
        assert path is not None
    return folder


@pytest.fixture(scope="module")
def round_robin(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("candidates") / "round_robin.py"
    path.write_text(ROUND_ROBIN)
    return str(path)


def _layers(data: dict, candidate: str, family: str) -> list[dict]:
    return [
        layer
        for result in data["results"]
        if result["candidate"] == candidate and result["family"] == family
        for layer in result["layers"]
    ]


def test_report_on_a_tiny_corpus(
    corpus: Path, round_robin: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    specs = ["reference:greedy", "reference:swap", round_robin]
    code = main(["report", *specs, "--corpus", str(corpus), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    data = json.loads((out / "report.json").read_text())
    assert data["candidates"] == specs
    assert data["families"] == ["drift-trace", "easy", "round-robin-trap", "worst-case-2g"]

    # Known optimum, reached: gap exactly 0 and counted optimal.
    for layer in _layers(data, "reference:greedy", "easy"):
        assert layer["proven"] and layer["optimal"] and layer["gap_high"] == 0
    # The bad candidate shows its exact gap: 10 against the proven optimum 9.
    (trap,) = _layers(data, round_robin, "round-robin-trap")
    assert trap["proven"] and trap["objective"]["exact"] == "10" and trap["bound"]["exact"] == "9"
    assert trap["gap_high"] == pytest.approx(1 / 9) and trap["gap_low"] == pytest.approx(1 / 9)
    # The closed-form worst case: greedy replication reaches 2/3 where 1/2 is optimal.
    (worst,) = _layers(data, "reference:greedy", "worst-case-2g")
    assert worst["objective"]["exact"] == "2/3" and worst["bound"]["exact"] == "1/2"
    assert worst["gap_high"] == pytest.approx(1 / 3)

    cells = {(c["family"], c["candidate"]): c for c in data["cells"]}
    easy = cells[("easy", "reference:greedy")]
    assert easy["share_optimal"] == 1.0 and easy["exact_gap"]["max"] == 0
    assert cells[("round-robin-trap", round_robin)]["gap_high"]["mean"] == pytest.approx(1 / 9)
    # Balancedness of the worst case: mean GPU load 1/2 over max 2/3.
    assert cells[("worst-case-2g", "reference:greedy")]["balancedness"] == pytest.approx(0.75)
    assert cells[("worst-case-2g", "reference:greedy")]["colocated_replicas"] >= 0
    assert ("worst-case-2g", round_robin) not in cells  # it has no rebalance_experts
    # Generalisation: the drift trace's 3 windows give 2 (plan, next window) pairs.
    general = {g["candidate"]: g for g in data["generalisation"]}
    assert general["reference:greedy"]["windows"] == 2
    assert (
        general["reference:greedy"]["stale_balancedness"]
        < general["reference:greedy"]["fresh_balancedness"]
    )
    # Comparisons: swap vs greedy and the round robin vs the first candidate.
    pairs = {(c["a"], c["b"]): c for c in data["comparisons"]}
    assert set(pairs) == {("reference:swap", "reference:greedy"), (round_robin, "reference:greedy")}
    against = pairs[(round_robin, "reference:greedy")]
    assert against["worse"] >= 1 and against["better"] == 0 and against["earns_cost"] == "no"

    markdown = (out / "report.md").read_text()
    for text in ("round-robin-trap", "worst-case-2g", "Does each variant earn its cost", "11.11%"):
        assert text in markdown
    assert "round_robin.py does not improve on greedy" in markdown
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4 and "src='gap" not in html
    assert "round-robin-trap" in html
    for name in ("gap_by_family", "gap_vs_size", "balancedness", "runtime", "generalisation"):
        assert (out / f"{name}.png").read_bytes().startswith(PNG_MAGIC)
        assert data["plots"][name] == f"{name}.png"
    assert "Which heuristic wins where" in printed and "report.html" in printed


def test_report_counts_violations_of_a_broken_candidate(
    broken_dir: Path, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = str(broken_dir / "wrong_pack_sizes.py")
    out = tmp_path / "report"
    assert main(["report", broken, "--corpus", str(corpus), "--out", str(out)]) == 1
    data = json.loads((out / "report.json").read_text())
    invalid = [r for r in data["results"] if r["status"] == "invalid"]
    assert invalid and all("packing.pack_size" in r["violations"][0] for r in invalid)
    assert "broke the contract" in (out / "report.md").read_text()
    assert "broke the contract" in capsys.readouterr().out


def test_report_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--corpus", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["report", "--corpus", str(tmp_path)]) == 2
    assert "no corpus records" in capsys.readouterr().err


def test_percentiles_and_stats() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert percentile([0.0, 10.0], 0.95) == pytest.approx(9.5)
    stats = Stats.of([0.0, 0.1, 0.2, 0.3])
    assert stats is not None and stats.mean == pytest.approx(0.15) and stats.max == 0.3
    assert Stats.of([]) is None


def _run(candidate: str, objectives: list[int], seconds: float) -> RunResult:
    layers = tuple(
        LayerScore(i, Fraction(v), Fraction(10), Fraction(10), True, Fraction(5))
        for i, v in enumerate(objectives)
    )
    return RunResult(candidate, "packing/x", "f", "packing", 4, "ok", seconds, layers=layers)


def test_comparison_and_verdict_follow_the_numbers() -> None:
    results = [_run("a", [10, 11, 12], 0.3), _run("b", [10, 12, 12], 0.1)]
    comparison = compare(results, "a", "b")
    assert comparison is not None
    assert (comparison.layers, comparison.better, comparison.equal, comparison.worse) == (
        3,
        1,
        2,
        0,
    )
    assert comparison.mean_change == pytest.approx((11 / 12 - 1) / 3)
    assert comparison.best_change == pytest.approx(11 / 12 - 1) and comparison.worst_change == 0
    assert comparison.time_ratio == pytest.approx(3.0)
    judged = verdict(comparison)
    assert judged.earns_cost == "yes"
    assert "better on 1 of 3 layers" in judged.sentence and "3.00x the time" in judged.sentence
    assert verdict(compare(results, "b", "a")).earns_cost == "no"  # type: ignore[arg-type]
    same = compare([_run("a", [10], 1.0), _run("b", [10], 1.0)], "a", "b")
    assert same is not None and verdict(same).earns_cost == "same"


def test_report_sets_slot_preserving_code_against_the_migration_front(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    specs = ["reference:greedy", VLLM]
    assert main(["report", *specs, "--corpus", str(corpus), "--out", str(out)]) == 0
    migration = json.loads((out / "report.json").read_text())["migration"]
    # The drift trace's 3 windows give 2 cases, each with every candidate's point on one front.
    (case_a, case_b) = migration["cases"]
    for case in (case_a, case_b):
        assert case["exact"] and case["group"] == "drift-trace, 4 experts"
        front = case["front"]
        assert [p["max_moves"] for p in front] == list(range(len(front)))
        loads = [Fraction(p["objective"]["exact"]) for p in front]
        assert loads == sorted(loads, reverse=True)  # the front is monotone
        assert Fraction(front[-1]["objective"]["exact"]) == Fraction(
            case["unconstrained_bound"]["exact"]
        )
        points = {p["candidate"]: p for p in case["points"]}
        assert set(points) == set(specs)
        assert points[VLLM]["with_old_placement"] and not points[specs[0]]["with_old_placement"]
        for point in points.values():
            load, low = Fraction(point["load"]["exact"]), Fraction(point["opt_low"]["exact"])
            assert low <= Fraction(point["opt_high"]["exact"]) <= load and not point["below_front"]
            at_moves = front[min(point["moves"], len(front) - 1)]
            assert low == Fraction(at_moves["bound"]["exact"])  # proven: OPT at its moves
            assert point["distance_low"] == point["distance_high"] == float((load - low) / low)
    rows = {row["candidate"]: row for row in migration["rows"]}
    assert rows[VLLM]["points"] == 2 and rows[VLLM]["with_old"] and rows[VLLM]["exact"]
    markdown = (out / "report.md").read_text()
    assert "## Balance against moves" in markdown and "distance to the front" in markdown
    assert (out / "migration.png").read_bytes().startswith(PNG_MAGIC)
    assert "Balance against moves" in capsys.readouterr().out


def test_migration_points_on_a_larger_trace_get_certified_intervals(
    tmp_path: Path, reference_pool: SandboxPool
) -> None:
    # 10 experts: past the exact front's sizes, so OPT at each point's moves is only bracketed.
    rows: list[list[int | float]] = [[9, 1, 5, 2, 7, 3, 8, 1, 4, 6], [2, 8, 5, 9, 1, 6, 3, 7, 4, 5]]
    provenance = Provenance(family="drift-trace", source="manual", description="drift")
    add_instance(tmp_path, RebalanceInstance(rows, 12, 1, 1, 4), provenance, time_limit=2.0,
                 pool=reference_pool)  # fmt: skip
    entries, _ = load_corpus(tmp_path)
    run = measure_migration(["reference:greedy", "reference:swap"], entries, timeout=60.0)
    (case,) = run.cases
    assert not case.exact and case.front == () and not run.problems
    assert case.floor == entries[0].oracle.layers[1].bound
    for point in case.points:
        assert case.floor <= point.opt_low <= point.opt_high <= point.load
        low, high = point.distance
        assert high is not None and 0 <= low <= high and not point.below_front

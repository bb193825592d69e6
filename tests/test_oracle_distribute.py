"""Distributed oracle solves (`verifier.oracle.distribute`): a local process pool and Ray tasks give
exactly the sequential results (objectives, bounds, statuses, assignments, details)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from verifier.cli.dispatch import main
from verifier.corpus.records import oracle_record
from verifier.model.instances import PackingInstance, RebalanceInstance, instance_to_dict
from verifier.oracle import Solution, solve_layer
from verifier.oracle.distribute import Distributor, map_in_order

# Four small layers (two problems), each solved by CP-SAT within a short deterministic budget.
REBALANCE = RebalanceInstance(
    [
        [90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86],
        [20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27],
        [5, 9, 13, 2, 77, 31, 8, 8, 40, 12, 3, 60],
        [1, 1, 1, 50, 50, 50, 2, 3, 4, 5, 6, 7],
    ],
    16,
    4,
    2,
    8,
)
PACKING = PackingInstance(
    [[9, 8, 7, 7, 6, 5, 3, 3, 2, 1, 1, 1], [4, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1, 1]], 3
)
TIME_LIMIT = 1.0


def _comparable(solution: Solution) -> dict[str, Any]:
    """Everything but the wall-clock seconds (informational only)."""
    fields = asdict(solution)
    del fields["seconds"]
    return fields


def _pid(_item: object) -> int:
    return os.getpid()


def _fail_on_two(item: int) -> int:
    if item == 2:
        raise ValueError("two is not allowed")
    return item


@pytest.mark.parametrize("instance", [REBALANCE, PACKING], ids=["rebalance", "packing"])
def test_a_process_pool_solves_exactly_as_in_sequence(instance: Any) -> None:
    solve = partial(solve_layer, instance, time_limit=TIME_LIMIT, seed=0)
    layers = range(len(instance.weights))
    sequential = [solve(layer) for layer in layers]
    seen: list[tuple[int, int]] = []
    with Distributor(2, progress=lambda done, total: seen.append((done, total))) as pool:
        distributed = pool.map(solve, layers)
    assert [_comparable(s) for s in distributed] == [_comparable(s) for s in sequential]
    assert seen[-1] == (len(layers), len(layers)) and len(seen) == len(layers)


def test_the_pool_runs_elsewhere_and_keeps_the_order() -> None:
    with Distributor(2) as pool:
        pids = pool.map(_pid, range(6))
        assert pool.map(_fail_on_two, [0, 1, 3]) == [0, 1, 3]
        with pytest.raises(ValueError, match="two is not allowed"):
            pool.map(_fail_on_two, range(4))
    assert os.getpid() not in pids
    with Distributor(1) as here:
        assert set(here.map(_pid, range(3))) == {os.getpid()}
    assert map_in_order(_fail_on_two, [0, 1]) == [0, 1]


def test_oracle_records_are_the_same_with_a_pool() -> None:
    def without_seconds(record: Any) -> list[dict[str, Any]]:
        return [
            {key: value for key, value in asdict(layer).items() if key != "seconds"}
            for layer in record.layers
        ]

    sequential = oracle_record(REBALANCE, time_limit=TIME_LIMIT)
    with Distributor(2) as pool:
        distributed = oracle_record(REBALANCE, time_limit=TIME_LIMIT, distributor=pool)
    assert without_seconds(distributed) == without_seconds(sequential)
    assert distributed.method == sequential.method == "solve"


def _solve_cli(path: Path, *options: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["solve", str(path), "--json", "--time-limit", str(TIME_LIMIT), *options]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    for layer in data["layers"]:
        del layer["seconds"]
    data["progress"] = captured.err
    return data


def test_solve_cli_workers_agree_and_show_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(instance_to_dict(REBALANCE)))
    one = _solve_cli(path, "--workers", "1", capsys=capsys)
    two = _solve_cli(path, "--workers", "2", capsys=capsys)
    assert one.pop("progress").strip().endswith("solves 4/4")
    assert two.pop("progress").strip().endswith("solves 4/4")
    assert one == two


def test_corpus_add_with_workers_writes_the_same_record(tmp_path: Path) -> None:
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(instance_to_dict(REBALANCE)))

    def added(workers: str) -> dict[str, Any]:
        corpus = tmp_path / f"corpus-{workers}"
        options = ["--time-limit", str(TIME_LIMIT), "--workers", workers]
        assert main(["corpus", "add", str(path), "--corpus", str(corpus), *options]) == 0
        (record,) = corpus.rglob("*.json")
        data = json.loads(record.read_text())
        for layer in data["oracle"]["layers"]:
            layer.pop("seconds", None)
        return data

    assert added("1") == added("2")


@pytest.mark.parametrize("command", ["solve", "corpus add"])
def test_ray_without_the_extra_is_a_usage_error(tmp_path: Path, command: str) -> None:
    path = tmp_path / "instance.json"
    path.write_text(json.dumps({"problem": "packing", "weights": [[3, 2, 1, 1]], "num_packs": 2}))
    argv = [*command.split(), str(path), "--ray", "local"]
    if command == "corpus add":
        argv += ["--corpus", str(tmp_path / "corpus")]
    # `ray` made unimportable, as on an install without the extra.
    script = "import sys; sys.modules['ray'] = None\nfrom verifier.cli.dispatch import main\n"
    script += f"sys.exit(main({argv!r}))\n"
    process = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 2
    assert "eplb-verify[ray]" in process.stderr
    assert not (tmp_path / "corpus").exists()


def test_ray_auto_needs_an_address(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'eplb-verify[ray]'")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    path = tmp_path / "instance.json"
    path.write_text(json.dumps({"problem": "packing", "weights": [[3, 2, 1, 1]], "num_packs": 2}))
    assert main(["solve", str(path), "--ray", "auto"]) == 2


def test_ray_at_an_unreachable_address_fails_fast_with_one_line(tmp_path: Path) -> None:
    """No Ray server on a loopback port: exit 2 within seconds, one line naming the address."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'eplb-verify[ray]'")
    with socket.socket() as probe:  # a loopback port nothing listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = tmp_path / "instance.json"
    path.write_text(json.dumps({"problem": "packing", "weights": [[3, 2, 1, 1]], "num_packs": 2}))
    address = f"127.0.0.1:{port}"
    started = time.monotonic()
    process = subprocess.run(
        [sys.executable, "-m", "verifier", "solve", str(path), "--ray", address],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.monotonic() - started < 30
    assert process.returncode == 2
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and address in lines[0], process.stderr


@pytest.mark.slow
def test_ray_tasks_solve_exactly_as_in_sequence() -> None:
    """Opt-in (tox -e slow / tox -e ray): a local Ray instance with 2 CPUs."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'eplb-verify[ray]'")
    solve = partial(solve_layer, REBALANCE, time_limit=TIME_LIMIT, seed=0)
    layers = range(len(REBALANCE.weights))
    sequential = [solve(layer) for layer in layers]
    seen: list[int] = []
    with Distributor(2, ray="local", progress=lambda done, total: seen.append(done)) as cluster:
        distributed = cluster.map(solve, layers)
        assert seen[-1] == len(layers)  # solves done of total, as they finish
        records = oracle_record(PACKING, time_limit=TIME_LIMIT, distributor=cluster)
    assert [_comparable(s) for s in distributed] == [_comparable(s) for s in sequential]
    expected = oracle_record(PACKING, time_limit=TIME_LIMIT)
    assert [(layer.objective, layer.bound, layer.status) for layer in records.layers] == [
        (layer.objective, layer.bound, layer.status) for layer in expected.layers
    ]

"""`--database URL`: a shared Redis example database replays one campaign's failure in the next.

Every test here that needs Redis starts its own real `redis-server` on a free loopback port (no
persistence) and stops it afterwards; they skip, saying so, only when no `redis-server` program is
installed (`.ci/run` installs one). Campaigns run as separate processes (`python -m verifier`), as
they would on two machines.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from verifier.runs.database import DatabaseError, FolderStore, RedisStore, open_store, spec_label

# A packing candidate that is right except on instances whose item count is a multiple of 5: no
# edge case has such a count (12 or 32 items), and the first generated case (Hypothesis starts
# from the smallest instance) does not either, so `--max-cases 1` finds the bug only by replay.
RARE_BUG = """
from reference import balanced_packing as _reference


def balanced_packing(weight, num_packs):
    pack_index, rank_in_pack = _reference(weight, num_packs)
    if weight.shape[-1] % 5 == 0:
        rank_in_pack = rank_in_pack.clone()
        rank_in_pack[..., 0] = -1
    return pack_index, rank_in_pack
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A fresh redis-server on a free loopback port, stopped (and reaped) after the test."""
    program = shutil.which("redis-server") or next(
        (
            path
            for path in ("/usr/bin/redis-server", "/usr/sbin/redis-server")
            if Path(path).exists()
        ),
        None,
    )
    if program is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    pytest.importorskip(
        "redis", reason="the redis package is missing: pip install 'hypothesis[redis]'"
    )
    port = _free_port()
    command = [
        program,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    command += ["--dir", str(tmp_path)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while not _answers(port):
            assert server.poll() is None, "redis-server exited at start"
            assert time.monotonic() < deadline, "redis-server did not answer within 15 s"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _check(candidate: Path, cwd: Path, out: Path, *options: str) -> tuple[int, dict]:
    command = [sys.executable, "-m", "verifier", "check", str(candidate), "--json", str(out)]
    process = subprocess.run(
        [*command, *options], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert process.returncode in (0, 1), process.stderr[-2000:]
    return process.returncode, json.loads(out.read_text())


def _violations(result: dict) -> set[str]:
    return {f["check"] for f in result["findings"] if f["severity"] == "violation"}


def test_a_failure_found_by_one_campaign_replays_first_in_the_next(
    redis_url: str, tmp_path: Path
) -> None:
    candidate = tmp_path / "rare_bug.py"
    candidate.write_text(RARE_BUG)
    one_case = ("--seed", "7", "--max-cases", "1")
    # Control: one generated case, no shared database: the bug is not reached.
    code, alone = _check(candidate, tmp_path, tmp_path / "alone.json", *one_case)
    assert code == 0 and not _violations(alone)
    # Campaign 1 (another process, another seed) hunts the bug down and saves it in Redis.
    code, first = _check(
        candidate,
        tmp_path,
        tmp_path / "first.json",
        "--seed",
        "1",
        "--max-cases",
        "40",
        "--database",
        redis_url,
    )
    assert code == 1 and _violations(first), first["notes"]
    # Campaign 2: the same single generated case as the control, but with the shared database:
    # its first generated case is the saved failure, so it fails at once.
    code, second = _check(
        candidate, tmp_path, tmp_path / "second.json", *one_case, "--database", redis_url
    )
    assert code == 1
    assert _violations(second) == _violations(first)
    reproducer = next(f["instance"] for f in second["findings"] if f["severity"] == "violation")
    assert len(reproducer["weights"][0]) % 5 == 0
    assert second["options"]["database"] == redis_url


def test_two_parallel_workers_share_redis_and_merge(redis_url: str, tmp_path: Path) -> None:
    candidate = tmp_path / "rare_bug.py"
    candidate.write_text(RARE_BUG)
    options = ("--seed", "3", "--max-cases", "30", "--workers", "2", "--database", redis_url)
    code, merged = _check(candidate, tmp_path, tmp_path / "merged.json", *options)
    assert code == 1 and _violations(merged)
    # The same shape as a one-worker run; the edge suite ran once (in worker 0 only).
    _, single = _check(candidate, tmp_path, tmp_path / "single.json", "--max-cases", "1")
    assert set(merged) == set(single)
    assert (
        merged["cases"]["balanced_packing"]["edge"] == single["cases"]["balanced_packing"]["edge"]
    )
    # One entry per distinct finding, however many workers saw it.
    keys = [(f["severity"], f["function"], f["check"]) for f in merged["findings"]]
    assert len(keys) == len(set(keys))


def test_redis_keys_are_per_candidate_and_function(redis_url: str) -> None:
    store = open_store(redis_url)
    assert isinstance(store, RedisStore)
    first = store.database("reference", "balanced_packing")
    first.save(b"key", b"value")
    assert list(first.fetch(b"key")) == [b"value"]
    assert list(store.database("reference", "replicate_experts").fetch(b"key")) == []
    assert list(store.database("reference:swap", "balanced_packing").fetch(b"key")) == []
    keys = store.client.keys(b"eplb-verify:*")
    assert keys and all(spec_label("reference").encode() in key for key in keys)


def test_a_folder_is_a_directory_database(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "examples"))
    assert isinstance(store, FolderStore)
    store.database("reference", "balanced_packing").save(b"key", b"value")
    assert list((tmp_path / "examples").glob(f"{spec_label('reference')}/balanced_packing/*"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/x", "unsupported scheme 'ftp'"),
        ("redis://127.0.0.1:notaport", "port"),
        ("redis:///0", "no host"),
        ("redis://127.0.0.1:6379/zero", "database number"),
    ],
)
def test_bad_database_urls_are_named(url: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        open_store.__wrapped__(url)


def test_an_unreachable_server_is_a_usage_error(tmp_path: Path) -> None:
    pytest.importorskip(
        "redis", reason="the redis package is missing: pip install 'hypothesis[redis]'"
    )
    url = f"redis://127.0.0.1:{_free_port()}"  # nothing listens there
    for command in ("check", "fuzz"):
        process = subprocess.run(
            [sys.executable, "-m", "verifier", command, "reference", "--database", url],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert process.returncode == 2
        assert "cannot reach the Redis server" in process.stderr


def test_a_missing_redis_package_names_the_extra(tmp_path: Path) -> None:
    # The interpreter runs with `redis` made unimportable, as on an install without the extra.
    script = (
        "import sys; sys.modules['redis'] = None\n"
        "from verifier.cli.dispatch import main\n"
        "sys.exit(main(['check', 'reference', '--database', 'redis://127.0.0.1:6379']))\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 2
    assert "hypothesis[redis]" in process.stderr

"""Where Hypothesis keeps failing and best-targeted examples: a folder, or a shared Redis server.

`--database URL` of `check` and `fuzz` names one store:

- a folder path: Hypothesis's `DirectoryBasedExampleDatabase`, one sub-folder per candidate and
  function, named `spec_label(spec)/function` (the layout `fuzz` has always used);
- `redis://HOST[:PORT][/DB]`: Hypothesis's `RedisExampleDatabase` (the extra
  `hypothesis[redis]`), keys prefixed per candidate and function, so several campaigns on several
  machines share what they find: a failure one campaign saved replays first in every other
  campaign of the same candidate and function (the Hypothesis key, the digest of the engine's test
  function, is the same in every process running the same eplb-verify version).

`open_store(url)` parses and connects once (and is cached per process); `store.database(spec,
function)` is the Hypothesis database of one chunk, wrapped in `KeepingFailures` (failures stay
for the other campaigns, see there). Every problem (a bad URL, the `redis` package
missing, a server that does not answer) is a `DatabaseError` with a message for the user.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hypothesis.database import ExampleDatabase

from verifier.model.errors import EplbVerifyError

REDIS_SCHEME = "redis"
DEFAULT_REDIS_PORT = 6379
CONNECT_TIMEOUT = 5.0  # seconds to reach the Redis server before giving up
REDIS_EXTRA = "pip install 'hypothesis[redis]'"
KEY_PREFIX = "eplb-verify:"


class DatabaseError(EplbVerifyError):
    """A `--database` that cannot be used; the message says why."""


def spec_label(spec: str) -> str:
    """A readable, file-name-safe label of a candidate spec plus a hash of the whole spec."""
    digest = hashlib.sha256(spec.encode()).hexdigest()[:10]
    name = Path(spec.rstrip("/")).name or spec
    readable = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:40]
    return f"{readable}-{digest}"


DERIVED_KEYS = (b".secondary", b".pareto")  # Hypothesis's sub-keys of a test's primary key


class KeepingFailures(ExampleDatabase):
    """A database that never deletes from a test's primary key (where failures are saved).

    Hypothesis drops a saved failure from the database as soon as a replay of it passes. The
    engine makes a replay pass on purpose once that check's reproducer is shrunk and recorded (so
    the chunk moves on to new cases), which would delete the failure before any other campaign
    could replay it. Kept, every campaign that shares the database replays it first. Secondary and
    target (pareto) entries are still cleaned up by Hypothesis as usual.
    """

    def __init__(self, inner: ExampleDatabase) -> None:
        super().__init__()
        self.inner = inner

    def __repr__(self) -> str:
        return f"KeepingFailures({self.inner!r})"

    def save(self, key: bytes, value: bytes) -> None:
        self.inner.save(key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        return self.inner.fetch(key)

    def delete(self, key: bytes, value: bytes) -> None:
        if key.endswith(DERIVED_KEYS):
            self.inner.delete(key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.save(dest, value)
        if src != dest:
            self.delete(src, value)


@dataclass(frozen=True)
class FolderStore:
    """Examples in a folder on this machine (one sub-folder per candidate and function)."""

    root: Path

    @property
    def url(self) -> str:
        return str(self.root)

    def database(self, spec: str, function: str) -> Any:
        from hypothesis.database import DirectoryBasedExampleDatabase

        folder = self.root / spec_label(spec) / function
        return KeepingFailures(DirectoryBasedExampleDatabase(str(folder)))


@dataclass(frozen=True)
class RedisStore:
    """Examples on a Redis server, shared by every campaign that names it."""

    url: str
    client: Any  # redis.Redis

    def database(self, spec: str, function: str) -> Any:
        from hypothesis.extra.redis import RedisExampleDatabase

        prefix = f"{KEY_PREFIX}{spec_label(spec)}:{function}:".encode()
        return KeepingFailures(RedisExampleDatabase(self.client, key_prefix=prefix))


ExampleStore = FolderStore | RedisStore


def _redis_address(url: str) -> tuple[str, int, int]:
    """(host, port, db) of `redis://HOST[:PORT][/DB]`; DatabaseError naming what is wrong."""
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_REDIS_PORT
    except ValueError:
        raise DatabaseError(f"--database {url}: the port is not a number in 0..65535") from None
    if not parts.hostname:
        raise DatabaseError(f"--database {url}: no host (expected redis://HOST:PORT[/DB])")
    path = parts.path.strip("/")
    if not path:
        return parts.hostname, port, 0
    if not path.isdigit():
        raise DatabaseError(f"--database {url}: the database number {path!r} is not an integer")
    if parts.query or parts.fragment:
        raise DatabaseError(f"--database {url}: options (?..., #...) are not supported")
    return parts.hostname, port, int(path)


def _connect_redis(url: str) -> RedisStore:
    host, port, db = _redis_address(url)
    try:
        import redis
        from hypothesis.extra import redis as _hypothesis_redis  # noqa: F401  (the extra itself)
    except ImportError:
        raise DatabaseError(
            f"--database {url}: the 'redis' package is missing: {REDIS_EXTRA}"
        ) from None
    client = redis.Redis(
        host=host,
        port=port,
        db=db,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=CONNECT_TIMEOUT * 6,
    )
    try:
        client.ping()
    except redis.RedisError as error:
        raise DatabaseError(
            f"--database {url}: cannot reach the Redis server at {host}:{port} ({error})"
        ) from None
    return RedisStore(url, client)


@functools.lru_cache(maxsize=8)
def open_store(url: str) -> ExampleStore:
    """The example store named by `url` (cached: one Redis connection pool per process)."""
    if "://" in url:
        scheme = url.split("://", 1)[0].lower()
        if scheme != REDIS_SCHEME:
            raise DatabaseError(
                f"--database {url}: unsupported scheme {scheme!r} "
                "(use redis://HOST:PORT[/DB] or a folder path)"
            )
        return _connect_redis(url)
    root = Path(url)
    if root.exists() and not root.is_dir():
        raise DatabaseError(f"--database {url}: exists and is not a folder")
    return FolderStore(root)

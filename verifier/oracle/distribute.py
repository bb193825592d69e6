"""Independent oracle solves over local processes or Ray tasks, identical to a sequential run.

Layers are independent problems and every oracle solve is deterministic (CP-SAT's deterministic
time budget, one search worker, a fixed seed), so solving them in other processes or on other
machines gives the same objectives, bounds and statuses as solving them one after the other; only
the wall-clock `seconds` differ. `Distributor.map(function, items)` runs `function(item)` for every
item and returns the results in order:

- `workers=1`: in this process, one after the other (no pool, no pickling);
- `workers=N`: a `concurrent.futures.ProcessPoolExecutor` of N spawned processes (spawn, not fork:
  OR-Tools and torch are not fork-safe), kept open across calls until the distributor closes;
- `ray="local"|"auto"|ADDRESS`: Ray tasks (one CPU each). "local" starts a private Ray instance
  with `workers` CPUs, "auto" joins the cluster named in RAY_ADDRESS, anything else is passed to
  `ray.init(address=...)`. An address is first probed with a plain TCP connect
  (`RAY_CONNECT_TIMEOUT` seconds), so an unreachable one fails at once with one line instead of
  Ray's own retries; Ray's log lines stay out of the terminal (set `RAY_BACKEND_LOG_LEVEL=info`
  to see them). Ray is the optional extra `eplb-verify[ray]`.

`function` and the items must be picklable (a module-level function or a `functools.partial` of
one, plain data). `progress(done, total)` is called after every finished item.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from verifier.model.errors import EplbVerifyError

Item = TypeVar("Item")
Result = TypeVar("Result")
ProgressHook = Callable[[int, int], None]  # (done, total)

RAY_EXTRA = "pip install 'eplb-verify[ray]'"
RAY_CONNECT_TIMEOUT = 5.0  # seconds for the TCP probe of a Ray address before `ray.init`


class DistributeError(EplbVerifyError):
    """The chosen backend cannot run (Ray missing or unreachable); the CLI exits 2 with it."""


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_workers(tasks: int) -> int:
    """The local default: one process per core, never more than there are tasks."""
    return max(1, min(available_cores(), tasks))


class Distributor:
    """Maps a function over items in order, locally or on Ray (use it as a context manager).

    `workers=None` picks `default_workers(len(items))` at each `map` (1: in-process).
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        ray: str | None = None,
        progress: ProgressHook | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.ray_address = ray
        self.progress = progress
        self._pool: Executor | None = None
        self._pool_size = 0
        self._ray: Any = None  # the ray module once connected
        self._ray_started_here = False

    # -- lifetime --

    def start(self) -> Distributor:
        """Connect to Ray now (when asked for), so a bad address fails before any work."""
        if self.ray_address is not None and self._ray is None:
            self._connect_ray()
        return self

    def __enter__(self) -> Distributor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the local pool and a Ray instance started here (a joined cluster stays up)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._ray is not None and self._ray_started_here:
            self._ray.shutdown()
        self._ray = None

    @property
    def description(self) -> str:
        """Where the work runs, for progress lines and reports."""
        if self.ray_address is not None:
            return f"Ray ({self.ray_address})"
        return "in process" if self.workers == 1 else f"{self.workers or 'auto'} local processes"

    # -- mapping --

    def map(self, function: Callable[[Item], Result], items: Iterable[Item]) -> list[Result]:
        """`[function(item) for item in items]`, run on the chosen backend; the first exception
        raised by any call propagates (after the others finished or were cancelled)."""
        chosen = list(items)
        if not chosen:
            return []
        if self.ray_address is not None:
            return self._map_ray(function, chosen)
        size = self.workers or default_workers(len(chosen))
        if size == 1 or len(chosen) == 1:
            return self._map_here(function, chosen)
        return self._map_pool(function, chosen, size)

    def _report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def _map_here(self, function: Callable[[Item], Result], items: list[Item]) -> list[Result]:
        results = []
        for item in items:
            results.append(function(item))
            self._report(len(results), len(items))
        return results

    def _local_pool(self, size: int) -> Executor:
        if self._pool is None or self._pool_size < size:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            import multiprocessing

            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=size, mp_context=context)
            self._pool_size = size
        return self._pool

    def _map_pool(
        self, function: Callable[[Item], Result], items: list[Item], size: int
    ) -> list[Result]:
        pool = self._local_pool(size)
        futures = {pool.submit(function, item): index for index, item in enumerate(items)}
        results: dict[int, Result] = {}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                self._report(len(results), len(items))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return [results[index] for index in range(len(items))]

    # -- Ray --

    def _connect_ray(self) -> None:
        try:
            import ray
        except ImportError:
            raise DistributeError(f"--ray needs Ray, which is not installed: {RAY_EXTRA}") from None
        address = self.ray_address
        # Ray's own (C++) log lines stay out of the terminal unless the user asks for them.
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
        try:
            if ray.is_initialized():
                pass
            elif address == "local":
                cpus = self.workers or available_cores()
                ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
                self._ray_started_here = True
            else:
                if address == "auto" and not os.environ.get("RAY_ADDRESS"):
                    raise DistributeError(
                        "--ray auto: RAY_ADDRESS is not set (or give the address)"
                    )
                target = os.environ["RAY_ADDRESS"] if address == "auto" else str(address)
                probe_ray_address(target, label=address)
                ray.init(address=target, log_to_driver=False, logging_level=logging.ERROR)
        except DistributeError:
            raise
        except Exception as error:  # Ray raises ConnectionError, RuntimeError, ValueError...
            raise DistributeError(
                f"--ray {address}: cannot start or join Ray ({type(error).__name__}: {error})"
            ) from None
        self._ray = ray

    def _map_ray(self, function: Callable[[Item], Result], items: list[Item]) -> list[Result]:
        if self._ray is None:
            self._connect_ray()
        ray = self._ray
        remote = ray.remote(num_cpus=1, max_retries=0)(_call)
        pending = [remote.remote(function, item) for item in items]
        index_of = {ref: index for index, ref in enumerate(pending)}
        results: dict[int, Result] = {}
        waiting = list(pending)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for ref in ready:
                results[index_of[ref]] = ray.get(ref)
                self._report(len(results), len(items))
        return [results[index] for index in range(len(items))]


def probe_ray_address(address: str, *, label: str | None = None) -> None:
    """Raise `DistributeError` (naming the address) unless a TCP connection to its host and port
    opens within `RAY_CONNECT_TIMEOUT` seconds. `ray://HOST:PORT`, `HOST:PORT`, `[IPv6]:PORT`."""
    shown = label or address
    host, _, port = address.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise DistributeError(f"--ray {shown}: not an address (HOST:PORT, ray://HOST:PORT)")
    try:
        with socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise DistributeError(
            f"--ray {shown}: no Ray cluster reachable at {host}:{port} ({reason})"
        ) from None


def _call(function: Callable[[Any], Any], item: Any) -> Any:
    """A Ray task's body: one call (module level, so Ray pickles it by reference)."""
    return function(item)


def map_in_order(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    distributor: Distributor | None = None,
) -> list[Result]:
    """`distributor.map` when one is given, else a plain in-process loop (the library default)."""
    if distributor is None:
        return [function(item) for item in items]
    return distributor.map(function, items)


def stderr_progress(label: str) -> ProgressHook:
    """A progress hook that prints `LABEL: solves DONE/TOTAL` lines on stderr (throttled to about
    ten lines per map, and only when there is more than one solve)."""
    import sys

    def show(done: int, total: int) -> None:
        step = max(1, total // 10)
        if total > 1 and (done % step == 0 or done == total):
            print(f"{label}: solves {done}/{total}", file=sys.stderr, flush=True)

    return show

"""Executors for embarrassingly parallel studies: threads in-process, or a Dask cluster (docs/distributed.md).

``--scheduler`` of ``hwsim yield`` and ``hwsim sweep`` picks where the independent tasks of a study run:

- ``threads`` (the default): a :class:`~concurrent.futures.ThreadPoolExecutor` in this process, as before
  (the simulation kernels release the GIL);
- ``local`` or ``local:N``: a ``dask.distributed`` ``LocalCluster`` of ``N`` worker processes (default: one per
  CPU), started for the study and stopped after it;
- ``tcp://HOST:PORT``: an existing Dask cluster (``dask scheduler`` and ``dask worker`` processes).

Both give a :class:`concurrent.futures.Executor` (``distributed.Client.get_executor()`` for Dask), wrapped
in a :class:`TaskPool` that also knows how to hand one large input to every task (:meth:`TaskPool.share`:
the object itself for threads, sent once to the cluster with ``Client.scatter`` for Dask) and maps a task
function over items with a progress callback (:meth:`TaskPool.map`).

What crosses the wire: the task functions are module-level functions of hwsim, pickled by reference (the
workers need the same hwsim installed); their arguments are plain NumPy arrays, numbers, strings and dicts.
A chip program travels as :func:`program_to_wire`: its JSON header (the text of a ``.npz`` program file's
header) and its weight and bias arrays, rebuilt and validated on the worker by :func:`program_from_wire`
(once per worker and program: they are cached by content digest). Results come back as floats and dicts.
No object of an hwsim class is pickled, except an :class:`hwsim.errors.HwsimError` a task raises (so the
study fails with its message) and the worker set-up plugin below (code only).

Determinism: every task's result depends only on its item (a chip seed, a design point) and the shared
inputs, never on the worker that runs it, the worker count or the order of completion; results are
returned in item order. So a study gives the same bits under every scheduler.

Faults: Dask reruns the tasks of a worker that dies, and a task that raises is retried
:data:`TASK_RETRIES` times (on any worker) before the study fails; a study whose task finally fails raises,
and the commands then write nothing (or, for ``hwsim sweep``, only the points that finished).

Worker set-up: each Dask worker process gets a Numba cache folder of its own (concurrent writers can corrupt
a cache): a slot ``hwsim-numba-cache-UID-dask-K`` in the temporary folder, claimed with an exclusive lock
for the life of the process, so the compiled kernels are reused by the next study's workers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.errors import InputError
from hwsim.limits import MAX_WORKERS

__all__ = [
    "SCHEDULER_HELP",
    "INSTALL_HINT",
    "TASK_RETRIES",
    "Scheduler",
    "parse_scheduler",
    "check_scheduler",
    "TaskPool",
    "task_pool",
    "program_to_wire",
    "program_from_wire",
    "run_programs",
]

INSTALL_HINT = "pip install 'hwsim[distributed]'"
TASK_RETRIES = 2  # a task that raises is run up to 1 + TASK_RETRIES times before the study fails

SCHEDULER_HELP = (
    "where the tasks run: threads (default: a thread pool in this process, --workers threads), local[:N] "
    "(a Dask LocalCluster of N worker processes, default one per CPU) or tcp://HOST:PORT (an existing Dask "
    f"cluster); Dask needs {INSTALL_HINT}. Results are the same bits under every scheduler (docs/distributed.md)"
)

_TCP = re.compile(r"tcp://(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})")


@dataclass(frozen=True)
class Scheduler:
    """A parsed ``--scheduler``.

    Attributes:
        kind: ``"threads"``, ``"local"`` or ``"tcp"``.
        workers: Worker processes of a ``local`` cluster (None: one per CPU); None otherwise.
        address: The scheduler address of ``tcp``; None otherwise.
        text: As the user wrote it (for messages).
    """

    kind: str
    workers: int | None = None
    address: str | None = None
    text: str = "threads"

    @property
    def is_dask(self) -> bool:
        return self.kind != "threads"


def parse_scheduler(text: str | None) -> Scheduler:
    """``--scheduler`` text -> :class:`Scheduler` (None or ``threads``: the thread pool).

    Raises:
        InputError: not ``threads``, ``local``, ``local:N`` (N in 1..MAX_WORKERS) or ``tcp://HOST:PORT``.
    """
    if text is None:
        return Scheduler("threads")
    t = text.strip()
    allowed = "expected threads, local, local:N (N worker processes) or tcp://HOST:PORT (an existing Dask cluster)"
    if t.lower() == "threads":
        return Scheduler("threads", text=text)
    if t.lower() == "local":
        return Scheduler("local", None, text=text)
    if t.lower().startswith("local:"):
        n = t.split(":", 1)[1].strip()
        if not n.isdigit() or not 1 <= int(n) <= MAX_WORKERS:
            raise InputError(f"--scheduler {text!r}: the worker count N of local:N must be an integer in "
                             f"1..{MAX_WORKERS}")
        return Scheduler("local", int(n), text=text)
    m = _TCP.fullmatch(t)
    if m is not None:
        if not 1 <= int(m.group("port")) <= 65535:
            raise InputError(f"--scheduler {text!r}: port {m.group('port')} is outside 1..65535")
        return Scheduler("tcp", address=t, text=text)
    if t.lower().startswith("tcp://"):
        raise InputError(f"--scheduler {text!r}: expected tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786")
    raise InputError(f"--scheduler {text!r}: {allowed}")


def _distributed(scheduler: Scheduler):
    try:
        import distributed
    except ImportError:
        raise InputError(f"--scheduler {scheduler.text}: needs Dask (the distributed package), which is not "
                         f"installed; install it with: {INSTALL_HINT}") from None
    return distributed


def check_scheduler(text: str | None, workers: int | None = None) -> Scheduler:
    """Parse ``--scheduler`` and check, before any work, that it can run: Dask installed for a Dask scheduler,
    and no ``--workers`` (threads of the thread pool) with one."""
    scheduler = parse_scheduler(text)
    if scheduler.is_dask:
        _distributed(scheduler)
        if workers is not None:
            raise InputError(f"--workers {workers} sets the threads of the default scheduler; with --scheduler "
                             f"{scheduler.text} give the worker processes as local:N (or start the cluster's "
                             "workers with the count you want)")
    return scheduler


# ------------------------------------------------------------------ the pool


class TaskPool:
    """A ``concurrent.futures`` executor plus how to share one large input with every task.

    Attributes:
        executor: The executor (a ``ThreadPoolExecutor`` or Dask's ``ClientExecutor``).
        scheduler: What it runs on.
        client: The ``distributed.Client``, or None for threads.
    """

    def __init__(self, executor: Executor, scheduler: Scheduler, client=None) -> None:
        self.executor, self.scheduler, self.client = executor, scheduler, client

    def share(self, value: Any) -> Any:
        """A handle on ``value`` to pass as a task argument: ``value`` itself for threads, a Dask future for a
        cluster (sent once, not once per task; the worker gets ``value`` back)."""
        if self.client is None:
            return value
        return self.client.scatter([value], hash=False)[0]

    def map(self, fn: Callable[[Any, Any], Any], shared: Any, items: Sequence[Any], *,
            progress: Callable[[int], None] | None = None,
            on_result: Callable[[int, Any], None] | None = None) -> list:
        """``[fn(shared, item) for item in items]``, run on the pool; results in item order.

        Args:
            fn: A module-level function (Dask pickles it by reference).
            shared: A handle from :meth:`share` (or any small plain value).
            items: One task each.
            progress: Called with 1 in this thread after each finished task (e.g. a tqdm ``update``).
            on_result: Called with ``(index, result)`` in this thread as each task finishes (e.g. to store it).

        Raises:
            Whatever a task raised last (after the retries of a Dask scheduler); the tasks not yet started are
            cancelled.
        """
        futures = {self.executor.submit(fn, shared, item): i for i, item in enumerate(items)}
        results: list = [None] * len(items)
        try:
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                if on_result is not None:
                    on_result(i, results[i])
                if progress is not None:
                    progress(1)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return results


def _thread_count(threads: int | None) -> int:
    return max(1, threads if threads is not None else (os.cpu_count() or 1))


@contextmanager
def task_pool(scheduler: str | Scheduler | None = None, *, threads: int | None = None) -> Iterator[TaskPool]:
    """A :class:`TaskPool` for ``scheduler`` (see :func:`parse_scheduler`), closed on exit.

    Args:
        scheduler: ``--scheduler`` text or a parsed :class:`Scheduler`; None: threads.
        threads: Threads of the thread pool (default: CPU count); not used with Dask.

    Raises:
        InputError: Dask not installed, or the cluster at ``tcp://...`` cannot be reached.
    """
    sched = scheduler if isinstance(scheduler, Scheduler) else parse_scheduler(scheduler)
    if not sched.is_dask:
        pool = ThreadPoolExecutor(_thread_count(threads))
        try:
            yield TaskPool(pool, sched)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return
    with _dask_client(sched) as client:
        yield TaskPool(client.get_executor(retries=TASK_RETRIES, pure=False), sched, client)


@contextmanager
def _dask_client(sched: Scheduler):
    distributed = _distributed(sched)
    import logging

    cluster = None
    try:
        if sched.kind == "local":
            n = sched.workers if sched.workers is not None else (os.cpu_count() or 1)
            # one thread per worker process: the processes are the parallelism; the dashboard (if any) on a free
            # port: None still tries 8787 and warns when another cluster holds it
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                               dashboard_address=":0", silence_logs=logging.ERROR)
            client = distributed.Client(cluster)
        else:
            try:
                client = distributed.Client(sched.address, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise InputError(f"--scheduler {sched.text}: cannot reach a Dask scheduler there ({exc}); start "
                                 "one with 'dask scheduler' (docs/distributed.md)") from None
        try:
            client.register_plugin(_numba_cache_plugin(), name="hwsim-numba-cache")
            yield client
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


# ------------------------------------------------------------------ worker set-up

_claimed: list = []  # [path, lock file] of the slot this process holds (the file kept open for its life)


def claim_numba_cache_dir(root: str | None = None) -> str:
    """Claim a Numba cache folder of this process's own and point ``NUMBA_CACHE_DIR`` at it.

    Slots ``ROOT/hwsim-numba-cache-UID-dask-K`` (K = 0, 1, ...) are taken with an exclusive, non-blocking
    ``flock`` on ``...-K.lock`` held until the process ends, so no two live processes share one and a later
    worker reuses a slot's compiled kernels. Numba reads the variable when a cached function is first
    defined; if Numba is already imported its configuration is reloaded. A process claims one slot only (a
    plugin registered again, by the next study on the same cluster, gets the same folder).
    """
    import tempfile

    if _claimed:
        return _claimed[0]

    root = root or tempfile.gettempdir()
    base = os.path.join(root, f"hwsim-numba-cache-{os.getuid() if hasattr(os, 'getuid') else 0}-dask")
    try:
        import fcntl
    except ImportError:  # no flock (Windows): a folder per process, compiled again by each worker
        path = f"{base}-pid{os.getpid()}"
    else:
        for k in range(4096):
            path = f"{base}-{k}"
            fh = open(f"{path}.lock", "a")  # noqa: SIM115 (held open: the lock lives as long as the file is open)
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                continue
            _claimed.append(fh)
            break
        else:  # every slot taken: a folder of this process's own
            path = f"{base}-pid{os.getpid()}"
    os.makedirs(path, exist_ok=True)
    _claimed.insert(0, path)
    os.environ["NUMBA_CACHE_DIR"] = path
    _recache_loaded_kernels()
    return path


def _recache_loaded_kernels() -> None:
    """Point the kernels already defined in this process (before the worker's set-up ran, e.g. imported by the
    user's main script, which a spawned process imports first) at the new ``NUMBA_CACHE_DIR``: Numba's cache
    locator reads the folder when caching is enabled for a function, so it is enabled again."""
    import sys

    if "numba" not in sys.modules:
        return
    from numba.core import config
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    config.reload_config()
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "hwsim.kernels" or name.startswith("hwsim.kernels.")):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher) and not isinstance(value._cache, NullCache):
                value.enable_caching()


def _numba_cache_plugin():
    """A ``distributed.WorkerPlugin`` that runs :func:`claim_numba_cache_dir` as each worker starts (also
    workers that join or are restarted later)."""
    from distributed import WorkerPlugin

    class NumbaCacheDir(WorkerPlugin):
        def setup(self, worker) -> None:
            from hwsim.parallel import claim_numba_cache_dir

            claim_numba_cache_dir()

    return NumbaCacheDir()


# ------------------------------------------------------------------ programs on the wire

_program_cache: dict[str, Any] = {}
_program_cache_lock = threading.Lock()
_PROGRAM_CACHE_SIZE = 8


def program_to_wire(program) -> dict:
    """A chip program as plain data: ``{"header": JSON text, "arrays": {name: ndarray}, "digest": hex}``.

    The header and arrays are those of the program's ``.npz`` file (:meth:`hwsim.program.ChipProgram.save`);
    ``digest`` is the SHA-256 of both, the key of the worker's cache.
    """
    header = json.dumps(program.header())
    arrays = {}
    for k, cp in enumerate(program.cores):
        arrays[f"weights_{k}"] = np.ascontiguousarray(cp.weights)
        arrays[f"bias_{k}"] = np.ascontiguousarray(cp.bias)
    h = hashlib.sha256(header.encode())
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return {"header": header, "arrays": arrays, "digest": h.hexdigest()}


def program_from_wire(wire: dict):
    """The :class:`~hwsim.program.ChipProgram` of :func:`program_to_wire`, validated (cached by digest)."""
    from hwsim.program import ChipProgram

    key = wire["digest"]
    with _program_cache_lock:
        program = _program_cache.get(key)
    if program is None:
        program = ChipProgram._from_header(json.loads(wire["header"]), wire["arrays"]).validate()
        with _program_cache_lock:
            if len(_program_cache) >= _PROGRAM_CACHE_SIZE:
                _program_cache.pop(next(iter(_program_cache)))
            _program_cache[key] = program
    return program


# ------------------------------------------------------------------ independent engine runs


def _run_program_task(shared: None, item: dict) -> dict:
    """One job of :func:`run_programs` on a worker: a program (wire form) and its rasters in, the run as
    :meth:`hwsim.result.RunResult.to_arrays` back, with one engine thread (the worker processes are the
    parallelism)."""
    import numba

    from hwsim.chip import Chip

    before = numba.get_num_threads()
    numba.set_num_threads(1)  # this thread's count only (Numba keeps it per thread); the engine reads it
    try:
        return Chip.from_program(program_from_wire(item["program"])).run(item["rasters"]).to_arrays()
    finally:
        numba.set_num_threads(before)


def run_programs(pool: TaskPool | None, jobs: Sequence[tuple[Any, np.ndarray]], *,
                 progress: Callable[[int], None] | None = None) -> list:
    """Engine runs of independent ``(program, rasters)`` jobs (e.g. an energy calibration's workloads), in
    job order: :meth:`hwsim.chip.Chip.run` of each, the same bits wherever they run.

    Args:
        pool: A Dask pool: one task per job (the program as :func:`program_to_wire`, the rasters, a
            :meth:`~hwsim.result.RunResult.to_arrays` back). None or a thread pool: in this process, one job
            after the other, each spread over the cores by the engine.
        jobs: ``(ChipProgram for digital cores, (B, T, n_inputs) rasters)`` pairs.
        progress: Called with 1 after each finished job.

    Returns:
        One :class:`~hwsim.result.RunResult` per job.
    """
    from hwsim.chip import Chip
    from hwsim.result import RunResult

    if pool is None or pool.client is None:
        results = []
        for program, rasters in jobs:
            results.append(Chip.from_program(program).run(rasters))
            if progress is not None:
                progress(1)
        return results
    items = [{"program": program_to_wire(program), "rasters": np.asarray(rasters)} for program, rasters in jobs]
    return [RunResult.from_arrays(r) for r in pool.map(_run_program_task, None, items, progress=progress)]

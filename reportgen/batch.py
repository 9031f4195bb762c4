"""The pool: run each job's work in this process, a pool of spawned workers, or any
:class:`concurrent.futures.Executor`, and hand each outcome back to the parent as it completes.

The work (``reportgen.patient_run.make_safely``) writes fsynced temporary files; the parent
renames them into place as each patient completes, so its manifest lists exactly the files
on disk."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from reportgen import gc_policy
from reportgen.output import signals_deferred

TASKS_PER_CHUNK = 4  # small chunks: less idle time at the end of a run
MAX_TASKS_PER_CHILD = 250  # chunks; bounds memory creep in long runs
WORKER_STOP_TIMEOUT_S = 3.0  # SIGTERM, then SIGKILL: a stopped run exits within seconds
_PARENT_POLL_S = 0.5  # a worker whose parent died exits within this (when prctl is missing)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class Job:
    """One patient: the record, the file stem and the resume key."""

    record: dict
    stem: str
    key: str


@dataclass
class Outcome:
    """A patient's result: manifest entries (each with its ``temp`` file to commit), or the
    message of a report not made; ``fault`` marks a write error (OSError) that stops the run.
    """

    entries: list[dict] = field(default_factory=list)
    error: str | None = None
    fault: bool = False


def describe_os_error(exc: OSError) -> str:
    """``cannot write patient-1.pdf (No space left on device)``: no traceback, no path
    outside OUTDIR."""
    name = Path(exc.filename).name if isinstance(exc.filename, str) else ""
    reason = exc.strerror or exc.__class__.__name__
    return f"cannot write {name} ({reason})" if name else f"write failed ({reason})"


Work = Callable[[Job], Outcome]  # picklable (a module function or a partial of one)
_WORK: Work | None = None  # this pool worker's work, sent once with its initializer
_SETTLED = False  # this pool worker's collector was tuned after its first report


def _init_worker(work: Work, parent_pid: int) -> None:
    global _WORK
    # Ctrl-C reaches the whole process group: the parent stops the workers, not the signal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent_pid)
    gc_policy.start_worker()
    _WORK = work


def _exit_with_parent(parent_pid: int) -> None:
    """Never outlive the parent: prctl(PR_SET_PDEATHSIG) on Linux, and a watchdog thread."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_POLL_S)
        os._exit(1)  # parent gone (the check also covers a death before prctl)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _make_chunk(jobs: list[Job]) -> list[tuple[Job, Outcome]]:
    global _SETTLED
    assert _WORK is not None
    done = []
    for job in jobs:
        done.append((job, _WORK(job)))
        if not _SETTLED:
            _SETTLED = True
            gc_policy.settle()
    return done


def make_chunk_with(work: Work, jobs: list[Job]) -> list[tuple[Job, Outcome]]:
    """One chunk on any executor's worker (thread, process or remote machine). The worker's
    collector is left as its owner set it."""
    return [(job, work(job)) for job in jobs]


def default_workers() -> int:
    """One worker per core (measured: 2 workers 1.84–1.88× one on a 2-core machine)."""
    return max(
        1,
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    )


def run_jobs(
    jobs: list[Job],
    work: Work,
    workers: int,
    on_done: Callable[[Job, Outcome], None],
    *,
    executor: Executor | None = None,
) -> None:
    """``work(job)`` for every job; ``on_done(job, outcome)`` is called in this process as each one
    completes. Whatever stops the run (an exception from ``on_done``, SIGINT, SIGTERM) first
    stops the workers of the pool made here: none outlives this call.

    ``executor``: any :class:`concurrent.futures.Executor` (Dask's ``Client.get_executor()``,
    Ray's, a thread pool); ``workers`` is then how many chunks it runs at once (its workers
    are the caller's to stop). None: a spawn process pool of ``workers`` here, or this
    process for one worker or a few jobs."""
    if executor is not None:
        _submit_all(executor, functools.partial(make_chunk_with, work), jobs, workers, on_done)
        return
    if workers <= 1 or len(jobs) <= TASKS_PER_CHUNK:
        with gc_policy.report_loop() as settled:
            for index, job in enumerate(jobs):
                on_done(job, work(job))
                if index + 1 < len(jobs):  # a one-shot report need not pay the collection
                    settled()
        return
    context = multiprocessing.get_context("spawn")  # no fork after WeasyPrint/matplotlib import
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(work, os.getpid()),
        max_tasks_per_child=MAX_TASKS_PER_CHILD,
    )
    try:
        _submit_all(pool, _make_chunk, jobs, workers, on_done)
    except BaseException:
        with signals_deferred():  # a second Ctrl-C must not leave workers running
            stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _submit_all(
    executor: Executor,
    function: Callable,
    jobs: list[Job],
    workers: int,
    on_done: Callable[[Job, Outcome], None],
) -> None:
    pending: set = set()
    try:
        for chunk in _chunks(jobs, TASKS_PER_CHUNK):
            pending.add(executor.submit(function, chunk))
            if len(pending) >= max(1, workers) * 3:  # bounded in-flight work: flat memory
                pending = _drain(pending, on_done)
        while pending:  # report each chunk as it finishes (progress, journal for --resume)
            pending = _drain(pending, on_done)
    except BaseException:
        for future in pending:  # queued chunks of any executor: not started any more
            future.cancel()
        raise


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel queued work and end the workers now: SIGTERM, then SIGKILL after a grace time.
    Their temporary files are removed by the caller (they are named for the run)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.terminate()
    deadline = time.monotonic() + WORKER_STOP_TIMEOUT_S
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(WORKER_STOP_TIMEOUT_S)


def _drain(pending: set, on_done: Callable[[Job, Outcome], None]) -> set:
    done, rest = wait(pending, return_when=FIRST_COMPLETED)
    for future in sorted(done, key=id):
        for job, outcome in future.result():
            on_done(job, outcome)
    return rest


def _chunks(items: list[Job], size: int) -> Iterator[list[Job]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

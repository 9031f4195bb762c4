"""Make each patient's files, in this process or in a pool of spawned workers.

Workers write fsynced temporary files; the parent renames them into place as each patient
completes, so the manifest it writes lists exactly the files that are on disk."""

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

from reportgen import __version__, gc_policy, i18n
from reportgen.assess import assess_record, assessment_json
from reportgen.errors import ReportError
from reportgen.labs import load_intervals
from reportgen.output import (
    dump_json,
    remove_temps,
    rules_fields,
    sha256_bytes,
    signals_deferred,
    write_temp,
)
from reportgen.rules import RuleSet, load_rules
from reportgen.settings import load_dxa_settings

TASKS_PER_CHUNK = 4  # small chunks: less idle time at the end of a run
MAX_TASKS_PER_CHILD = 250  # chunks; bounds memory creep in long runs
WORKER_STOP_TIMEOUT_S = 3.0  # SIGTERM, then SIGKILL: a stopped run exits within seconds
_PARENT_POLL_S = 0.5  # a worker whose parent died exits within this (when prctl is missing)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class RunSettings:
    """Everything a worker needs, sent once (picklable)."""

    outdir: Path
    formats: tuple[str, ...]
    rules_path: str | None
    criteria: str | None
    template_dir: str | None
    settings_path: str | None
    generated_at: str
    source_name: str
    doc_status: str = "preliminary"  # FHIR docStatus (--doc-status)
    fhir_profile: str = "uscore"  # FHIR document codes (--fhir-profile)
    lang: str = "en"
    run_id: str = "0-0"  # names this run's temporary files


# Output file suffix and manifest format of each --format value.
SUFFIXES = {
    "html": "html",
    "pdf": "pdf",
    "json": "json",
    "fhir": "fhir.json",
    "fhir-bundle": "bundle.json",
}
_FORMAT_OF_SUFFIX = {suffix: fmt for fmt, suffix in SUFFIXES.items()}


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


class PatientMaker:
    """Per-process state: the rule set and (lazily) the renderer, built once."""

    def __init__(self, settings: RunSettings):
        self.settings = settings
        self.rules: RuleSet = load_rules(settings.rules_path, criteria=settings.criteria)
        self.lab_intervals = load_intervals(settings.settings_path)
        self.dxa = load_dxa_settings(settings.settings_path)  # follow-up LSC (issue 12)
        self._renderer = None
        self._org = None

    @property
    def renderer(self):
        if self._renderer is None:
            from reportgen.reports import ReportRenderer  # heavy: WeasyPrint, matplotlib

            self._renderer = ReportRenderer(
                self.settings.template_dir, self.settings.settings_path, self.settings.lang
            )
        return self._renderer

    def make_safely(self, job: Job) -> Outcome:
        """:meth:`make`, but a patient whose report fails does not stop the others, and a
        write error (full disk, read-only or failing device) is an outcome, not a crash."""
        try:
            return Outcome(self.make(job))
        except ReportError as exc:
            return Outcome(error=str(exc)[:300])
        except OSError as exc:
            return Outcome(error=describe_os_error(exc), fault=True)

    def make(self, job: Job) -> list[dict]:
        """Write the patient's files to fsynced temporary files; return their manifest
        entries, each with the ``temp`` to rename into place (none is left on failure)."""
        with i18n.using(self.settings.lang, self.renderer_settings().calendar):
            return self._make(job)

    def renderer_settings(self):
        """The organisation settings (calendar of Japanese dates) without the renderer."""
        if self._org is None:
            from reportgen.settings import load_settings

            self._org = load_settings(self.settings.settings_path)
        return self._org

    def _make(self, job: Job) -> list[dict]:
        s = self.settings
        assessment = assess_record(
            job.record, self.rules, self.dxa, lab_intervals=self.lab_intervals
        )
        document = assessment_json(
            assessment,
            self.rules,
            tool_version=__version__,
            generated_at=s.generated_at,
            source_name=s.source_name,
        )
        outputs: dict[str, bytes] = {}
        json_bytes = dump_json(document)
        if "json" in s.formats:
            outputs["json"] = json_bytes
        if {"html", "pdf", "fhir", "fhir-bundle"} & set(s.formats):
            want_pdf = bool({"pdf", "fhir", "fhir-bundle"} & set(s.formats))
            html, pdf = self.renderer.patient(
                assessment, document, json_bytes, self.rules, s, stem=job.stem, want_pdf=want_pdf
            )
            if "html" in s.formats:
                outputs["html"] = html.encode("utf-8")
            if "pdf" in s.formats:
                outputs["pdf"] = pdf
            if "fhir" in s.formats:
                from reportgen.fhir import document_reference_json

                outputs["fhir.json"] = document_reference_json(
                    document,
                    pdf,
                    self.renderer.settings,
                    s.generated_at,
                    doc_status=s.doc_status,
                    profile=s.fhir_profile,
                )
            if "fhir-bundle" in s.formats:
                from reportgen.fhir_bundle import transaction_bundle_json

                outputs["bundle.json"] = transaction_bundle_json(
                    document,
                    pdf,
                    self.renderer.settings,
                    s.generated_at,
                    doc_status=s.doc_status,
                    profile=s.fhir_profile,
                )
        entries: list[dict] = []
        try:
            for fmt, data in outputs.items():
                name = f"patient-{job.stem}.{fmt}"
                temp = write_temp(s.outdir / name, data, s.run_id)
                entries.append(
                    {
                        "path": name,
                        "kind": "patient",
                        "format": _FORMAT_OF_SUFFIX[fmt],
                        "patient_id": job.record["patient_id"],
                        "sha256": sha256_bytes(data),
                        "input_sha256": job.key,
                        **rules_fields(self.rules),
                        "temp": str(temp),
                    }
                )
        except BaseException:
            remove_temps([Path(e["temp"]) for e in entries])
            raise
        return entries


def describe_os_error(exc: OSError) -> str:
    """``cannot write patient-1.pdf (No space left on device)``: no traceback, no path
    outside OUTDIR."""
    name = Path(exc.filename).name if isinstance(exc.filename, str) else ""
    reason = exc.strerror or exc.__class__.__name__
    return f"cannot write {name} ({reason})" if name else f"write failed ({reason})"


_MAKER: PatientMaker | None = None
_SETTLED = False  # this pool worker's collector was tuned after its first report
_LOCAL = threading.local()  # one PatientMaker per thread of a caller's executor


def _init_worker(settings: RunSettings, parent_pid: int) -> None:
    global _MAKER
    # Ctrl-C reaches the whole process group: the parent stops the workers, not the signal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent_pid)
    gc_policy.start_worker()
    _MAKER = PatientMaker(settings)


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
    assert _MAKER is not None
    done = []
    for job in jobs:
        done.append((job, _MAKER.make_safely(job)))
        if not _SETTLED:
            _SETTLED = True
            gc_policy.settle()
    return done


def make_chunk_with(settings: RunSettings, jobs: list[Job]) -> list[tuple[Job, Outcome]]:
    """One chunk on any executor's worker (thread, process or remote machine): the maker is
    built once per thread and settings. The worker's collector is left as its owner set it."""
    maker = getattr(_LOCAL, "maker", None)
    if maker is None or maker.settings != settings:
        maker = _LOCAL.maker = PatientMaker(settings)
    return [(job, maker.make_safely(job)) for job in jobs]


def default_workers() -> int:
    """One worker per core (measured: 2 workers 1.84–1.88× one on a 2-core machine)."""
    return max(
        1,
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    )


def run_jobs(
    jobs: list[Job],
    settings: RunSettings,
    workers: int,
    on_done: Callable[[Job, Outcome], None],
    *,
    executor: Executor | None = None,
) -> None:
    """Make every job; ``on_done(job, outcome)`` is called in this process as each one
    completes. Whatever stops the run (an exception from ``on_done``, SIGINT, SIGTERM) first
    stops the workers of the pool made here: none outlives this call.

    ``executor``: any :class:`concurrent.futures.Executor` (Dask's ``Client.get_executor()``,
    Ray's, a thread pool); ``workers`` is then how many chunks it runs at once (its workers
    are the caller's to stop). None: a spawn process pool of ``workers`` here, or this
    process for one worker or a few jobs."""
    if executor is not None:
        _submit_all(executor, functools.partial(make_chunk_with, settings), jobs, workers, on_done)
        return
    if workers <= 1 or len(jobs) <= TASKS_PER_CHUNK:
        maker = PatientMaker(settings)
        with gc_policy.report_loop() as settled:
            for index, job in enumerate(jobs):
                on_done(job, maker.make_safely(job))
                if index + 1 < len(jobs):  # a one-shot report need not pay the collection
                    settled()
        return
    context = multiprocessing.get_context("spawn")  # no fork after WeasyPrint/matplotlib import
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(settings, os.getpid()),
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

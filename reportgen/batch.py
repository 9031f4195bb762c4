"""Make each patient's files, in this process or in a pool of spawned workers."""

from __future__ import annotations

import functools
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from reportgen import __version__, gc_policy, i18n
from reportgen.assess import assess_record, assessment_json
from reportgen.errors import ReportError
from reportgen.labs import load_intervals
from reportgen.output import atomic_write, dump_json, sha256_bytes
from reportgen.rules import RuleSet, load_rules
from reportgen.settings import load_dxa_settings

TASKS_PER_CHUNK = 4  # small chunks: less idle time at the end of a run
MAX_TASKS_PER_CHILD = 250  # chunks; bounds memory creep in long runs


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


# Output file suffix and manifest format of each --format value.
SUFFIXES = {"html": "html", "pdf": "pdf", "json": "json", "fhir": "fhir.json",
            "fhir-bundle": "bundle.json"}
_FORMAT_OF_SUFFIX = {suffix: fmt for fmt, suffix in SUFFIXES.items()}


@dataclass
class Job:
    """One patient: the record, the file stem and the resume key."""

    record: dict
    stem: str
    key: str


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

            self._renderer = ReportRenderer(self.settings.template_dir,
                                            self.settings.settings_path, self.settings.lang)
        return self._renderer

    def make_safely(self, job: Job) -> tuple[list[dict], str | None]:
        """:meth:`make`, but a patient whose report fails does not stop the others."""
        try:
            return self.make(job), None
        except ReportError as exc:
            return [], str(exc)[:300]

    def make(self, job: Job) -> list[dict]:
        """Write the patient's files atomically; return their manifest entries."""
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
        assessment = assess_record(job.record, self.rules, self.dxa,
                                   lab_intervals=self.lab_intervals)
        document = assessment_json(assessment, self.rules, tool_version=__version__,
                                   generated_at=s.generated_at, source_name=s.source_name)
        outputs: dict[str, bytes] = {}
        json_bytes = dump_json(document)
        if "json" in s.formats:
            outputs["json"] = json_bytes
        if {"html", "pdf", "fhir", "fhir-bundle"} & set(s.formats):
            want_pdf = bool({"pdf", "fhir", "fhir-bundle"} & set(s.formats))
            html, pdf = self.renderer.patient(assessment, document, json_bytes, self.rules, s,
                                              stem=job.stem, want_pdf=want_pdf)
            if "html" in s.formats:
                outputs["html"] = html.encode("utf-8")
            if "pdf" in s.formats:
                outputs["pdf"] = pdf
            if "fhir" in s.formats:
                from reportgen.fhir import document_reference_json
                outputs["fhir.json"] = document_reference_json(
                    document, pdf, self.renderer.settings, s.generated_at,
                    doc_status=s.doc_status, profile=s.fhir_profile)
            if "fhir-bundle" in s.formats:
                from reportgen.fhir_bundle import transaction_bundle_json
                outputs["bundle.json"] = transaction_bundle_json(
                    document, pdf, self.renderer.settings, s.generated_at,
                    doc_status=s.doc_status, profile=s.fhir_profile)
        entries = []
        for fmt, data in outputs.items():
            name = f"patient-{job.stem}.{fmt}"
            atomic_write(s.outdir / name, data)
            entries.append({"path": name, "kind": "patient", "format": _FORMAT_OF_SUFFIX[fmt],
                            "patient_id": job.record["patient_id"], "sha256": sha256_bytes(data),
                            "input_sha256": job.key})
        return entries


_MAKER: PatientMaker | None = None
_SETTLED = False  # this pool worker's collector was tuned after its first report
_LOCAL = threading.local()  # one PatientMaker per thread of a caller's executor


def _init_worker(settings: RunSettings) -> None:
    global _MAKER
    gc_policy.start_worker()
    _MAKER = PatientMaker(settings)


def _make_chunk(jobs: list[Job]) -> list[tuple[Job, list[dict], str | None]]:
    global _SETTLED
    assert _MAKER is not None
    done = []
    for job in jobs:
        done.append((job, *_MAKER.make_safely(job)))
        if not _SETTLED:
            _SETTLED = True
            gc_policy.settle()
    return done


def make_chunk_with(settings: RunSettings, jobs: list[Job]
                    ) -> list[tuple[Job, list[dict], str | None]]:
    """One chunk on any executor's worker (thread, process or remote machine): the maker is
    built once per thread and settings. The worker's collector is left as its owner set it."""
    maker = getattr(_LOCAL, "maker", None)
    if maker is None or maker.settings != settings:
        maker = _LOCAL.maker = PatientMaker(settings)
    return [(job, *maker.make_safely(job)) for job in jobs]


def default_workers() -> int:
    """One worker per core (measured: 2 workers 1.84–1.88× one on a 2-core machine)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


def run_jobs(jobs: list[Job], settings: RunSettings, workers: int,
             on_done: Callable[[Job, list[dict], str | None], None], *,
             executor: Executor | None = None) -> None:
    """Make every job; ``on_done(job, entries, error)`` is called in this process as each one
    completes (``error`` is the message of a report that could not be made).

    ``executor``: any :class:`concurrent.futures.Executor` (Dask's ``Client.get_executor()``,
    Ray's, a thread pool); ``workers`` is then how many chunks it runs at once. None: a spawn
    process pool of ``workers`` here, or this process for one worker or a few jobs."""
    if executor is not None:
        _submit_all(executor, functools.partial(make_chunk_with, settings), jobs, workers,
                    on_done)
        return
    if workers <= 1 or len(jobs) <= TASKS_PER_CHUNK:
        maker = PatientMaker(settings)
        with gc_policy.report_loop() as settled:
            for index, job in enumerate(jobs):
                on_done(job, *maker.make_safely(job))
                if index + 1 < len(jobs):  # a one-shot report need not pay the collection
                    settled()
        return
    context = multiprocessing.get_context("spawn")  # no fork after WeasyPrint/matplotlib import
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(settings,), max_tasks_per_child=MAX_TASKS_PER_CHILD) as pool:
        _submit_all(pool, _make_chunk, jobs, workers, on_done)


def _submit_all(executor: Executor, function: Callable, jobs: list[Job], workers: int,
                on_done: Callable) -> None:
    pending = set()
    for chunk in _chunks(jobs, TASKS_PER_CHUNK):
        pending.add(executor.submit(function, chunk))
        if len(pending) >= max(1, workers) * 3:  # bounded in-flight work: flat parent memory
            pending = _drain(pending, on_done, FIRST_COMPLETED)
    while pending:  # report each chunk as it finishes (progress, journal for --resume)
        pending = _drain(pending, on_done, FIRST_COMPLETED)


def _drain(pending: set, on_done: Callable, until: str) -> set:
    done, rest = wait(pending, return_when=until)
    for future in sorted(done, key=id):
        for job, entries, error in future.result():
            on_done(job, entries, error)
    return rest


def _chunks(items: list[Job], size: int) -> Iterator[list[Job]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


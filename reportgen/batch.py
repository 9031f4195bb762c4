"""Make each patient's files, in this process or in a pool of spawned workers."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from reportgen import __version__
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

    @property
    def renderer(self):
        if self._renderer is None:
            from reportgen.reports import ReportRenderer  # heavy: WeasyPrint, matplotlib

            self._renderer = ReportRenderer(self.settings.template_dir,
                                            self.settings.settings_path)
        return self._renderer

    def make_safely(self, job: Job) -> tuple[list[dict], str | None]:
        """:meth:`make`, but a patient whose report fails does not stop the others."""
        try:
            return self.make(job), None
        except ReportError as exc:
            return [], str(exc)[:300]

    def make(self, job: Job) -> list[dict]:
        """Write the patient's files atomically; return their manifest entries."""
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


def _init_worker(settings: RunSettings) -> None:
    global _MAKER
    _MAKER = PatientMaker(settings)


def _make_chunk(jobs: list[Job]) -> list[tuple[Job, list[dict], str | None]]:
    assert _MAKER is not None
    return [(job, *_MAKER.make_safely(job)) for job in jobs]


def default_workers() -> int:
    """One worker per core (measured: 2 workers 1.84–1.88× one on a 2-core machine)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


def run_jobs(jobs: list[Job], settings: RunSettings, workers: int,
             on_done: Callable[[Job, list[dict], str | None], None]) -> None:
    """Make every job; ``on_done(job, entries, error)`` is called in this process as each one
    completes (``error`` is the message of a report that could not be made)."""
    if workers <= 1 or len(jobs) <= TASKS_PER_CHUNK:
        maker = PatientMaker(settings)
        for job in jobs:
            on_done(job, *maker.make_safely(job))
        return
    context = multiprocessing.get_context("spawn")  # no fork after WeasyPrint/matplotlib import
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(settings,), max_tasks_per_child=MAX_TASKS_PER_CHILD) as pool:
        pending = set()
        chunks = _chunks(jobs, TASKS_PER_CHUNK)
        for chunk in chunks:
            pending.add(pool.submit(_make_chunk, chunk))
            if len(pending) >= workers * 3:  # bounded in-flight work: flat parent memory
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


"""A patient run: one report per valid row, rendered on a pool, committed with its manifest.

The rendering itself is :func:`reportgen.patient_report.render_record`; this module plans the
files, resumes, and turns each patient's bytes into temporary files the parent commits."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reportgen import __version__
from reportgen.batch import Job, Outcome, default_workers, describe_os_error, run_jobs
from reportgen.errors import Problem, ReportError, bug_summary
from reportgen.inputs import attach_scans, load_patient_input, load_scan_set, select_records
from reportgen.ledger import Ledger, RunStopped
from reportgen.output import (
    Journal,
    assign_stems,
    carried_entries,
    check_planned,
    create_output_dir,
    locked_output_dir,
    manifest_entries,
    new_run_id,
    patient_file_name,
    read_in_outdir,
    remove_run_temps,
    remove_stale_temps,
    remove_temps,
    rules_fields,
    sha256_bytes,
    signals_deferred,
    write_temp,
)
from reportgen.patient_report import DEFAULT_FORMATS, FHIR_FORMATS, RenderOptions, render_record
from reportgen.rules import RuleSet, load_rules
from reportgen.run_options import (
    RunResult,
    check_fhir_options,
    check_template_dir,
    fhir_settings_problems,
    generation_time,
    options_digest,
    resolve_language,
)
from reportgen.settings import ReportSettings, load_report_settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatientRun:
    """Everything a worker needs, sent once (picklable): the rule set and settings as
    objects (read once by the parent), where to write and how to render."""

    outdir: Path
    rules: RuleSet
    settings: ReportSettings
    options: RenderOptions
    run_id: str = "0-0"  # names this run's temporary files


def build_patient_reports(
    input_path: Path | str,
    outdir: Path | str,
    *,
    ids: Sequence[str] = (),
    formats: Sequence[str] = DEFAULT_FORMATS,
    workers: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    rules_path: Path | str | None = None,
    criteria: str | None = None,
    template_dir: Path | str | None = None,
    settings_path: Path | str | None = None,
    lang: str | None = None,
    sheet: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    as_of: datetime | None = None,
    labs: Path | str | None = None,
    doc_status: str = "preliminary",
    fhir_profile: str = "uscore",
    strict: bool = False,
    scans_path: Path | str | None = None,
    executor: Executor | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    lock_wait_s: float = 0.0,
) -> RunResult:
    """One report per valid patient (all, or ``ids``); invalid rows are reported, not rendered.

    FHIR formats need ``identifier_system``, ``name`` and ``organisation_identifier`` in the
    settings: without them a warning is reported, or with ``strict`` a :class:`ReportError`.
    ``scans_path``: DXA scans (contract §4); a patient's scans make a follow-up report.
    ``executor``: run the reports on this :class:`concurrent.futures.Executor` (e.g. Dask's
    ``Client.get_executor()``) instead of the default spawn pool; ``workers`` is then how many
    chunks of reports it may run at once. ``outdir`` must be reachable from its workers.

    :param progress: called with (reports done, reports to do) as each patient completes.
    :param lock_wait_s: how long to wait for another run writing to ``outdir``.
    :raises Interrupted: (a ``KeyboardInterrupt``) after SIGINT, or SIGTERM where the caller
        turned it into one; the workers are stopped, the run's temporary files removed and
        the manifest lists what was complete.
    """
    outdir = Path(outdir)
    generated_at = generation_time()  # checked before anything is created
    rules = load_rules(rules_path, criteria=criteria)
    settings = load_report_settings(settings_path)  # once per run: the workers get it
    lang = resolve_language(lang, settings.organisation)
    check_fhir_options(doc_status, fhir_profile)
    fhir_warnings = fhir_settings_problems(
        settings.organisation, settings_path, formats, strict=strict
    )
    check_template_dir(template_dir)
    digest = options_digest(template_dir, settings_path) + (  # before OUTDIR is touched
        "" if lang == "en" else lang + rules.translations_digest
    )
    if set(FHIR_FORMATS) & set(formats):
        digest += f"|{doc_status}|{fhir_profile}"
    table = load_patient_input(
        input_path, sheet=sheet, as_of=as_of, labs=labs, encoding=encoding, delimiter=delimiter
    )
    records, problems = select_records(table, ids)
    problems = fhir_warnings + problems
    records = attach_scans(records, problems, load_scan_set(table, scans_path), table.source)
    result = RunResult(outdir, problems=problems)
    if ids and not records:  # nothing to make: create nothing, not even OUTDIR
        return result
    stems = assign_stems([r["patient_id"] for r in records])
    planned = [patient_file_name(stems[r["patient_id"]], f) for r in records for f in formats]
    check_planned(outdir, planned, overwrite=overwrite, resume=resume)  # before any change
    create_output_dir(outdir)
    with locked_output_dir(outdir, wait_s=lock_wait_s):
        check_planned(outdir, planned, overwrite=overwrite, resume=resume)  # now race-free
        remove_stale_temps(outdir)
        run = PatientRun(
            outdir=outdir,
            rules=rules,
            settings=settings,
            options=RenderOptions(
                formats=tuple(formats),
                generated_at=generated_at,
                source_name=Path(input_path).name,
                lang=lang,
                doc_status=doc_status,
                fhir_profile=fhir_profile,
                template_dir=None if template_dir is None else str(template_dir),
            ),
            run_id=new_run_id(),
        )
        journal = Journal(outdir)
        if not resume:
            journal.reset()
        ledger = Ledger(
            outdir,
            command="patient",
            rules=rules,
            run_id=run.run_id,
            generated_at=generated_at,
            journal=journal,
            carried=carried_entries(outdir, set(planned)),
        )
        if overwrite:  # never leave an old manifest whose hashes an interrupted run would break
            ledger.flush([], "running")
        done = {**_manifest_keys(outdir), **journal.read()} if resume else {}
        jobs = []
        for record in records:
            key = _job_key(record, rules, run.options.formats, digest)
            previous = done.get(key)
            if resume and previous and _complete(outdir, previous["files"]):
                ledger.files += previous["files"]
                result.skipped += 1
            else:
                jobs.append(Job(record, stems[record["patient_id"]], key))
        _run(jobs, run, workers, result, ledger, progress, executor)
        journal.reset()  # the manifest now records every file and its input key
    result.files = ledger.files
    return result


def make_safely(run: PatientRun, job: Job) -> Outcome:
    """:func:`make_patient_files`, but a patient whose report fails does not stop the others
    (a bug included: that patient's report is not made, said without the message, which may
    quote patient data), and a write error (full disk, read-only or failing device) is an
    outcome, not a crash."""
    try:
        return Outcome(make_patient_files(run, job))
    except ReportError as exc:
        return Outcome(error=str(exc)[:300])
    except OSError as exc:
        return Outcome(error=describe_os_error(exc), fault=True)
    except Exception as exc:  # noqa: BLE001 - one patient's bug must not lose the others
        logger.debug("patient row %s", job.record.get("_row"), exc_info=True)
        return Outcome(error=f"{bug_summary(exc)}; please report it")


def make_patient_files(run: PatientRun, job: Job) -> list[dict]:
    """Render the patient and write each file to a fsynced temporary file; return their
    manifest entries, each with the ``temp`` to rename into place (none is left on failure)."""
    outputs = render_record(job.record, run.rules, run.settings, run.options, stem=job.stem)
    entries: list[dict] = []
    try:
        for fmt, data in outputs.items():
            name = patient_file_name(job.stem, fmt)
            temp = write_temp(run.outdir / name, data, run.run_id)
            entries.append(
                {
                    "path": name,
                    "kind": "patient",
                    "format": fmt,
                    "patient_id": job.record["patient_id"],
                    "sha256": sha256_bytes(data),
                    "input_sha256": job.key,
                    **rules_fields(run.rules),
                    "temp": str(temp),
                }
            )
    except BaseException:
        remove_temps([Path(e["temp"]) for e in entries])
        raise
    return entries


def _manifest_keys(outdir: Path) -> dict[str, dict]:
    """``{input key: {"files": [...]}}`` from an existing manifest (for --resume)."""
    done: dict[str, dict] = {}
    for entry in manifest_entries(outdir):
        if "input_sha256" in entry:
            done.setdefault(entry["input_sha256"], {"files": []})["files"].append(entry)
    return done


def _run(
    jobs: list[Job],
    run: PatientRun,
    workers: int | None,
    result: RunResult,
    ledger: Ledger,
    progress: Callable[[int, int], None] | None,
    executor: Executor | None = None,
) -> None:
    """Make the jobs, commit each patient's files, and always end with a manifest that lists
    exactly what is on disk: after success, a write error, SIGINT or SIGTERM."""
    finished: set[str] = set()
    failed: set[str] = set()  # finished without their files
    source = run.options.source_name

    def on_done(job: Job, outcome: Outcome) -> None:
        finished.add(job.key)
        row = int(job.record["_row"])
        if outcome.fault:
            failed.add(job.key)
            result.problems.append(
                Problem(source, row, "-", f"report not written: {outcome.error}")
            )
            raise RunStopped(outcome.error)
        if outcome.error is not None:
            failed.add(job.key)
            result.problems.append(Problem(source, row, "-", f"report not made: {outcome.error}"))
        else:
            try:
                ledger.commit(outcome.entries, job.key)
            except OSError as exc:
                failed.add(job.key)
                result.problems.append(
                    Problem(source, row, "-", f"report not written: {describe_os_error(exc)}")
                )
                raise RunStopped(describe_os_error(exc)) from None
        if progress is not None:
            progress(len(finished), len(jobs))
        try:
            ledger.flush_now_and_then(_error_dicts(result))
        except ReportError as exc:
            raise RunStopped(str(exc)) from None

    if progress is not None:
        progress(0, len(jobs))
    logger.debug(
        "run %s: %d report(s) to make, %d worker(s)",
        run.run_id,
        len(jobs),
        workers or default_workers(),
    )
    status = "complete"
    work = functools.partial(make_safely, run)
    try:
        try:
            run_jobs(jobs, work, workers or default_workers(), on_done, executor=executor)
        except (RunStopped, BrokenProcessPool) as exc:
            status = "stopped"
            reason = str(exc) if isinstance(exc, RunStopped) else "a worker process died"
            result.problems += [
                Problem(
                    source,
                    int(j.record["_row"]),
                    "-",
                    f"report not made: the run stopped early ({reason})",
                )
                for j in jobs
                if j.key not in finished
            ]
    except KeyboardInterrupt:  # also when it comes while handling the above (systemd's
        # default KillMode sends SIGTERM to the workers and the parent at once)
        with signals_deferred():  # a second Ctrl-C must not cut the clean-up short
            remove_run_temps(run.outdir, run.run_id)
            not_made = len(jobs) - len(finished) + len(failed)
            ledger.flush(_error_dicts(result), "interrupted", not_made=not_made)
        raise
    finally:
        remove_run_temps(run.outdir, run.run_id)
    ledger.flush(_error_dicts(result), status, not_made=len(jobs) - len(finished) + len(failed))


def _error_dicts(result: RunResult) -> list[dict]:
    return [p.as_dict() for p in result.errors]


def _job_key(record: dict, rules: RuleSet, formats: tuple[str, ...], extra: str) -> str:
    basis = json.dumps(
        [record, rules.digest, __version__, formats, extra], default=str, sort_keys=True
    )
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()


def _complete(outdir: Path, entries: list[dict]) -> bool:
    for entry in entries:
        name = entry.get("path") if isinstance(entry, dict) else None
        data = (
            read_in_outdir(outdir / name)
            if isinstance(name, str) and Path(name).name == name
            else None
        )
        if data is None or sha256_bytes(data) != entry.get("sha256"):
            return False
    return True

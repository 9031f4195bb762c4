"""The library API: load → validate → assess → render → write. The CLI is a thin layer on it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from reportgen import __version__
from reportgen.batch import (
    SUFFIXES,
    Job,
    Outcome,
    RunSettings,
    default_workers,
    describe_os_error,
    run_jobs,
)
from reportgen.blank import TEMPLATE_KINDS, blank_template
from reportgen.errors import InputError, OutputError, Problem, ReportError
from reportgen.files import FileRefused, read_limited
from reportgen.i18n import check_language
from reportgen.labs import load_intervals, load_lab_draws
from reportgen.ledger import Ledger, RunStopped
from reportgen.loaders import load_table
from reportgen.output import (
    Journal,
    assign_stems,
    carried_entries,
    check_planned,
    create_output_dir,
    locked_output_dir,
    manifest_entries,
    new_run_id,
    read_in_outdir,
    remove_run_temps,
    remove_stale_temps,
    remove_temps,
    rules_fields,
    sha256_bytes,
    signals_deferred,
    write_temp,
)
from reportgen.records import PreparedTable, attach_lab_draws, prepare_table
from reportgen.rules import RuleSet, load_rules
from reportgen.scans import ScanSet
from reportgen.settings import load_dxa_settings, load_settings

logger = logging.getLogger(__name__)
FHIR_FORMATS = ("fhir", "fhir-bundle")
DEFAULT_FORMATS = ("html", "pdf", "json")


@dataclass
class RunResult:
    """What a run wrote and what it found wrong; ``ok`` is False when any row failed."""

    outdir: Path
    files: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def generation_time() -> str:
    """``SOURCE_DATE_EPOCH`` (reproducible builds) or now, as an ISO UTC timestamp."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        try:
            moment = datetime.fromtimestamp(int(epoch), UTC)
        except (ValueError, OverflowError, OSError):
            raise ReportError(f"SOURCE_DATE_EPOCH must be whole seconds, not {epoch!r}") from None
    else:
        moment = datetime.now(UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def load_input(
    path: Path | str,
    *,
    sheet: str | None = None,
    as_of: datetime | None = None,
    labs: Path | str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> PreparedTable:
    """Load and validate a file; every problem is in ``.problems``, nothing is raised for rows.

    ``as_of`` counts infusions up to that moment (a running one needs it); ``labs`` is a
    long-format lab file (``patient_id, date, test, value, unit``)."""
    table = prepare_table(
        load_table(path, sheet=sheet, encoding=encoding, delimiter=delimiter), as_of=as_of
    )
    if labs is not None:
        known = {p for p in table.frame.get("patient_id", []) if isinstance(p, str)}
        table = attach_lab_draws(table, *load_lab_draws(labs, known))
    return table


def validate_input(
    path: Path | str,
    *,
    sheet: str | None = None,
    as_of: datetime | None = None,
    labs: Path | str | None = None,
    scans_path: Path | str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> list[Problem]:
    """All problems (errors and warnings) of an input file (its lab file and its scans), in
    row order."""
    table = load_input(
        path, sheet=sheet, as_of=as_of, labs=labs, encoding=encoding, delimiter=delimiter
    )
    scan_set = load_scan_set(table, scans_path)
    return table.problems + (scan_set.problems if scan_set else [])


def load_scan_set(table: PreparedTable, scans_path: Path | str | None) -> ScanSet | None:
    """The patients' DXA scans: a JSON input's own ``scans`` lists and/or ``--scans FILE``."""
    from reportgen.scans import embedded_scans, load_scans, patient_dates

    patients = patient_dates(table.frame)
    found = None
    if table.scans:
        ids = {
            i: str(table.frame.at[i, "patient_id"])
            for i in table.scans
            if "patient_id" in table.frame and pd.notna(table.frame.at[i, "patient_id"])
        }
        positions = {i: int(table.frame.at[i, "_row"]) for i in table.scans}
        found = embedded_scans(table.source, table.scans, positions, ids, patients)
    if scans_path is not None:
        from_file = load_scans(scans_path, patients)
        found = from_file if found is None else found.merge(from_file)
    return found


def _attach_scans(
    records: list[dict], problems: list[Problem], scan_set: ScanSet | None, source: str
) -> list[dict]:
    """Records with their ``_scans``; a patient whose scans have errors is left out."""
    if scan_set is None:
        return records
    problems += scan_set.problems
    kept = []
    for record in records:
        pid = str(record["patient_id"])
        if scan_set.all_bad or pid in scan_set.bad_ids:
            problems.append(
                Problem(
                    source,
                    int(record["_row"]),
                    "-",
                    f"no report: her scans in {scan_set.source} have errors",
                )
            )
            continue
        if scan_set.by_patient.get(pid):
            record["_scans"] = scan_set.by_patient[pid]
        kept.append(record)
    return kept


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
    lang = _language(lang, settings_path)
    org = load_settings(settings_path)
    _check_fhir_options(doc_status, fhir_profile)
    fhir_warnings = _fhir_settings_problems(org, settings_path, formats, strict=strict)
    load_intervals(settings_path)
    load_dxa_settings(settings_path)
    options = _options_digest(template_dir, settings_path) + (  # before OUTDIR is touched
        "" if lang == "en" else lang + rules.translations_digest
    )
    if set(FHIR_FORMATS) & set(formats):
        options += f"|{doc_status}|{fhir_profile}"
    table = load_input(
        input_path, sheet=sheet, as_of=as_of, labs=labs, encoding=encoding, delimiter=delimiter
    )
    records, problems = _select(table, ids)
    problems = fhir_warnings + problems
    records = _attach_scans(records, problems, load_scan_set(table, scans_path), table.source)
    result = RunResult(outdir, problems=problems)
    if ids and not records:  # nothing to make: create nothing, not even OUTDIR
        return result
    stems = assign_stems([r["patient_id"] for r in records])
    planned = [f"patient-{stems[r['patient_id']]}.{SUFFIXES[f]}" for r in records for f in formats]
    check_planned(outdir, planned, overwrite=overwrite, resume=resume)  # before any change
    create_output_dir(outdir)
    with locked_output_dir(outdir, wait_s=lock_wait_s):
        check_planned(outdir, planned, overwrite=overwrite, resume=resume)  # now race-free
        remove_stale_temps(outdir)
        settings = RunSettings(
            outdir=outdir,
            formats=tuple(formats),
            rules_path=_str(rules_path),
            criteria=criteria,
            template_dir=_str(template_dir),
            settings_path=_str(settings_path),
            generated_at=generated_at,
            source_name=Path(input_path).name,
            lang=lang,
            doc_status=doc_status,
            fhir_profile=fhir_profile,
            run_id=new_run_id(),
        )
        journal = Journal(outdir)
        if not resume:
            journal.reset()
        ledger = Ledger(
            outdir,
            command="patient",
            rules=rules,
            run_id=settings.run_id,
            generated_at=generated_at,
            journal=journal,
            carried=carried_entries(outdir, set(planned)),
        )
        if overwrite:  # never leave an old manifest whose hashes an interrupted run would break
            ledger.flush([], "running")
        done = {**_manifest_keys(outdir), **journal.read()} if resume else {}
        jobs = []
        for record in records:
            key = _job_key(record, rules, settings, options)
            previous = done.get(key)
            if resume and previous and _complete(outdir, previous["files"]):
                ledger.files += previous["files"]
                result.skipped += 1
            else:
                jobs.append(Job(record, stems[record["patient_id"]], key))
        _run(jobs, settings, workers, result, ledger, progress, executor)
        journal.reset()  # the manifest now records every file and its input key
    result.files = ledger.files
    return result


def _check_fhir_options(doc_status: str, fhir_profile: str) -> None:
    from reportgen.fhir_codes import DOC_STATUSES, PROFILES

    if doc_status not in DOC_STATUSES:
        raise ReportError(
            f"doc_status must be one of {', '.join(DOC_STATUSES)}, not {doc_status!r}"
        )
    if fhir_profile not in PROFILES:
        raise ReportError(
            f"fhir_profile must be one of {', '.join(PROFILES)}, not {fhir_profile!r}"
        )


def _fhir_settings_problems(
    org, settings_path: Path | str | None, formats: Sequence[str], *, strict: bool
) -> list[Problem]:
    """A warning per FHIR placeholder the settings leave in place; refuse them when strict."""
    if not set(FHIR_FORMATS) & set(formats) or not org.fhir_gaps:
        return []
    source = str(settings_path) if settings_path else "(no --settings)"
    if strict:
        raise ReportError(
            f"{source}: FHIR output needs [organisation] "
            + "; ".join(org.fhir_gaps)
            + " (--strict)"
        )
    return [
        Problem(source, 0, "organisation", f"FHIR placeholder: set {gap}", "warning")
        for gap in org.fhir_gaps
    ]


def _manifest_keys(outdir: Path) -> dict[str, dict]:
    """``{input key: {"files": [...]}}`` from an existing manifest (for --resume)."""
    done: dict[str, dict] = {}
    for entry in manifest_entries(outdir):
        if "input_sha256" in entry:
            done.setdefault(entry["input_sha256"], {"files": []})["files"].append(entry)
    return done


def _run(
    jobs: list[Job],
    settings: RunSettings,
    workers: int | None,
    result: RunResult,
    ledger: Ledger,
    progress: Callable[[int, int], None] | None,
    executor: Executor | None = None,
) -> None:
    """Make the jobs, commit each patient's files, and always end with a manifest that lists
    exactly what is on disk: after success, a write error, SIGINT or SIGTERM."""
    finished: set[str] = set()
    source = settings.source_name

    def on_done(job: Job, outcome: Outcome) -> None:
        finished.add(job.key)
        row = int(job.record["_row"])
        if outcome.fault:
            result.problems.append(
                Problem(source, row, "-", f"report not written: {outcome.error}")
            )
            raise RunStopped(outcome.error)
        if outcome.error is not None:
            result.problems.append(Problem(source, row, "-", f"report not made: {outcome.error}"))
        else:
            try:
                ledger.commit(outcome.entries, job.key)
            except OSError as exc:
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
        settings.run_id,
        len(jobs),
        workers or default_workers(),
    )
    status = "complete"
    try:
        try:
            run_jobs(jobs, settings, workers or default_workers(), on_done, executor=executor)
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
            remove_run_temps(settings.outdir, settings.run_id)
            ledger.flush(_error_dicts(result), "interrupted", not_made=len(jobs) - len(finished))
        raise
    finally:
        remove_run_temps(settings.outdir, settings.run_id)
    ledger.flush(_error_dicts(result), status, not_made=len(jobs) - len(finished))


def _error_dicts(result: RunResult) -> list[dict]:
    return [p.as_dict() for p in result.errors]


def _select(table: PreparedTable, ids: Sequence[str]) -> tuple[list[dict], list[Problem]]:
    from reportgen.assess import records_from_frame

    frame = table.frame
    problems = list(table.problems)
    if ids:
        wanted = set(ids)
        present = set(frame["patient_id"].dropna()) if "patient_id" in frame else set()
        missing = sorted(wanted - present)
        problems += [
            Problem(table.source, 0, "patient_id", f"no patient with id {pid!r}") for pid in missing
        ]
        chosen_rows = set(frame.loc[frame["patient_id"].isin(wanted), "_row"]) if present else set()
        record_rows = set(frame["_row"])  # file/header problems are on no record's row
        problems = [p for p in problems if p.row not in record_rows or p.row in chosen_rows]
        frame = frame[
            frame["patient_id"].isin(wanted).fillna(False).to_numpy(dtype=bool)
            & table.valid.to_numpy()
        ]
    else:
        frame = table.valid_frame
    return records_from_frame(frame), problems


def _job_key(record: dict, rules: RuleSet, settings: RunSettings, extra: str) -> str:
    basis = json.dumps(
        [record, rules.digest, __version__, settings.formats, extra], default=str, sort_keys=True
    )
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()


# A template folder is a handful of small files; `--template-dir /usr` hashed 715 MB in 50 s.
MAX_TEMPLATE_FILES = 200
MAX_TEMPLATE_BYTES = 16 * 2**20


def _options_digest(template_dir: Path | str | None, settings_path: Path | str | None) -> str:
    """What else shapes a report: the override templates' and the settings' bytes."""
    digest = hashlib.sha256()
    paths = _template_files(Path(template_dir)) if template_dir else []
    for path in [*paths, *([Path(settings_path)] if settings_path else [])]:
        try:
            data = read_limited(path, MAX_TEMPLATE_BYTES)
        except FileRefused:
            continue  # not a regular file: a template loader cannot use it either
        digest.update(str(path).encode("utf-8", "surrogatepass") + data)
    return digest.hexdigest()


def _template_files(root: Path) -> list[Path]:
    """The files under ``root`` (links to folders not followed), refused past the limits."""
    found: list[Path] = []
    total = 0
    for folder, subdirs, names in os.walk(root):
        subdirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            try:
                total += path.lstat().st_size
            except OSError:
                continue
            found.append(path)
            if len(found) > MAX_TEMPLATE_FILES or total > MAX_TEMPLATE_BYTES:
                raise ReportError(
                    f"{root}: more than {MAX_TEMPLATE_FILES} files or "
                    f"{MAX_TEMPLATE_BYTES // 2**20} MiB; --template-dir must be "
                    "a folder of templates only"
                )
    return found


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


def _cohort_follow_up(
    table: PreparedTable, scan_set: ScanSet | None, rules: RuleSet, settings_path: Path | str | None
) -> dict | None:
    """The cohort's follow-up summary; a patient whose scans have errors is left out."""
    if scan_set is None:
        return None
    from reportgen.assess import records_from_frame
    from reportgen.followup_summary import summarise_follow_up

    records = [
        r
        for r in records_from_frame(table.valid_frame)
        if not scan_set.all_bad and str(r["patient_id"]) not in scan_set.bad_ids
    ]
    return summarise_follow_up(
        records, scan_set.by_patient, rules, load_dxa_settings(settings_path)
    )


def _language(lang: str | None, settings_path: Path | str | None) -> str:
    """``--lang`` (checked), else the settings' language (checked when read), else en."""
    org = load_settings(settings_path)
    return org.report_language if lang is None else check_language(lang)


def _str(value: Path | str | None) -> str | None:
    return None if value is None else str(value)


def _osteoporosis_text(rules: RuleSet) -> str:
    normal, osteo = rules.yam_normal_min_pct, rules.yam_osteoporosis_max_pct
    if rules.criteria == "jos2000":
        return (
            f"any JOS fragility fracture (vertebral included) and YAM < {normal:g} %; "
            f"or YAM < {osteo:g} %"
        )
    return (
        f"vertebral or proximal-femur fragility fracture (whatever the BMD); or other JOS "
        f"fragility fracture (rib, pelvis, proximal humerus, distal radius, lower leg) and "
        f"YAM < {normal:g} %; or YAM ≤ {osteo:g} % or T-score ≤ "
        f"{rules.t_osteoporosis_max:g}"
    )


FRACTURE_VOCABULARY = {
    "vertebral": "any vertebra (T7, Th12, L1-L2, T12–L1, vertebra, 第2腰椎, 胸椎, 腰椎, 椎体)",
    "proximal_femur": "hip, femoral neck, proximal femur, 大腿骨近位, 大腿骨頸部",
    "other_fragility": "rib (肋骨), pelvis incl. sacrum (骨盤), proximal humerus (上腕骨近位), "
    "distal radius (橈骨遠位), lower leg: tibia, fibula (下腿)",
    "not_jos": "anything else (calcaneus, metatarsal, any stress fracture): never vertebral; "
    "the class follows the BMD and page 1 asks for a review",
    "no_site": "fracture = yes without a site: assumed vertebral (the seed's convention), said so",
}


def describe_rules(rules: RuleSet) -> dict:
    """The rule set as data (for ``reportgen rules --json``)."""
    return {
        "name": rules.name,
        "version": rules.version,
        "criteria": rules.criteria,
        "specification": rules.data.get("specification", ""),
        "digest": rules.digest,
        "bone_status": {
            "osteoporosis": _osteoporosis_text(rules),
            "low_bone_mass": f"YAM < {rules.yam_normal_min_pct:g} %",
            "normal": f"YAM ≥ {rules.yam_normal_min_pct:g} %",
            "yam_osteoporosis_max_pct": rules.yam_osteoporosis_max_pct,
            "yam_normal_min_pct": rules.yam_normal_min_pct,
            "t_score_osteoporosis_max": rules.t_osteoporosis_max,
            "fracture_sites": FRACTURE_VOCABULARY,
            "evidence": rules.bone_evidence,
        },
        "iscd": {
            "z_below_expected_max": rules.z_below_expected_max,
            "below": "Z ≤ limit: below the expected range for age; triggers "
            "secondary_cause_workup and dxa_follow_up whatever the JOS class",
            "evidence": rules.iscd_evidence,
        },
        "secondary_causes": list(rules.secondary_cause_rules),
        "risk_rules": [
            {
                "id": r.rule_id,
                "label": r.label,
                "condition": r.condition,
                "input": r.input,
                "operator": r.operator,
                "threshold": r.threshold,
                "unit": r.unit,
                "evidence": r.evidence,
                "caveat": r.caveat,
            }
            for r in rules.risk_rules
        ],
        "data_quality": {
            "mgso4_max_g_per_day": rules.mgso4_max_g_per_day,
            "mgso4_loading_allowance_g": rules.mgso4_loading_allowance_g,
            "checks": [
                f"implausible_dose_rate: mgso4_total_g > {rules.mgso4_max_g_per_day:g} g/day × "
                f"mgso4_days + {rules.mgso4_loading_allowance_g:g} g",
                "mgso4_days_exceed_hospital_days: mgso4_days > hospital_days",
                "fracture_in_dxa_region (warning): a fractured vertebra inside the DXA region "
                "(ranges and Japanese notation read: L1-L2 inside L1-L4)",
                "fracture_site_not_jos (warning): a fracture site outside the JOS fragility "
                "sites (never called vertebral; the class follows the BMD)",
                "fracture_site_assumed: fracture = yes without a site (assumed vertebral)",
                "fracture_sites_without_fracture (warning): sites given with fracture = no",
                "dxa_before_delivery (warning) / dxa_days_postpartum: dxa_date against "
                "delivery_date",
            ],
        },
        "recommendations": [
            {
                "id": r.rec_id,
                "text": r.text,
                "statuses": list(r.statuses),
                "flags": list(r.flags),
                "facts": list(r.facts),
                "requires": list(r.requires),
                "requires_flag": r.requires_flag,
                "variants": [{"when": w, "text": t} for w, t in r.variants],
            }
            for r in rules.recommendations
        ],
    }


def build_cohort_report(
    input_path: Path | str,
    outdir: Path | str,
    *,
    formats: Sequence[str] = DEFAULT_FORMATS,
    skip_invalid: bool = False,
    deidentify: bool = False,
    max_listing: int = 200,
    dose_band_edges_g: Sequence[float] = (500.0, 1000.0),
    overwrite: bool = False,
    rules_path: Path | str | None = None,
    criteria: str | None = None,
    template_dir: Path | str | None = None,
    settings_path: Path | str | None = None,
    lang: str | None = None,
    sheet: str | None = None,
    as_of: datetime | None = None,
    labs: Path | str | None = None,
    scans_path: Path | str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    lock_wait_s: float = 0.0,
) -> RunResult:
    """The case-series summary; refuses on invalid rows unless ``skip_invalid``. Its files
    are replaced as one unit: all new, or (after an error or a signal) all old.

    :param scans_path: DXA scans: adds the follow-up section (contract §4).
    ``lang``: ``en`` or ``ja`` (default: the settings' ``language``, else ``en``)."""
    from reportgen.cohort import make_cohort_outputs

    outdir = Path(outdir)
    generated_at = generation_time()
    rules = load_rules(rules_path, criteria=criteria)
    lang = _language(lang, settings_path)
    load_intervals(settings_path)
    table = load_input(
        input_path, sheet=sheet, as_of=as_of, labs=labs, encoding=encoding, delimiter=delimiter
    )
    scan_set = load_scan_set(table, scans_path)
    problems = table.problems + (scan_set.problems if scan_set else [])
    problems = [p.redacted() for p in problems] if deidentify else problems
    result = RunResult(outdir, problems=problems)
    if (table.errors or (scan_set and scan_set.errors)) and not skip_invalid:
        return result
    if not table.valid.any():
        raise ReportError(f"{input_path}: no valid rows to summarise")
    names = {
        "html": "cohort-summary.html",
        "pdf": "cohort-summary.pdf",
        "json": "cohort-summary.json",
    }
    planned = [names[f] for f in formats] + ["cohort-cases.csv"]
    # With --skip-invalid the excluded rows are reported, not failures of the run.
    errors = [p.as_dict() for p in problems if p.severity == "error"]
    if skip_invalid:
        result.problems = [
            Problem(p.input, p.row, p.column, p.message, "warning") for p in problems
        ]
    check_planned(outdir, planned, overwrite=overwrite, resumable=False)  # before any change
    create_output_dir(outdir)
    with locked_output_dir(outdir, wait_s=lock_wait_s):
        check_planned(outdir, planned, overwrite=overwrite, resumable=False)  # now race-free
        outputs = make_cohort_outputs(
            table,
            rules,
            formats=formats,
            deidentify=deidentify,
            max_listing=max_listing,
            dose_band_edges_g=dose_band_edges_g,
            template_dir=template_dir,
            settings_path=settings_path,
            generated_at=generated_at,
            source_name=Path(input_path).name,
            lang=lang,
            follow_up=_cohort_follow_up(table, scan_set, rules, settings_path),
        )
        ledger = Ledger(
            outdir,
            command="cohort",
            rules=rules,
            run_id=new_run_id(),
            generated_at=generated_at,
            carried=carried_entries(outdir, set(planned)),
        )
        temps = _write_cohort_temps(outdir, outputs, rules, ledger.run_id)
        with signals_deferred():  # the new files and their manifest, or neither
            ledger.commit(temps)
            ledger.flush(errors, "complete")
    result.files = ledger.files
    return result


def _write_cohort_temps(
    outdir: Path, outputs: dict[str, bytes], rules: RuleSet, run_id: str
) -> list[dict]:
    """Every cohort file as a fsynced temporary first: a full disk leaves all the old files
    (and their manifest) as they were, never new CSV/JSON beside old HTML/PDF."""
    entries: list[dict] = []
    try:
        for name, data in outputs.items():
            temp = write_temp(outdir / name, data, run_id)
            fmt = "csv" if name.endswith(".csv") else name.rsplit(".", 1)[1]
            entries.append(
                {
                    "path": name,
                    "kind": "cohort",
                    "format": fmt,
                    "sha256": sha256_bytes(data),
                    **rules_fields(rules),
                    "temp": str(temp),
                }
            )
    except OSError as exc:
        remove_temps([Path(e["temp"]) for e in entries])
        raise OutputError(
            f"{outdir}: cohort files not written ({exc.strerror}); the files "
            "already there are unchanged"
        ) from None
    except BaseException:
        remove_temps([Path(e["temp"]) for e in entries])
        raise
    return entries


__all__ = [
    "TEMPLATE_KINDS",
    "InputError",
    "ReportError",
    "RunResult",
    "blank_template",
    "build_cohort_report",
    "build_patient_reports",
    "describe_rules",
    "load_input",
    "load_rules",
    "load_scan_set",
    "validate_input",
]

"""A cohort run: the case-series summary of a whole file, replaced as one unit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen.dose_bands import check_dose_band_edges
from reportgen.errors import OutputError, Problem, ReportError
from reportgen.inputs import load_input, load_scan_set
from reportgen.ledger import Ledger
from reportgen.output import (
    carried_entries,
    check_planned,
    create_output_dir,
    locked_output_dir,
    new_run_id,
    remove_temps,
    rules_fields,
    sha256_bytes,
    signals_deferred,
    write_temp,
)
from reportgen.patient_report import DEFAULT_FORMATS
from reportgen.rules import RuleSet, load_rules
from reportgen.run_options import (
    RunResult,
    check_template_dir,
    generation_time,
    resolve_language,
)
from reportgen.scans import ScanSet
from reportgen.settings import DxaSettings, load_report_settings

if TYPE_CHECKING:
    from reportgen.records import PreparedTable


def _follow_up(
    table: PreparedTable, scan_set: ScanSet | None, rules: RuleSet, dxa: DxaSettings
) -> dict | None:
    """The cohort's follow-up summary; a patient whose scans have errors is left out."""
    if scan_set is None:
        return None
    from reportgen.followup_summary import summarise_follow_up
    from reportgen.frames import records_from_frame

    records = [
        r
        for r in records_from_frame(table.valid_frame)
        if not scan_set.all_bad and str(r["patient_id"]) not in scan_set.bad_ids
    ]
    return summarise_follow_up(records, scan_set.by_patient, rules, dxa)


def build_cohort_report(
    input_path: Path | str,
    outdir: Path | str,
    *,
    formats: Sequence[str] = DEFAULT_FORMATS,
    skip_invalid: bool = False,
    deidentify: bool = False,
    max_listing: int = 200,
    dose_band_edges_g: Sequence[float] | None = None,
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
    if dose_band_edges_g is not None:
        dose_band_edges_g = check_dose_band_edges(dose_band_edges_g)
    check_template_dir(template_dir)
    rules = load_rules(rules_path, criteria=criteria)
    settings = load_report_settings(settings_path)  # once, checked before OUTDIR is touched
    lang = resolve_language(lang, settings.organisation)
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
            settings=settings,
            generated_at=generated_at,
            source_name=Path(input_path).name,
            lang=lang,
            follow_up=_follow_up(table, scan_set, rules, settings.dxa),
        )
        ledger = Ledger(
            outdir,
            command="cohort",
            rules=rules,
            run_id=new_run_id(),
            generated_at=generated_at,
            carried=carried_entries(outdir, set(planned)),
        )
        temps = _write_temps(outdir, outputs, rules, ledger.run_id)
        with signals_deferred():  # the new files and their manifest, or neither
            ledger.commit(temps)
            ledger.flush(errors, "complete")
    result.files = ledger.files
    return result


def _write_temps(
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

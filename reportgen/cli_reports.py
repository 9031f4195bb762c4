"""The report commands: ``validate``, ``patient`` and ``cohort``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reportgen.cli_options import (
    FORMATS_COHORT,
    FORMATS_PATIENT,
    call,
    dose_bands_callback,
    finish,
    formats_callback,
    input_option,
    logger,
    outdir_option,
    overwrite_option,
    progress_for,
    reading_options,
    rendering_options,
)
from reportgen.dose_bands import DEFAULT_DOSE_BAND_EDGES_G
from reportgen.errors import ReportError


@click.command(short_help="Check an input file; list every problem.")
@input_option
@reading_options
def validate(
    input_path: Path,
    sheet: str | None,
    as_of,
    labs: Path | None,
    scans_path: Path | None,
    encoding: str | None,
    delimiter: str | None,
) -> None:
    """Check INPUT (CSV, XLSX or JSON) and print every problem as INPUT:ROW:COLUMN: message.

    Example:

    \b
        reportgen validate input/case_series_2020.csv
    """
    from reportgen import api
    from reportgen.errors import InputError

    try:
        problems = api.validate_input(
            input_path,
            sheet=sheet,
            as_of=as_of,
            labs=labs,
            scans_path=scans_path,
            encoding=encoding,
            delimiter=delimiter,
        )
    except InputError as exc:  # the file as a whole: still one INPUT:0:-: line on stdout
        click.echo(str(exc))
        sys.exit(1)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None
    for problem in problems:
        click.echo(str(problem))
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        for source in dict.fromkeys(p.input for p in errors):  # the input, labs, scans
            found = [p for p in errors if p.input == source]
            rows = len({p.row for p in found})
            logger.info("%d problem(s) in %d row(s) of %s", len(found), rows, source)
        sys.exit(1)
    logger.info("%s: OK", input_path)


@click.command(short_help="Discharge reports, one per patient (HTML, PDF/A, JSON, FHIR).")
@input_option
@outdir_option
@click.option("--id", "ids", multiple=True, help="Only this patient id (repeatable).")
@click.option(
    "--format",
    "formats",
    default="html,pdf,json",
    show_default=True,
    callback=formats_callback(FORMATS_PATIENT),
    help="Comma list of html,pdf,json,fhir,fhir-bundle.",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), help="Worker processes (default: one per core)."
)
@overwrite_option
@click.option(
    "--resume",
    is_flag=True,
    help="Finish an interrupted run: skip reports already complete for this input.",
)
@rendering_options
@reading_options
@click.option(
    "--doc-status",
    type=click.Choice(["preliminary", "final"]),
    default="preliminary",
    show_default=True,
    help="FHIR docStatus: final once a clinician signed the report.",
)
@click.option(
    "--fhir-profile",
    type=click.Choice(["uscore", "jpcore"]),
    default="uscore",
    show_default=True,
    help="FHIR document type/category codes: US Core or JP Core.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse FHIR output while the settings leave placeholders (identifier_system, "
    "name, organisation_identifier) instead of warning.",
)
def patient(
    input_path: Path,
    outdir: Path,
    ids: tuple[str, ...],
    formats: tuple[str, ...],
    workers: int | None,
    overwrite: bool,
    resume: bool,
    rules_path: Path | None,
    criteria: str | None,
    template_dir: Path | None,
    settings_path: Path | None,
    lang: str | None,
    sheet: str | None,
    as_of,
    labs: Path | None,
    doc_status: str,
    fhir_profile: str,
    strict: bool,
    scans_path: Path | None,
    encoding: str | None,
    delimiter: str | None,
) -> None:
    """One discharge report per patient in INPUT: patient-<id>.html/.pdf/.json, and with
    --format fhir / fhir-bundle patient-<id>.fhir.json (DocumentReference) / .bundle.json
    (FHIR transaction Bundle for reportgen send).

    Invalid rows get no report and are listed on stderr and in manifest.json (exit 1);
    every valid row still gets its report.

    With --scans, a patient with more than one scan of a site gets a follow-up report.

    Example:

    \b
        reportgen patient input/case_series_2020.csv -o output/
        reportgen patient input/index_case_2.json --scans input/follow_up_scans.csv -o output/
    """
    from reportgen import gc_policy

    ctx = click.get_current_context()
    progress = progress_for(ctx)
    try:
        with gc_policy.one_shot():  # no collections in the imports and a single report
            from reportgen import api

            result = call(
                api.build_patient_reports,
                input_path,
                outdir,
                ids=ids,
                formats=formats,
                workers=workers,
                overwrite=overwrite,
                resume=resume,
                rules_path=rules_path,
                criteria=criteria,
                template_dir=template_dir,
                settings_path=settings_path,
                lang=lang,
                sheet=sheet,
                progress=progress,
                as_of=as_of,
                labs=labs,
                doc_status=doc_status,
                fhir_profile=fhir_profile,
                strict=strict,
                scans_path=scans_path,
                encoding=encoding,
                delimiter=delimiter,
                lock_wait_s=ctx.obj.wait_s,
            )
    finally:
        if progress is not None:
            progress.close()
    finish(result)


@click.command(short_help="Case-series / audit summary (Table 1, dose analysis).")
@input_option
@outdir_option
@click.option(
    "--format",
    "formats",
    default="html,pdf,json",
    show_default=True,
    callback=formats_callback(FORMATS_COHORT),
    help="Comma list of html,pdf,json.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Leave invalid rows out (listed in the report) instead of refusing.",
)
@click.option(
    "--deidentify",
    is_flag=True,
    help="No names, notes or original ids in any output (ids become 1, 2, 3 ...).",
)
@click.option(
    "--max-listing",
    type=click.IntRange(0),
    default=200,
    show_default=True,
    help="Case-listing rows in the PDF/HTML (the full listing is in cohort-cases.csv).",
)
@click.option(
    "--dose-bands",
    "dose_bands",
    default=",".join(f"{edge:g}" for edge in DEFAULT_DOSE_BAND_EDGES_G),
    show_default=True,
    callback=lambda ctx, param, value: dose_bands_callback(value),
    help="Cumulative-dose band edges in g (the rule's threshold is always an edge).",
)
@overwrite_option
@rendering_options
@reading_options
def cohort(
    input_path: Path,
    outdir: Path,
    formats: tuple[str, ...],
    skip_invalid: bool,
    deidentify: bool,
    max_listing: int,
    dose_bands: tuple[float, ...],
    overwrite: bool,
    rules_path: Path | None,
    criteria: str | None,
    template_dir: Path | None,
    settings_path: Path | None,
    lang: str | None,
    sheet: str | None,
    as_of,
    labs: Path | None,
    scans_path: Path | None,
    encoding: str | None,
    delimiter: str | None,
) -> None:
    """The case-series / audit summary of INPUT: cohort-summary.html/.pdf/.json.

    Refuses (exit 1, every problem listed) when a row is invalid, unless --skip-invalid.

    Example:

    \b
        reportgen cohort input/case_series_2020.csv -o output/
    """
    from reportgen import gc_policy

    with gc_policy.one_shot():  # one report, then exit: no collections (-0.7 s CPU)
        from reportgen import api

        result = call(
            api.build_cohort_report,
            input_path,
            outdir,
            formats=formats,
            skip_invalid=skip_invalid,
            deidentify=deidentify,
            max_listing=max_listing,
            dose_band_edges_g=dose_bands,
            overwrite=overwrite,
            rules_path=rules_path,
            criteria=criteria,
            template_dir=template_dir,
            settings_path=settings_path,
            lang=lang,
            sheet=sheet,
            as_of=as_of,
            labs=labs,
            scans_path=scans_path,
            encoding=encoding,
            delimiter=delimiter,
            lock_wait_s=click.get_current_context().obj.wait_s,
        )
    finish(result)

"""The ``reportgen`` command line: parse options, call :mod:`reportgen.api`, report."""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import click

from reportgen import __version__
from reportgen.errors import Interrupted, ReportError

logger = logging.getLogger("reportgen")

FORMATS_PATIENT = ("html", "pdf", "json", "fhir", "fhir-bundle")
FORMATS_COHORT = ("html", "pdf", "json")


def _formats(allowed: tuple[str, ...]):
    def convert(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
        chosen = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
        unknown = [v for v in chosen if v not in allowed]
        if not chosen or unknown:
            raise click.BadParameter(f"choose from {','.join(allowed)} (comma-separated)")
        return chosen

    return convert


def _dose_bands(value: str) -> tuple[float, ...]:
    try:
        edges = tuple(float(v.replace("_", "")) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter("comma-separated grams, e.g. 500,1000") from None
    if not edges or any(e <= 0 for e in edges) or list(edges) != sorted(set(edges)):
        raise click.BadParameter("increasing positive grams, e.g. 500,1000")
    return edges


_AFTER_INTERRUPT = {
    "patient": "; the workers were stopped, temporary files removed, and complete reports "
    "are listed in OUTDIR/manifest.json (--resume finishes the run)",
    "cohort": "; the cohort files in OUTDIR are all as they were before, or all new",
}


@dataclass
class _Options:
    """The group's options, for every command (``ctx.obj``)."""

    quiet: bool = False
    verbose: bool = False
    wait_s: float = 0.0


class _Group(click.Group):
    """Turns the end of a run into its exit status: 130/143 after SIGINT/SIGTERM, and for an
    unexpected exception one line (the traceback with -v) instead of a stack dump."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # Interrupted (SIGTERM) is one too
            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            logger.error(
                "reportgen: interrupted by %s%s",
                signal.Signals(signum).name,
                _AFTER_INTERRUPT.get(ctx.invoked_subcommand or "", ""),
            )
            ctx.exit(128 + signum)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place a bug becomes a message
            _report_bug(ctx, exc)
            ctx.exit(1)


def _report_bug(ctx: click.Context, exc: Exception) -> None:
    """No message text (it may quote patient data) unless -v, which adds the traceback."""
    options = ctx.find_object(_Options)
    where = traceback.extract_tb(exc.__traceback__)[-1]
    logger.error(
        "reportgen: internal error (%s at %s:%d); run again with -v for the "
        "traceback and report it",
        type(exc).__name__,
        Path(where.filename).name,
        where.lineno,
    )
    if options is not None and options.verbose:
        logger.error("".join(traceback.format_exception(exc)).rstrip())


def _setup_logging(quiet: bool, verbose: bool, log_file: Path | None) -> None:
    """stderr: messages as they are (errors only with -q); --log-file: with time stamps."""
    _close_logging()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(console)
    if log_file is not None:
        try:
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(
                f"cannot open {log_file} ({exc.strerror})", param_hint="--log-file"
            ) from None
        handler.setLevel(logging.DEBUG if verbose else logging.INFO)
        handler.setFormatter(
            _FileFormatter("%(asctime)s %(levelname)s pid=%(process)d %(message)s")
        )
        logger.addHandler(handler)


def _close_logging() -> None:
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


class _FileFormatter(logging.Formatter):
    """The log file gets problems without the cell values they quote (patient data)."""

    def format(self, record: logging.LogRecord) -> str:
        redacted = getattr(record, "redacted", None)
        if redacted is not None:
            record = logging.makeLogRecord({**record.__dict__, "msg": redacted, "args": ()})
        return super().format(record)


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def _progress(ctx: click.Context):
    """A redrawn line on a terminal, a line every few seconds otherwise, none with -q."""
    from reportgen.progress import Progress

    if ctx.find_object(_Options).quiet:
        return None
    stream = sys.stderr
    return Progress(stream, terminal=stream.isatty())


_input = click.argument(
    "input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
_outdir = click.option(
    "-o",
    "--output-dir",
    "outdir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the reports and manifest.json.",
)
_rules = click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML/JSON file overriding any subset of the rule set.",
)
_criteria = click.option(
    "--criteria",
    type=click.Choice(["jos2012", "jos2000"]),
    help="Japanese criteria version (default: the rule set's, jos2012).",
)
_sheet = click.option("--sheet", help="XLSX sheet name (default: the first sheet).")
_encoding = click.option(
    "--encoding",
    help="Text encoding of a CSV/JSON input, e.g. cp1252 "
    "(default: UTF-8, or CP932 when the text is plausibly Japanese).",
)
_delimiter = click.option(
    "--delimiter",
    type=click.Choice([",", ";", "tab"]),
    help="CSV separator (default: the commonest of , ; tab in row 1). "
    "In ';' files a comma is a decimal comma.",
)
_template_dir = click.option(
    "--template-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory whose templates override the shipped ones.",
)
_settings = click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Organisation settings (TOML [organisation]): name, department, "
    "address, logo, identifier_system, language.",
)
_lang = click.option(
    "--lang",
    "lang",
    type=click.Choice(["en", "ja"]),
    help="Report language (default: the settings' language, else en).",
)
_overwrite = click.option("--overwrite", is_flag=True, help="Replace existing output files.")
_scans = click.option(
    "--scans",
    "scans_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="DXA scans, one row per scan date and site (CSV, XLSX or JSON): "
    "every site's results and the change against the LSC.",
)


def _as_of(ctx, param, value: str | None):
    if value is None:
        return None
    from reportgen.exposure import parse_as_of

    try:
        return parse_as_of(value)
    except ValueError:
        raise click.BadParameter(
            "an ISO date or date-time, e.g. 2025-03-05 or 2025-03-05T14:00"
        ) from None


_as_of_option = click.option(
    "--as-of",
    "as_of",
    callback=_as_of,
    metavar="DATE",
    help="Count MgSO4 infusions up to this moment (inpatients; a "
    'running infusion has "end": null). A date means 00:00.',
)
_labs = click.option(
    "--labs",
    "labs",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Lab file in long format: patient_id, date, test, value, unit.",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reportgen")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr (no progress).")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="More detail; an internal error shows its traceback (for bug reports).",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also append messages, time-stamped, to this file (no patient values).",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for another run writing to the same OUTDIR, then refuse.",
)
@click.pass_context
def cli(
    ctx: click.Context, quiet: bool, verbose: bool, log_file: Path | None, wait_s: float
) -> None:
    """Postpartum bone-health reports: MgSO4 tocolysis exposure, DXA (YAM %), fractures,
    JOS 2012 classification (PLO), risk rules with their evidence.

    Exit status: 0 success, 1 data problems (invalid rows, some reports not made, a write
    error), 2 usage errors, 130 after Ctrl-C (SIGINT), 143 after SIGTERM.
    """
    if quiet and verbose:
        raise click.UsageError("-q and -v cannot be used together")
    ctx.obj = _Options(quiet=quiet, verbose=verbose, wait_s=wait_s)
    _setup_logging(quiet, verbose, log_file)
    ctx.call_on_close(_close_logging)
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


@cli.command(short_help="Check an input file; list every problem.")
@_input
@_sheet
@_as_of_option
@_labs
@_scans
@_encoding
@_delimiter
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
        rows = len({p.row for p in errors})
        logger.info("%d problem(s) in %d row(s) of %s", len(errors), rows, input_path)
        sys.exit(1)
    logger.info("%s: OK", input_path)


@cli.command(short_help="Discharge reports, one per patient (HTML, PDF/A, JSON, FHIR).")
@_input
@_outdir
@click.option("--id", "ids", multiple=True, help="Only this patient id (repeatable).")
@click.option(
    "--format",
    "formats",
    default="html,pdf,json",
    show_default=True,
    callback=_formats(FORMATS_PATIENT),
    help="Comma list of html,pdf,json,fhir,fhir-bundle.",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), help="Worker processes (default: one per core)."
)
@_overwrite
@click.option(
    "--resume",
    is_flag=True,
    help="Finish an interrupted run: skip reports already complete for this input.",
)
@_rules
@_criteria
@_template_dir
@_settings
@_lang
@_sheet
@_as_of_option
@_labs
@_scans
@_encoding
@_delimiter
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
    progress = _progress(ctx)
    try:
        with gc_policy.one_shot():  # no collections in the imports and a single report
            from reportgen import api

            result = _call(
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
    _finish(result)


@cli.command(short_help="Case-series / audit summary (Table 1, dose analysis).")
@_input
@_outdir
@click.option(
    "--format",
    "formats",
    default="html,pdf,json",
    show_default=True,
    callback=_formats(FORMATS_COHORT),
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
    default="500,1000",
    show_default=True,
    callback=lambda ctx, param, value: _dose_bands(value),
    help="Cumulative-dose band edges in g (the rule's threshold is always an edge).",
)
@_overwrite
@_rules
@_criteria
@_template_dir
@_settings
@_lang
@_sheet
@_as_of_option
@_labs
@_scans
@_encoding
@_delimiter
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
    from reportgen import api

    result = _call(
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
    _finish(result)


@cli.command(short_help="Print the rule set in force, with evidence.")
@_rules
@_criteria
@click.option("--json", "as_json", is_flag=True, help="Print the rule set as JSON.")
def rules(rules_path: Path | None, criteria: str | None, as_json: bool) -> None:
    """Print the rule set in force: ids, conditions, thresholds, evidence.

    Example:

    \b
        reportgen rules --rules my-thresholds.toml
    """
    import json

    from reportgen import api

    described = api.describe_rules(_call(api.load_rules, rules_path, criteria=criteria))
    if as_json:
        click.echo(json.dumps(described, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"Rule set {described['name']} {described['version']} "
        f"(criteria {described['criteria']}; {described['specification']})\n"
    )
    bone = described["bone_status"]
    click.echo("Bone status (first match wins):")
    for status in ("osteoporosis", "low_bone_mass", "normal"):
        click.echo(f"  {status:<14} {bone[status]}")
    click.echo(f"  evidence: {bone['evidence']}")
    click.echo("  Fracture sites:")
    for kind, words in bone["fracture_sites"].items():
        click.echo(f"    {kind:<16} {words}")
    iscd = described["iscd"]
    click.echo(f"\nISCD (Z-score ≤ {iscd['z_below_expected_max']:g}): {iscd['below']}")
    click.echo(f"  evidence: {iscd['evidence']}")
    click.echo(f"\nSecondary causes listed beside PLO: {', '.join(described['secondary_causes'])}")
    click.echo("\nRisk flags (reported as present / absent / not recorded):")
    for rule in described["risk_rules"]:
        click.echo(f"  {rule['id']:<28} present when {rule['condition']}")
        click.echo(f"  {'':<28} evidence: {rule['evidence']}")
        if rule["caveat"]:
            click.echo(f"  {'':<28} caveat: {rule['caveat']}")
    click.echo("\nData-quality checks (shown in reports, never risk):")
    for check in described["data_quality"]["checks"]:
        click.echo(f"  {check}")
    click.echo("\nRecommendations:")
    for rec in described["recommendations"]:
        when = " or ".join(rec["statuses"] + [f"flag {f}" for f in rec["flags"]] + rec["facts"])
        needs = "".join(f"; only if {f}" for f in rec["requires"])
        click.echo(f"  {rec['id']:<36} when {when}{needs}")
        for variant in rec["variants"]:
            click.echo(f"  {'':<36} if {variant['when']}: {variant['text']}")


@cli.command(short_help="POST the FHIR bundles of OUTDIR to a FHIR server.")
@click.argument("outdir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--fhir-base",
    required=True,
    metavar="URL",
    help="The server's FHIR base URL (https://; http:// only to localhost).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File whose first line is the bearer token (never printed).",
)
@click.option("--dry-run", is_flag=True, help="Check and list what would be sent; no request.")
@click.option(
    "--allow-insecure", is_flag=True, help="Allow plain http:// to a host other than localhost."
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(0.1, 600),
    default=30.0,
    show_default=True,
    help="Seconds per request.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=3,
    show_default=True,
    help="Retries of a transient failure (5xx, 429, timeout, no connection).",
)
def send(
    outdir: Path,
    fhir_base: str,
    token_file: Path | None,
    dry_run: bool,
    allow_insecure: bool,
    timeout_s: float,
    retries: int,
) -> None:
    """POST each patient-<id>.bundle.json listed in OUTDIR/manifest.json to the FHIR server
    at --fhir-base, and record each answer (status, ids) in the manifest.

    The patient (and the organisation, when configured) must already exist on the server:
    each is looked up by identifier first. A bundle already on the server is not sent again.
    A refusal is shown with the server's diagnostics; exit status 1 if any file failed.

    Example:

    \b
        reportgen send output/ --fhir-base https://ehr.example.org/fhir --token-file token.txt
    """
    from reportgen.send import SendError, SendOptions, check_base_url, read_token, send_outdir

    try:
        check_base_url(fhir_base, allow_insecure=allow_insecure)
    except SendError as exc:
        raise click.BadParameter(str(exc), param_hint="--fhir-base") from None
    options = SendOptions(
        base_url=fhir_base,
        token=_call(read_token, token_file),
        timeout_s=timeout_s,
        retries=retries,
        allow_insecure=allow_insecure,
    )

    def report(result) -> None:
        if result.status == "failed":
            click.echo(f"Error: {result.error}", err=True)
        elif result.status == "would-send":
            click.echo(f"{result.path}: would POST {len(result.entries)} entries", err=True)
        elif result.status == "already-present":
            click.echo(
                f"{result.path}: already on the server as {result.document_reference}", err=True
            )
        else:
            click.echo(
                f"{result.path}: {result.status} {result.document_reference} "
                f"({len(result.entries)} entries)",
                err=True,
            )

    results = _call(
        send_outdir,
        outdir,
        options,
        dry_run=dry_run,
        on_result=report,
        lock_wait_s=click.get_current_context().obj.wait_s,
    )
    failed = sum(r.status == "failed" for r in results)
    click.echo(
        f"{len(results) - failed} of {len(results)} bundle(s) "
        + ("checked (dry run)" if dry_run else "delivered"),
        err=True,
    )
    if not dry_run:
        click.echo(str(outdir / "manifest.json"))  # where the answers are recorded
    if failed:
        sys.exit(1)


@cli.command(short_help="Print a blank, commented template: input, settings or scans.")
@click.argument("kind", type=click.Choice(["input", "settings", "scans"]))
def template(kind: str) -> None:
    """Print a blank, commented template of KIND to stdout: ``input`` (the patient CSV, every
    column explained in leading # lines, which the loader skips), ``settings`` (the
    organisation TOML) or ``scans`` (the DXA scans CSV).

    Example:

    \b
        reportgen template input > new-cohort.csv
    """
    from reportgen import api

    click.echo(api.blank_template(kind), nl=False)


def _call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None


def _finish(result) -> None:
    for problem in result.problems:
        level = logging.ERROR if problem.severity == "error" else logging.WARNING
        logged = dataclasses.replace(problem.redacted(), input=problem.input)
        logger.log(level, "%s", problem, extra={"redacted": str(logged)})
    logger.info(
        "%d file(s) in %s%s",
        len(result.files),
        result.outdir,
        f" ({result.skipped} report(s) already complete)" if result.skipped else "",
    )
    if result.files:
        click.echo(str(result.outdir / "manifest.json"))
    if not result.ok:
        sys.exit(1)

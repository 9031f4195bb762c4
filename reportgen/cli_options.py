"""What the commands share: their options, the group's state, and the run's end."""

from __future__ import annotations

import dataclasses
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from reportgen.errors import ReportError

logger = logging.getLogger("reportgen")

FORMATS_PATIENT = ("html", "pdf", "json", "fhir", "fhir-bundle")
FORMATS_COHORT = ("html", "pdf", "json")


def formats_callback(allowed: tuple[str, ...]):
    def convert(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
        chosen = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
        unknown = [v for v in chosen if v not in allowed]
        if not chosen or unknown:
            raise click.BadParameter(f"choose from {','.join(allowed)} (comma-separated)")
        return chosen

    return convert


def dose_bands_callback(value: str) -> tuple[float, ...]:
    from reportgen.dose_bands import check_dose_band_edges

    try:
        edges = [float(v.replace("_", "")) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter("comma-separated grams, e.g. 500,1000") from None
    try:
        return check_dose_band_edges(edges)
    except ReportError as error:
        raise click.BadParameter(str(error).removeprefix("dose bands: ")) from None


@dataclass
class Options:
    """The group's options, for every command (``ctx.obj``)."""

    quiet: bool = False
    verbose: bool = False
    wait_s: float = 0.0


def progress_for(ctx: click.Context):
    """A redrawn line on a terminal, a line every few seconds otherwise, none with -q."""
    from reportgen.progress import Progress

    options = ctx.find_object(Options)
    if options is not None and options.quiet:
        return None
    stream = sys.stderr
    return Progress(stream, terminal=stream.isatty())


input_option = click.argument(
    "input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
outdir_option = click.option(
    "-o",
    "--output-dir",
    "outdir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the reports and manifest.json.",
)
rules_option = click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML/JSON file overriding any subset of the rule set.",
)
criteria_option = click.option(
    "--criteria",
    type=click.Choice(["jos2012", "jos2000"]),
    help="Japanese criteria version (default: the rule set's, jos2012).",
)
sheet_option = click.option("--sheet", help="XLSX sheet name (default: the first sheet).")
encoding_option = click.option(
    "--encoding",
    help="Text encoding of a CSV/JSON input, e.g. cp1252 "
    "(default: UTF-8, or CP932 when the text is plausibly Japanese).",
)
delimiter_option = click.option(
    "--delimiter",
    type=click.Choice([",", ";", "tab"]),
    help="CSV separator (default: the commonest of , ; tab in row 1). "
    "In ';' files a comma is a decimal comma.",
)
template_dir_option = click.option(
    "--template-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory whose templates override the shipped ones.",
)
settings_option = click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Organisation settings (TOML [organisation]): name, department, "
    "address, logo, identifier_system, language.",
)
lang_option = click.option(
    "--lang",
    "lang",
    type=click.Choice(["en", "ja"]),
    help="Report language (default: the settings' language, else en).",
)
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace existing output files.")
scans_option = click.option(
    "--scans",
    "scans_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="DXA scans, one row per scan date and site (CSV, XLSX or JSON): "
    "every site's results and the change against the LSC.",
)


def _parse_as_of(ctx, param, value: str | None):
    if value is None:
        return None
    from reportgen.exposure import parse_as_of

    try:
        return parse_as_of(value)
    except ValueError:
        raise click.BadParameter(
            "an ISO date or date-time, e.g. 2025-03-05 or 2025-03-05T14:00"
        ) from None
    except ReportError as error:
        raise click.BadParameter(str(error).split(": ", 1)[1]) from None


as_of_option = click.option(
    "--as-of",
    "as_of",
    callback=_parse_as_of,
    metavar="DATE",
    help="Count MgSO4 infusions up to this moment (inpatients; a "
    'running infusion has "end": null). A date means 00:00.',
)
labs_option = click.option(
    "--labs",
    "labs",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Lab file in long format: patient_id, date, test, value, unit.",
)


def _stack(*options):
    """One decorator applying ``options`` in the order listed (as written one above another)."""

    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command

    return apply


reading_options = _stack(
    sheet_option, as_of_option, labs_option, scans_option, encoding_option, delimiter_option
)
"""How an input is read (``validate``, ``patient``, ``cohort``)."""
rendering_options = _stack(
    rules_option, criteria_option, template_dir_option, settings_option, lang_option
)
"""What a report is rendered with (``patient``, ``cohort``)."""


def call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None


def finish(result) -> None:
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

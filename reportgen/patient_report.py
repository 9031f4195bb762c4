"""One patient's report in memory: a record in, the bytes of each format out; no files.

:func:`render_patient` checks a plain mapping exactly as a row of a JSON input file;
:func:`render_record` renders a record that is already checked (the batch workers' call)."""

from __future__ import annotations

import atexit
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen import __version__, i18n
from reportgen.errors import Problem, ReportError
from reportgen.output import dump_json, sanitise_id
from reportgen.settings import Organisation, ReportSettings, with_language

if TYPE_CHECKING:
    from reportgen.reports import ReportRenderer
    from reportgen.rules import RuleSet

PATIENT_FORMATS = ("html", "pdf", "json", "fhir", "fhir-bundle")
DEFAULT_FORMATS = ("html", "pdf", "json")
FHIR_FORMATS = ("fhir", "fhir-bundle")
_NEED_PDF = {"pdf", *FHIR_FORMATS}
_LOCAL = threading.local()  # one renderer per thread (and template folder, organisation)
_RENDERERS_KEPT = 4  # per thread: a long-lived process that varies --template-dir stays bounded


class InvalidRecord(ReportError):
    """The record is not a valid patient row; ``problems`` lists every error, located as
    ``SOURCE:1:column: message`` (row 1: the record)."""

    def __init__(self, source: str, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: invalid patient record ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class RenderOptions:
    """How a run renders each patient (picklable, sent to the workers once)."""

    formats: tuple[str, ...] = DEFAULT_FORMATS
    generated_at: str = "1970-01-01T00:00:00Z"
    source_name: str = "record"
    lang: str = "en"
    doc_status: str = "preliminary"  # FHIR docStatus (--doc-status)
    fhir_profile: str = "uscore"  # FHIR document codes (--fhir-profile)
    template_dir: str | None = None


def render_patient(
    record: Mapping[str, object],
    *,
    formats: Sequence[str] = DEFAULT_FORMATS,
    rules: RuleSet | None = None,
    settings: ReportSettings | None = None,
    criteria: str | None = "jos2012",
    lang: str | None = None,
    as_of: datetime | None = None,
    generated_at: str | None = None,
    source_name: str = "record",
    doc_status: str = "preliminary",
    fhir_profile: str = "uscore",
    template_dir: Path | str | None = None,
    stem: str | None = None,
) -> dict[str, bytes]:
    """The patient's report as ``{format: bytes}``, rendered in memory; nothing is written.

    :param record: one patient as a mapping of column (or alias) to value, as one object of a
        JSON input (``infusions`` and ``scans`` lists included); dates as ISO text or
        ``date``/``datetime``.
    :param rules: the rule set (default: the shipped one, with ``criteria``; ``criteria`` is
        not used when ``rules`` is given).
    :param settings: from :func:`reportgen.settings.load_report_settings` (default: none).
    :param lang: ``en`` or ``ja`` (default: the settings' language).
    :param generated_at: the time stamp in the report (default: ``SOURCE_DATE_EPOCH`` or now).
    :param stem: the file stem the HTML links its JSON by (default: from the patient id).
    :raises InvalidRecord: listing every problem when the record is not a valid row.
    """
    from reportgen.rules import load_rules
    from reportgen.run_options import check_fhir_options, generation_time, resolve_language

    settings = settings or ReportSettings()
    rules = rules or load_rules(None, criteria=criteria)
    check_fhir_options(doc_status, fhir_profile)
    unknown = [f for f in formats if f not in PATIENT_FORMATS]
    if unknown:
        raise ReportError(f"formats must be among {', '.join(PATIENT_FORMATS)}, not {unknown}")
    options = RenderOptions(
        formats=tuple(formats),
        generated_at=generated_at or generation_time(),
        source_name=source_name,
        lang=resolve_language(lang, settings.organisation),
        doc_status=doc_status,
        fhir_profile=fhir_profile,
        template_dir=None if template_dir is None else str(template_dir),
    )
    checked = check_record(record, source=source_name, as_of=as_of)
    stem = stem or sanitise_id(str(checked["patient_id"]))
    return render_record(checked, rules, settings, options, stem=stem)


def check_record(
    record: Mapping[str, object], *, source: str = "record", as_of: datetime | None = None
) -> dict:
    """``record`` validated and typed as a JSON input's row (with its ``_scans``), or
    :class:`InvalidRecord` with every error; warnings (an unknown key, say) do not refuse it."""
    from reportgen.inputs import attach_scans, load_scan_set, prepare_json, select_records
    from reportgen.json_input import read_json

    if not isinstance(record, Mapping):
        raise InvalidRecord(source, [Problem(source, 0, "-", "the record must be a mapping")])
    try:
        data = json.dumps(dict(record), default=_json_value)  # \uXXXX: lone surrogates too
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(source, [Problem(source, 1, "-", str(exc))]) from None
    table = prepare_json(read_json(data.encode("ascii"), source, None), as_of=as_of)
    records, problems = select_records(table, ())
    records = attach_scans(records, problems, load_scan_set(table, None), source)
    errors = [p for p in problems if p.severity == "error"]
    if errors or not records:
        raise InvalidRecord(source, errors or [Problem(source, 1, "-", "no valid patient")])
    return records[0]


def _json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"a value of type {type(value).__name__} is not JSON data")


def render_record(
    record: Mapping[str, object],
    rules: RuleSet,
    settings: ReportSettings,
    options: RenderOptions,
    *,
    stem: str,
) -> dict[str, bytes]:
    """The bytes of each of ``options.formats`` for a checked record, in that order."""
    org = with_language(settings.organisation, options.lang)
    with i18n.using(options.lang, org.calendar):
        return _render(record, rules, settings, org, options, stem)


def _render(
    record: Mapping[str, object],
    rules: RuleSet,
    settings: ReportSettings,
    org: Organisation,
    options: RenderOptions,
    stem: str,
) -> dict[str, bytes]:
    from reportgen.assess import assess_record, assessment_json

    assessment = assess_record(
        dict(record), rules, settings.dxa, lab_intervals=settings.lab_intervals
    )
    document = assessment_json(
        assessment,
        rules,
        tool_version=__version__,
        generated_at=options.generated_at,
        source_name=options.source_name,
    )
    formats = options.formats
    json_bytes = dump_json(document)
    outputs: dict[str, bytes] = {}
    if "json" in formats:
        outputs["json"] = json_bytes
    if not {"html", *_NEED_PDF} & set(formats):
        return outputs
    renderer = _renderer(options.template_dir, org)
    html, pdf = renderer.patient(
        assessment,
        document,
        json_bytes,
        rules,
        options,
        stem=stem,
        want_pdf=bool(_NEED_PDF & set(formats)),
    )
    if "html" in formats:
        outputs["html"] = html.encode("utf-8")
    if "pdf" in formats:
        assert pdf is not None
        outputs["pdf"] = pdf
    for fmt in FHIR_FORMATS:
        if fmt in formats:
            assert pdf is not None
            outputs[fmt] = _fhir(fmt, document, pdf, renderer.settings, options)
    return outputs


def _fhir(fmt: str, document: dict, pdf: bytes, org: Organisation, options: RenderOptions) -> bytes:
    if fmt == "fhir":
        from reportgen.fhir import document_reference_json as make
    else:
        from reportgen.fhir_bundle import transaction_bundle_json as make
    return make(
        document,
        pdf,
        org,
        options.generated_at,
        doc_status=options.doc_status,
        profile=options.fhir_profile,
    )


def _renderer(template_dir: str | None, org: Organisation) -> ReportRenderer:
    """This thread's renderer for the template folder and organisation, built once (heavy:
    WeasyPrint, matplotlib, the templates)."""
    from reportgen.reports import ReportRenderer

    cache: dict = _LOCAL.__dict__.setdefault("renderers", {})
    key = (template_dir, org)
    renderer = cache.pop(key, None) or ReportRenderer(template_dir, organisation=org)
    cache[key] = renderer  # most recently used last
    while len(cache) > _RENDERERS_KEPT:
        del cache[next(iter(cache))]
    return renderer


def _forget_renderers() -> None:
    """Drop this thread's renderers while the interpreter is whole: WeasyPrint's
    ``FontConfiguration.__del__`` needs ``shutil`` to remove its font folder."""
    _LOCAL.__dict__.pop("renderers", None)


atexit.register(_forget_renderers)

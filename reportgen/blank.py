"""Blank, commented templates for ``reportgen template input|settings|scans``.

The templates are derived from :data:`reportgen.columns.COLUMNS`,
:data:`reportgen.scans.SCAN_COLUMNS`, the settings dataclass and the lab tests (one place for
each fact);
the CSV loader skips the leading ``#`` lines, so the template validates as soon as rows are
added."""

from __future__ import annotations

from dataclasses import fields

from reportgen.columns import COLUMNS, Column
from reportgen.labs import LAB_TESTS
from reportgen.scans import SCAN_COLUMNS
from reportgen.settings import SECTION, Organisation

TEMPLATE_KINDS = ("input", "settings", "scans")

_KIND_TEXT = {
    "text": "text",
    "number": "number",
    "integer": "whole number",
    "boolean": "yes/no",
    "smoking": "never | before_pregnancy | during_pregnancy",
    "date": "ISO date (YYYY-MM-DD)",
    "gestation": "gestational age as weeks+days, e.g. 23+4",
}
_ONE_OF = {
    "bmi_kg_m2": "required unless height_cm and weight_kg are given",
    "mgso4_days": "required (or an infusions list in JSON)",
    "mgso4_total_g": "required (or an infusions list in JSON)",
}
# Scans columns whose type alone does not say enough (contract v2 §4).
_SCAN_NOTES = {
    "patient_id": "must exist in the main input",
    "site": "L1-L4 or a sub-range such as L2-L4, femoral_neck, total_hip, radius_1_3",
    "device": "comparisons only between scans of the same device",
    "excluded_vertebrae": "e.g. L2: fractured or artefact",
}
_SETTINGS_HELP = {
    "name": "Report header (first line, bold) and the PDF's author.",
    "department": "Second header line.",
    "address": "Third header line.",
    "logo": "PNG or JPEG (at most 512 KiB), path relative to this file.",
    "identifier_system": "FHIR subject identifier system: the namespace of your patient ids "
    "(an absolute URI).",
    "language": "Document language (BCP 47), e.g. en, en-GB, ja.",
    "organisation_identifier": "FHIR author/custodian identifier: '<system URI>|<value>'.",
}


def blank_template(kind: str) -> str:
    """The blank template of ``kind`` (one of :data:`TEMPLATE_KINDS`) as text."""
    if kind == "input":
        return _csv_template(
            "reportgen input: one row per patient; headers are case-insensitive.",
            [(c.name, _describe(c)) for c in COLUMNS.values()],
        )
    if kind == "scans":
        return _csv_template(
            "reportgen scans (--scans FILE): one row per scan date and site.",
            [(c.name, _describe(c, _SCAN_NOTES.get(c.name))) for c in SCAN_COLUMNS.values()],
        )
    if kind == "settings":
        return _settings_template()
    raise ValueError(f"unknown template {kind!r}; choose from {', '.join(TEMPLATE_KINDS)}")


def _describe(column: Column, note: str | None = None) -> str:
    if column.kind == "choice":
        text = " | ".join(column.choices)
    else:
        text = _KIND_TEXT.get(column.kind, column.kind)
    if note:
        text += f" ({note})"
    if column.low is not None and column.high is not None:
        text += f", {column.low:g}–{column.high:g}"
    if column.name in _ONE_OF:
        return f"{text}, {_ONE_OF[column.name]}"
    return f"{text}, {'required' if column.required else 'optional (blank = not recorded)'}"


def _csv_template(title: str, columns: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in columns)
    lines = [
        f"# {title}",
        "# Lines starting with # before the header are ignored; delete them if you like.",
        "#",
    ]
    lines += [f"# {name:<{width}}  {help_text}" for name, help_text in columns]
    lines.append(",".join(name for name, _ in columns))
    return "\n".join(lines) + "\n"


def _settings_template() -> str:
    lines = [
        "# reportgen organisation settings: pass with --settings FILE. Every key is optional;",
        "# unknown tables or keys are an error.",
        "",
        f"[{SECTION}]",
    ]
    defaults = Organisation()
    for field in fields(Organisation):
        lines.append(f"# {_SETTINGS_HELP.get(field.name, field.name)}")
        lines.append(f"# {field.name} = {getattr(defaults, field.name)!r}".replace("'", '"'))
    lines += [
        "",
        "# Lab reference intervals: [labs.<test>] low, high (and source) replace the shipped ones.",
        "# Shipped defaults:",
    ]
    for test in LAB_TESTS.values():
        low = "" if test.low is None else f"low = {test.low:g}"
        high = "" if test.high is None else f"high = {test.high:g}"
        shown = ", ".join(part for part in (low, high) if part)
        lines.append(f"# [labs.{test.test}]  {shown}  ({test.unit}; {test.source})")
    return "\n".join(lines) + "\n"

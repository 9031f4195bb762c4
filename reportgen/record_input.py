"""A small JSON input checked record by record, without pandas: the single patient's path.

A one-patient report from JSON (the ward's ``reportgen patient one.json``, or
``api.render_patient``) spent a quarter of its cold start importing pandas for one row.
:func:`prepare_records` runs the checks of :func:`reportgen.records.prepare_table` on
plain dicts, with the same parsers (:mod:`reportgen.cells`) and row rules
(:mod:`reportgen.row_rules`); ``tests/test_record_input.py`` proves both give the same
records and problems. Larger JSON (more than :data:`MAX_RECORDS` patients), a lab file or
embedded ``scans`` take the frame path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import cast

from reportgen import input_text
from reportgen.cells import (
    Cell,
    kind_message,
    parse_cell,
    plain_moment,
    plain_number,
    range_message,
    shown,
)
from reportgen.columns import COLUMNS, REQUIRED_COLUMNS
from reportgen.errors import Problem, ProblemList, check_problem_count
from reportgen.exposure import check_as_of
from reportgen.input_text import CONTROL, FREE_TEXT, PRINTED_TEXT, SURROGATE, SURROGATE_MESSAGE
from reportgen.json_input import JsonRows
from reportgen.printable import UNPRINTABLE_MESSAGE, unprintable
from reportgen.row_rules import (
    BLANK_ALLOWED,
    derived_bmi,
    discharged_before_admitted,
    id_text_problems,
    missing_columns,
    missing_value_message,
    para_message,
    parsed_infusions,
    stay_message,
    summarise_infusions,
    unknown_columns,
)

MAX_RECORDS = 100  # a ward's file; beyond it the frame path's per-column work is cheaper
_FROM_INFUSION_COLUMNS = (
    "mgso4_days",
    "mgso4_total_g",
    "_mgso4_start",
    "_mgso4_end",
    "_infusions",
    "_as_of",
)
_HEADER_ROW = 1  # where a JSON's "column" problems are placed (as the frame path does)


@dataclass
class PreparedRecords(ProblemList):
    """Typed records (valid and invalid, each with ``_row``), which are valid, every problem."""

    source: str
    records: list[dict[str, object]]
    valid: list[bool]
    problems: list[Problem]
    scans: dict[int, object] = field(default_factory=dict)  # always empty: scans go by frame

    @property
    def valid_records(self) -> list[dict[str, object]]:
        return [r for r, ok in zip(self.records, self.valid, strict=True) if ok]


def fits(rows: JsonRows) -> bool:
    """Whether ``rows`` take this path: few records and no embedded scans."""
    return len(rows.records) <= MAX_RECORDS and not rows.scans


def prepare_records(
    rows: JsonRows, *, as_of: datetime | None = None, today: date | None = None
) -> PreparedRecords:
    """Coerce, derive and check every record; collect all problems, never stop at the first.

    ``as_of`` counts infusions up to that moment (a running infusion needs it)."""
    source, positions = rows.source, rows.positions
    if len(rows.records) > input_text.MAX_ROWS:
        raise input_text.too_many_rows(source, len(rows.records))
    today = today or date.today()
    if as_of is not None:
        check_as_of(as_of, today)
    headers = rows.columns()
    problems = list(rows.problems)
    cells = _checked_text(rows, headers, problems)
    problems += unknown_columns(headers, source, _HEADER_ROW)
    columns = [name for name in headers if name in COLUMNS]
    records: list[dict[str, object]] = [{} for _ in positions]
    for name in columns:
        for record, row, text in zip(records, positions, cells[name], strict=True):
            cell = parse_cell(COLUMNS[name], text, today)
            record[name] = cell.value
            problems += _cell_problems(cell, source, row, name)
        check_problem_count(problems, source)
    derived = ["" for _ in records]
    problems += _derive_from_infusions(records, derived, rows, as_of, columns, today)
    check_problem_count(problems, source)
    _derive_bmi(records, derived, columns)
    had_yam = "yam_percent" in columns
    for name in (*REQUIRED_COLUMNS, "bmi_kg_m2"):
        if name not in columns and (had_yam or name not in BLANK_ALLOWED):
            columns.append(name)
            for record in records:
                record[name] = None
    column_problems = missing_columns(
        columns,
        headers,
        source,
        _HEADER_ROW,
        infusions_everywhere=bool(rows.infusions) and len(rows.infusions) == len(records),
    )
    problems += column_problems
    located = {(p.row, p.column) for p in problems}
    problems += [
        p
        for p in _missing_values(records, positions, source, columns)
        if (p.row, p.column) not in located
    ]
    problems += _duplicate_ids(records, positions, source, columns)
    problems += _cross_checks(records, positions, source, columns)
    check_problem_count(problems, source)
    for record, row, extra in zip(records, positions, derived, strict=True):
        record["_row"] = row
        record["_derived"] = extra.strip(",")
        _make_plain(record)
    bad_rows = {p.row for p in problems if p.severity == "error"}
    valid = [row not in bad_rows and not column_problems for row in positions]
    problems.sort(key=lambda p: p.order)
    return PreparedRecords(source, records, valid, problems)


def _checked_text(
    rows: JsonRows, headers: list[str], problems: list[Problem]
) -> dict[str, list[str]]:
    """Each column's cells ("" where a record lacks the key): lone surrogates refused, control
    characters out of free text, over-long cells refused (as ``loaders._check_size``)."""
    out: dict[str, list[str]] = {}
    for name in headers:
        column = []
        for record, row in zip(rows.records, rows.positions, strict=True):
            text = record.get(name, "")
            if SURROGATE.search(text):
                problems.append(Problem(rows.source, row, name, SURROGATE_MESSAGE))
                text = ""
            if name in FREE_TEXT:
                text = CONTROL.sub(" ", text)
            if name in PRINTED_TEXT and unprintable(text):
                problems.append(Problem(rows.source, row, name, UNPRINTABLE_MESSAGE))
            if len(text) > input_text.MAX_CELL_CHARS:
                problems.append(
                    Problem(rows.source, row, name, input_text.length_message(len(text)))
                )
                text = ""
            column.append(text)
        out[name] = column
    return out


def _cell_problems(cell: Cell, source: str, row: int, name: str) -> list[Problem]:
    if cell.bad:
        return [Problem(source, row, name, f"{kind_message(COLUMNS[name])}: {shown(cell.text)}")]
    if cell.out_of_range:
        return [Problem(source, row, name, f"{range_message(COLUMNS[name])}: {shown(cell.text)}")]
    return []


def _derive_from_infusions(
    records: list[dict[str, object]],
    derived: list[str],
    rows: JsonRows,
    as_of: datetime | None,
    columns: list[str],
    today: date,
) -> list[Problem]:
    if not rows.infusions:
        return []
    for name in _FROM_INFUSION_COLUMNS:
        if name not in columns:
            columns.append(name)
            for record in records:
                record[name] = None
    problems: list[Problem] = []
    for index, infusions in rows.infusions.items():
        record, row = records[index], rows.positions[index]
        totals, found = summarise_infusions(infusions, rows.source, row, as_of, today)
        problems += found
        check_problem_count(problems, rows.source)
        if totals is None:
            continue
        days, grams = totals
        parsed = parsed_infusions(infusions)
        record["_mgso4_start"] = min(start for start, _, _ in parsed)
        record["_mgso4_end"] = max(cast(list[datetime], [end or as_of for _, end, _ in parsed]))
        record["_infusions"] = [[a.isoformat(), b and b.isoformat(), r] for a, b, r in parsed]
        record["_as_of"] = as_of.isoformat() if as_of else None
        if record["mgso4_days"] is None:
            record["mgso4_days"] = days
            derived[index] += ",mgso4_days"
        if record["mgso4_total_g"] is None:
            record["mgso4_total_g"] = round(grams, 1)
            derived[index] += ",mgso4_total_g"
    return problems


def _derive_bmi(records: list[dict[str, object]], derived: list[str], columns: list[str]) -> None:
    if not {"height_cm", "weight_kg"} <= set(columns):
        return
    if "bmi_kg_m2" not in columns:
        columns.append("bmi_kg_m2")
        for record in records:
            record["bmi_kg_m2"] = None
    for index, record in enumerate(records):
        weight, height = record["weight_kg"], record["height_cm"]
        if record["bmi_kg_m2"] is None and weight is not None and height is not None:
            record["bmi_kg_m2"] = derived_bmi(float(weight), float(height))  # type: ignore[arg-type]
            if record["bmi_kg_m2"] is not None:  # none from implausible inputs
                derived[index] += ",bmi_kg_m2"


def _missing_values(
    records: list[dict[str, object]], positions: Sequence[int], source: str, columns: list[str]
) -> list[Problem]:
    return [
        Problem(source, row, name, missing_value_message(name))
        for name in (*REQUIRED_COLUMNS, "bmi_kg_m2")
        if name in columns and name not in BLANK_ALLOWED
        for record, row in zip(records, positions, strict=True)
        if record[name] is None and not (name == "bmi_kg_m2" and _bmi_inputs_given(record))
    ]


def _bmi_inputs_given(record: dict[str, object]) -> bool:
    """Weight and height given but no BMI: implausible, as their range errors say."""
    return record.get("weight_kg") is not None and record.get("height_cm") is not None


def _duplicate_ids(
    records: list[dict[str, object]], positions: Sequence[int], source: str, columns: list[str]
) -> list[Problem]:
    if "patient_id" not in columns:
        return []
    first_row: dict[object, int] = {}
    problems, kept_ids, kept_rows = [], [], []
    for record, row in zip(records, positions, strict=True):
        pid = record["patient_id"]
        if pid is not None and pid in first_row:
            problems.append(
                Problem(
                    source,
                    row,
                    "patient_id",
                    f"duplicate patient_id (first in row {first_row[pid]})",
                )
            )
            continue
        if pid is not None:
            first_row[pid] = row
        kept_ids.append(pid)
        kept_rows.append(row)
    return problems + id_text_problems(kept_ids, kept_rows, source)


def _cross_checks(
    records: list[dict[str, object]], positions: Sequence[int], source: str, columns: list[str]
) -> list[Problem]:
    problems = []
    if {"gravida", "para"} <= set(columns):
        problems += [
            Problem(source, row, "para", para_message(record["para"], record["gravida"]))
            for record, row in zip(records, positions, strict=True)
            if record["para"] is not None
            and record["gravida"] is not None
            and record["para"] > record["gravida"]  # type: ignore[operator]
        ]
    if {"admission_date", "discharge_date"} <= set(columns):
        problems += [
            Problem(source, row, "discharge_date", stay_message(record["admission_date"]))
            for record, row in zip(records, positions, strict=True)
            if discharged_before_admitted(record["admission_date"], record["discharge_date"])
        ]
    return problems


def _make_plain(record: dict[str, object]) -> None:
    """Values as :func:`reportgen.frames.records_from_frame` gives them: whole numbers as int,
    midnight as a date."""
    for name, value in record.items():
        if isinstance(value, float):
            record[name] = plain_number(value)
        elif isinstance(value, datetime):
            record[name] = plain_moment(value)

"""JSON input: a patient object, a list of them, or ``{"patients": [...]}`` read into rows of
strings (:func:`read_json`, no pandas) and from those into a RawTable (:func:`raw_table`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reportgen import input_text
from reportgen.cells import normalise_header
from reportgen.errors import Problem, check_problem_count
from reportgen.input_text import decode_input, error_line, file_error

if TYPE_CHECKING:
    from reportgen.loaders import RawTable


@dataclass
class JsonRows:
    """Each patient object's scalar values as strings under canonical names, in file order."""

    source: str
    records: list[dict[str, str]]
    positions: list[int]  # each record's place in the list, from 1
    problems: list[Problem] = field(default_factory=list)
    infusions: dict[int, object] = field(default_factory=dict)  # record index -> raw list
    scans: dict[int, object] = field(default_factory=dict)  # record index -> raw list
    encoding: str = ""

    def columns(self) -> list[str]:
        """Every name any record has, in order of first appearance (as a frame's columns)."""
        return list(dict.fromkeys(name for record in self.records for name in record))


class _Constant(str):
    """``NaN``/``Infinity`` as written: a number column reports it, an id refuses it."""


class _Object(dict):
    """A JSON object that remembers the keys it saw twice (``json`` keeps the last)."""

    duplicates: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, object]]) -> _Object:
    found = _Object(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        repeated = []
        for key, _ in pairs:
            if key in seen:
                repeated.append(key)
            seen.add(key)
        found.duplicates = tuple(repeated)
    return found


def raw_table(rows: JsonRows) -> RawTable:
    """The JSON's patients as a frame of strings (a key no object has is no column)."""
    import pandas as pd

    from reportgen.loaders import RawTable

    # An explicit index keeps objects without scalar keys (only "infusions", or {}) as rows.
    frame = pd.DataFrame(rows.records, index=pd.RangeIndex(len(rows.records))).fillna("")
    return RawTable(
        rows.source,
        frame.astype(str),
        pd.Series(rows.positions, dtype="int64"),
        list(rows.problems),
        rows.infusions,
        rows.encoding,
        kind="json",
        scans=rows.scans,
    )


def read_json(data: bytes, source: str, encoding: str | None) -> JsonRows:
    """Parse and check the document's shape; each object's problems are located by position."""
    values = data.count(b",") + 1  # at least the number of values (commas in text count too)
    if values > input_text.MAX_JSON_VALUES:
        raise file_error(
            source,
            f"about {values:,} JSON values; the limit is "
            f"{input_text.MAX_JSON_VALUES:,} (split the cohort, or use CSV)",
        )
    text, encoding = decode_input(data, source, encoding)
    try:
        document = json.loads(text, object_pairs_hook=_pairs, parse_constant=_Constant)
    except json.JSONDecodeError as exc:
        raise file_error(source, f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise file_error(source, "JSON nested too deeply to be a patient table") from None
    except ValueError as exc:  # int() refuses numbers of more than 4,300 digits
        raise file_error(source, f"not valid JSON ({error_line(exc)})") from None
    if isinstance(document, dict) and "patients" in document:
        duplicates = getattr(document, "duplicates", ())
        if duplicates:
            raise file_error(source, f"duplicate key {duplicates[0]!r}")
        if not isinstance(document["patients"], list):
            raise file_error(
                source,
                "'patients' must be a list of patient objects, not "
                f"{type(document['patients']).__name__}",
            )
        document = document["patients"]
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list):
        raise file_error(
            source,
            f"JSON must be a patient object or a list of them, not {type(document).__name__}",
        )
    problems: list[Problem] = []
    records: list[dict[str, str]] = []
    infusions: dict[int, object] = {}
    rows: list[int] = []
    scans: dict[int, object] = {}
    for position, item in enumerate(document, start=1):
        check_problem_count(problems, source)
        if not isinstance(item, dict):
            problems.append(
                Problem(
                    source, position, "-", f"expected a patient object, got {type(item).__name__}"
                )
            )
            continue
        problems += [
            Problem(source, position, normalise_header(key), f"duplicate key {key!r}")
            for key in getattr(item, "duplicates", ())
        ]
        record: dict[str, str] = {}
        for key, value in item.items():
            column = normalise_header(key)
            if column in record or (column == "infusions" and len(records) in infusions):
                problems.append(Problem(source, position, column, f"duplicate key {key!r}"))
            elif column == "infusions":
                infusions[len(records)] = value
                problems += _nested_duplicates(value, source, position)
            elif column == "scans":  # follow-up DXA, validated by reportgen.scans
                if len(records) in scans:
                    problems.append(Problem(source, position, column, f"duplicate key {key!r}"))
                scans[len(records)] = value
            elif isinstance(value, dict | list):
                problems.append(
                    Problem(
                        source, position, column, "expected a single value, not a list or object"
                    )
                )
            elif column == "patient_id" and not _id_scalar(value):
                problems.append(
                    Problem(
                        source,
                        position,
                        column,
                        f"must be text or a whole number, not {_json_scalar(value)[:40]}",
                    )
                )
            else:
                record[column] = _json_scalar(value)
        records.append(record)
        rows.append(position)
    if not records:
        found = ", ".join(sorted({type(item).__name__ for item in document}))
        raise file_error(
            source,
            "the JSON list has no patients"
            if not document
            else f"JSON must be a patient object or a list of them, not a list of {found}",
        )
    return JsonRows(source, records, rows, problems, infusions, scans, encoding)


def _id_scalar(value: object) -> bool:
    """Ids are text or exact integers: ``1e2`` would become "100.0", ``NaN`` "nan"."""
    if isinstance(value, str):
        return not isinstance(value, _Constant)
    return isinstance(value, int) and not isinstance(value, bool)


def _nested_duplicates(value: object, source: str, position: int) -> list[Problem]:
    items = value if isinstance(value, list) else []
    return [
        Problem(source, position, f"infusions[{number}]", f"duplicate key {key!r}")
        for number, item in enumerate(items, start=1)
        if isinstance(item, _Object)
        for key in item.duplicates
    ]


def _json_scalar(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

"""Read CSV (UTF-8, UTF-8-BOM, CP932), XLSX and JSON into a frame of strings."""

from __future__ import annotations

import codecs
import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from reportgen.errors import InputError, Problem
from reportgen.schema import COLUMNS, normalise_header

# Limits (README "Limits"): refuse before reading what cannot be handled in bounded memory.
MAX_INPUT_BYTES = 256 * 1024 * 1024
MAX_ROWS = 1_000_000
MAX_CELL_CHARS = 10_000
_SURROGATE = "[\ud800-\udfff]"
_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_FREE_TEXT = ("name", "notes", "fracture_sites", "dxa_site")


@dataclass
class RawTable:
    """Cells as stripped strings under canonical headers, with their source rows."""

    source: str
    frame: pd.DataFrame
    rows: pd.Series
    problems: list[Problem] = field(default_factory=list)
    infusions: dict[int, object] = field(default_factory=dict)  # frame index -> raw list
    encoding: str = ""
    kind: str = "table"  # "table" (CSV/XLSX: row 1 is the header) or "json" (row = position)
    scans: dict[int, object] = field(default_factory=dict)  # frame index -> raw list (issue 12)
    header_row: int = 1  # after leading "#" comment lines (``reportgen template input``)


def _file_error(source: str, message: str) -> InputError:
    """A whole-file problem, located like any other: ``INPUT:0:-: message`` (row 0 = the file)."""
    return InputError(str(Problem(source, 0, "-", message)))


def load_table(path: Path | str, *, sheet: str | None = None) -> RawTable:
    """Load one input file; the format is chosen by content and suffix, never asked for."""
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise _file_error(source, "no such file")
    if not path.is_file():
        raise _file_error(source, "not a file")
    size = path.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise _file_error(source, f"file is {size / 2**20:,.0f} MiB; the limit is "
                                  f"{MAX_INPUT_BYTES / 2**20:,.0f} MiB (split the cohort)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _file_error(source, f"cannot read ({exc.strerror})") from None
    if not data.strip():
        raise _file_error(source, "the file is empty")
    if data[:4] == b"PK\x03\x04" or path.suffix.lower() in (".xlsx", ".xlsm"):
        table = _load_xlsx(data, source, sheet)
    elif path.suffix.lower() == ".json" or data.lstrip()[:1] in (b"{", b"["):
        table = _load_json(data, source)
    else:
        table = _load_csv(data, source)
    _check_size(table)
    return table


def _decode(data: bytes, source: str) -> tuple[str, str]:
    if b"\x00" in data[:65536]:
        raise _file_error(source, "not a text table (binary data); expected CSV, XLSX or JSON")
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="strict"), "utf-8-sig"
    for encoding in ("utf-8", "cp932"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise _file_error(source, "text is neither UTF-8 nor CP932/Shift_JIS; save it as UTF-8")


def _load_csv(data: bytes, source: str) -> RawTable:
    lines = data.count(b"\n")
    if lines > 2 * MAX_ROWS + 1:  # clearly too many rows: refuse before pandas parses them
        raise _file_error(source, f"{lines:,} lines; the limit is {MAX_ROWS:,} rows "
                          "(split the cohort)")  # (quoted cells may span lines, hence 2×)
    text, encoding = _decode(data, source)
    comments = _leading_comments(text)
    if comments:
        text = text.split("\n", comments)[-1]
    first_line = text.split("\n", 1)[0]
    delimiter = max([",", ";", "\t"], key=first_line.count)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, header=None,
                            skip_blank_lines=False, sep=delimiter, quoting=csv.QUOTE_MINIMAL)
    except pd.errors.EmptyDataError:
        raise _file_error(source, "the file is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise _file_error(source, f"not a readable CSV table ({_first_line(exc)})") from None
    table = _from_frame(frame, source, first_row=2 + comments)
    table.encoding = encoding
    return table


def _leading_comments(text: str) -> int:
    """Lines starting with ``#`` before the header (the blank template's help), skipped;
    rows keep their line numbers, as a spreadsheet shows them."""
    count, start = 0, 0
    while text.startswith("#", start):
        start = text.find("\n", start) + 1
        count += 1
        if start == 0:  # a comment without an end: no header at all
            break
    return count


def _load_xlsx(data: bytes, source: str, sheet: str | None) -> RawTable:
    try:
        with pd.ExcelFile(io.BytesIO(data), engine="openpyxl") as workbook:
            if sheet is not None and sheet not in workbook.sheet_names:
                names = ", ".join(repr(str(n)) for n in workbook.sheet_names)
                raise _file_error(source, f"no sheet named {sheet!r}; the workbook has: {names}")
            frame = pd.read_excel(workbook, sheet_name=sheet if sheet is not None else 0,
                                  dtype=str, header=None, keep_default_na=False)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl/lxml/pandas raise many types on
        # malformed workbooks (fuzzing found OverflowError, XMLSyntaxError, KeyError ...)
        raise _file_error(source, f"not a readable XLSX workbook ({_first_line(exc)})") from None
    return _from_frame(frame, source, first_row=2)


def _load_json(data: bytes, source: str) -> RawTable:
    text, encoding = _decode(data, source)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _file_error(source, f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise _file_error(source, "JSON nested too deeply to be a patient table") from None
    if isinstance(document, dict) and "patients" in document:
        if not isinstance(document["patients"], list):
            raise _file_error(source, "'patients' must be a list of patient objects, not "
                                      f"{type(document['patients']).__name__}")
        document = document["patients"]
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list):
        raise _file_error(source, f"JSON must be a patient object or a list of them, "
                                  f"not {type(document).__name__}")
    problems, records, infusions, rows = [], [], {}, []
    scans: dict[int, object] = {}
    for position, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            problems.append(Problem(source, position, "-",
                                    f"expected a patient object, got {type(item).__name__}"))
            continue
        record: dict[str, str] = {}
        for key, value in item.items():
            column = normalise_header(key)
            if column in record or (column == "infusions" and len(records) in infusions):
                problems.append(Problem(source, position, column, f"duplicate key {key!r}"))
            elif column == "infusions":
                infusions[len(records)] = value
            elif column == "scans":  # follow-up DXA, validated by reportgen.scans
                if len(records) in scans:
                    problems.append(Problem(source, position, column, f"duplicate key {key!r}"))
                scans[len(records)] = value
            elif isinstance(value, dict | list):
                problems.append(Problem(source, position, column,
                                        "expected a single value, not a list or object"))
            else:
                record[column] = _json_scalar(value)
        records.append(record)
        rows.append(position)
    if not records:
        found = ", ".join(sorted({type(item).__name__ for item in document}))
        raise _file_error(source, "the JSON list has no patients" if not document else
                          f"JSON must be a patient object or a list of them, not a list of "
                          f"{found}")
    # An explicit index keeps objects without scalar keys (only "infusions", or {}) as rows.
    frame = pd.DataFrame(records, index=pd.RangeIndex(len(records))).fillna("")
    return RawTable(source, frame.astype(str), pd.Series(rows, dtype="int64"), problems,
                    infusions, encoding, kind="json", scans=scans)


def _json_scalar(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _from_frame(frame: pd.DataFrame, source: str, first_row: int) -> RawTable:
    """``frame`` was read without a header (pandas would rename a repeated header to
    ``name.1`` and hide the duplicate): its first row is the header."""
    frame = frame.fillna("").astype(str)
    if frame.empty:
        raise _file_error(source, "the file is empty")
    originals = [h.strip() for h in frame.iloc[0]]
    frame = frame.iloc[1:].reset_index(drop=True)
    # A column without a header or data (trailing separators from Excel) is dropped.
    keep = [bool(h) or bool(frame[c].str.strip().ne("").any())
            for h, c in zip(originals, frame.columns, strict=True)]
    frame = frame.loc[:, keep]
    originals = [h or f"column {i + 1}" for i, (h, k) in enumerate(zip(originals, keep,
                                                                         strict=True)) if k]
    if not originals:
        raise _file_error(source, "the file is empty")
    headers = [normalise_header(h) for h in originals]
    problems = []
    seen: set[str] = set()
    for header, original in zip(headers, originals, strict=True):
        if header in seen:  # ambiguous values: an error for a contract column
            problems.append(Problem(source, first_row - 1, header,
                                    f"duplicate column {original!r}",
                                    "error" if header in COLUMNS else "warning"))
        seen.add(header)
    frame.columns = headers
    frame = frame.loc[:, ~frame.columns.duplicated()]
    frame = frame.astype(str)
    rows = pd.Series(range(first_row, first_row + len(frame)), index=frame.index, dtype="int64")
    blank = np.ones(len(frame), dtype=bool)
    for column in frame.columns:  # numpy's C strip: ~50× faster than pandas' per-cell strip
        blank &= np.char.strip(frame[column].to_numpy(dtype=str)) == ""
    frame, rows = frame[~blank].reset_index(drop=True), rows[~blank].reset_index(drop=True)
    if frame.empty:
        raise _file_error(source, "has a header but no patient rows")
    return RawTable(source, frame, rows, problems, header_row=first_row - 1)


def _check_size(table: RawTable) -> None:
    if len(table.frame) > MAX_ROWS:
        raise _file_error(table.source, f"{len(table.frame):,} rows; the limit is {MAX_ROWS:,} "
                         "(split the cohort)")
    for column in table.frame.columns:
        _check_text(table, column)
        lengths = table.frame[column].str.len()
        for index in lengths.index[lengths > MAX_CELL_CHARS]:
            table.problems.append(Problem(
                table.source, int(table.rows[index]), column,
                f"cell is {lengths[index]:,} characters; the limit is {MAX_CELL_CHARS:,}"))
            table.frame.loc[index, column] = ""


def _check_text(table: RawTable, column: str) -> None:
    """Lone surrogates (from JSON escapes) are refused; control characters are dropped from
    free text (they come from EHR exports and have no glyph in any font)."""
    cells = table.frame[column]
    if table.kind != "json" and column not in _FREE_TEXT:
        return  # decoded UTF-8/CP932 and XML text cannot hold lone surrogates
    broken = cells.str.contains(_SURROGATE, regex=True) if table.kind == "json" else \
        pd.Series(False, index=cells.index)
    for index in broken.index[broken]:
        table.problems.append(Problem(table.source, int(table.rows[index]), column,
                                      "text is not valid Unicode (a lone surrogate escape)"))
    cells = cells.mask(broken, "")
    if column in _FREE_TEXT:
        cells = cells.str.replace(_CONTROL, " ", regex=True)
    table.frame[column] = cells


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__

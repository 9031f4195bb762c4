"""Read CSV (UTF-8, UTF-8-BOM, CP932 or as told), XLSX and JSON into a frame of strings."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from reportgen.cells import dot_thousands_ambiguous
from reportgen.columns import COLUMNS
from reportgen.errors import Problem
from reportgen.input_text import (
    CONTROL,
    FREE_TEXT,
    MAX_CELL_CHARS,
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_ROWS,
    MAX_XLSX_CELLS,
    PRINTED_TEXT,
    SURROGATE,
    SURROGATE_MESSAGE,
    decode_input,
    error_line,
    file_error,
    input_kind,
    length_message,
    read_input,
    too_many_rows,
)
from reportgen.json_input import JsonRows, raw_table
from reportgen.printable import UNPRINTABLE_MESSAGE, unprintable
from reportgen.schema import normalise_header
from reportgen.xlsx import XlsxRefused, read_xlsx

DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\\t": "\t", "\t": "\t"}
# In a ";" file a comma is a decimal comma, but "1,500" could still mean 1500 (issue 16).
_COMMA_NUMBER = re.compile(r"[+-]?\d*,\d+")
_SEPARATED_NUMBER = re.compile(r"[+-]?[\d.,]*\d[\d.,]*")
_MAIN_RANGES: dict[str, tuple[float, float] | None] = {
    c.name: (float(c.low), float(c.high))
    for c in COLUMNS.values()
    if c.kind in ("number", "integer") and c.low is not None and c.high is not None
}


@dataclass
class RawTable:
    """Cells as stripped strings under canonical headers, with their source rows."""

    source: str
    frame: pd.DataFrame
    rows: pd.Series
    problems: list[Problem] = field(default_factory=list)
    infusions: dict[int, object] = field(default_factory=dict)  # frame index -> raw list
    encoding: str = ""
    delimiter: str = ""  # a CSV's
    kind: str = "table"  # "table" (CSV/XLSX: row 1 is the header) or "json" (row = position)
    scans: dict[int, object] = field(default_factory=dict)  # frame index -> raw list (issue 12)
    header_row: int = 1  # after leading "#" comment lines (``reportgen template input``)


def load_table(
    path: Path | str,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    numeric: Mapping[str, tuple[float, float] | None] | None = None,
) -> RawTable:
    """Load one input file; the format is chosen by content and suffix, never asked for.

    :param encoding: a codec name for CSV/JSON text (default: UTF-8, or CP932 when detected).
    :param delimiter: ``,``, ``;`` or ``tab`` for CSV (default: the commonest in row 1).
    :param numeric: the number columns and their plausible ranges, where a ``;`` file's decimal
        commas and ambiguous separators are handled (default: the main input's; a range of
        None: the caller checks ``1.500`` itself; ``{}``: the caller calls
        :func:`decimal_commas` after renaming its columns).
    """
    path = Path(path)
    source = str(path)
    data = read_input(path)
    kind = input_kind(path, data)
    if kind == "xlsx":
        table = _load_xlsx(data, source, sheet)
    elif kind == "json":
        from reportgen.json_input import read_json

        return load_json_rows(read_json(data, source, encoding))
    else:
        table = _load_csv(data, source, encoding, delimiter)
        decimal_commas(table, _MAIN_RANGES if numeric is None else numeric)
    _check_size(table)
    return table


def load_json_rows(rows: JsonRows) -> RawTable:
    """A JSON's rows (:func:`reportgen.json_input.read_json`) as a checked frame of strings."""
    table = raw_table(rows)
    _check_size(table)
    return table


def _load_csv(data: bytes, source: str, encoding: str | None, delimiter: str | None) -> RawTable:
    lines = data.count(b"\n")
    if lines > 2 * MAX_ROWS + 1:  # clearly too many rows: refuse before pandas parses them
        raise file_error(
            source, f"{lines:,} lines; the limit is {MAX_ROWS:,} rows (split the cohort)"
        )  # (quoted cells may span lines, hence 2×)
    text, encoding = decode_input(data, source, encoding)  # strict: refuses what would garble
    comments = _leading_comments(text)
    if comments:  # the blank template's help lines: cut from the bytes pandas reads
        cut = 0
        for _ in range(comments):
            cut = data.find(b"\n", cut) + 1
        data = data[cut:] if cut else b""
        text = text.split("\n", comments)[-1]
    first_line = text[: text.find("\n")] if "\n" in text else text
    del text  # pandas decodes the bytes itself: the whole text as str was a second copy
    if delimiter is None:
        delimiter = max([",", ";", "\t"], key=first_line.count)
    elif delimiter not in DELIMITERS:
        raise file_error(source, f"unknown delimiter {delimiter!r} (use , ; or tab)")
    delimiter = DELIMITERS[delimiter]
    columns = first_line.count(delimiter) + 1
    if columns > MAX_COLUMNS:
        raise file_error(source, f"{columns:,} columns; the limit is {MAX_COLUMNS:,}")
    records = lines - (1 if data.endswith(b"\n") else 0)  # lines after the header, at most
    if columns * records > MAX_CELLS:  # (a row longer than row 1 is a parser error)
        raise file_error(
            source,
            f"{columns:,} columns × {records:,} rows; the limit is "
            f"{MAX_CELLS:,} cells (split the cohort or drop columns)",
        )
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype=object,
            keep_default_na=False,
            header=None,
            skip_blank_lines=False,
            sep=delimiter,
            quoting=csv.QUOTE_MINIMAL,
            encoding=encoding,
        )
    except pd.errors.EmptyDataError:
        raise file_error(source, "the file is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise file_error(source, f"not a readable CSV table ({error_line(exc)})") from None
    table = _from_frame(frame, source, first_row=2 + comments)
    table.encoding, table.delimiter = encoding, delimiter
    return table


def decimal_commas(table: RawTable, numeric: Mapping[str, tuple[float, float] | None]) -> None:
    """In a ``;`` file ``1,5`` is 1.5 (the decimal comma of the locales that write ``;``);
    ``1,500``, ``1.500,5`` or a ``1.500`` that is plausible both as 1.5 and 1500 could be a
    thousand times apart and is refused, located. Other files are left as they are."""
    if table.delimiter != ";":
        return
    for column in [c for c in table.frame.columns if c in numeric]:
        plausible = numeric[column]
        cells = table.frame[column]
        for index in cells.index[cells.str.contains(",|\\.", regex=True)]:
            text = cells[index].strip()
            decimal = _COMMA_NUMBER.fullmatch(text)
            if decimal and not _thousands_too(text.replace(",", "."), plausible):
                table.frame.loc[index, column] = text.replace(",", ".")
            elif (decimal or _SEPARATED_NUMBER.fullmatch(text)) and (
                "," in text or _thousands_too(text, plausible)
            ):
                table.problems.append(
                    Problem(
                        table.source,
                        int(table.rows[index]),
                        column,
                        f"ambiguous number in a ';'-separated file (thousands or decimal comma?): "
                        f"{text[:40]!r}; write it without a thousands separator, e.g. 1500 or 1.5",
                    )
                )
                table.frame.loc[index, column] = ""


def _thousands_too(text: str, plausible: tuple[float, float] | None) -> bool:
    """Whether ``1.500`` (a decimal comma already read as a point) may as well mean 1500:
    where the range is unknown, whenever it has three decimals; else when both readings are
    plausible (``0,712`` g/cm² or ``1,005`` g/cm² is a BMD, ``1,500`` g is ambiguous)."""
    if plausible is None:
        return "." in text and len(text.rsplit(".", 1)[1]) == 3
    return dot_thousands_ambiguous(text, *plausible)


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
        found = read_xlsx(
            data,
            sheet,
            max_rows=MAX_ROWS,
            max_columns=MAX_COLUMNS,
            max_cell_chars=MAX_CELL_CHARS,
            max_cells=MAX_XLSX_CELLS,
            is_id_header=lambda h: normalise_header(h) == "patient_id",
        )
    except XlsxRefused as exc:
        raise file_error(source, str(exc)) from None
    headers = [normalise_header(h) if h else "" for h in (found.rows[0] if found.rows else [])]
    notes = []
    for row, column in sorted(found.formulas):
        notes.append(
            Problem(
                source,
                row + 1,
                _header_at(headers, column),
                "formula without a saved result (open and save the workbook in "
                "Excel or LibreOffice, or paste the values)",
            )
        )
    for row, column in sorted(found.inexact):
        if row > 0:
            notes.append(
                Problem(
                    source,
                    row + 1,
                    "patient_id",
                    "id stored as a spreadsheet number, which keeps only 15 digits "
                    f"({found.rows[row][column][:40]}); format the id column as "
                    "text",
                )
            )
    width = max(map(len, found.rows), default=0)
    for cells in found.rows:  # in place: a padded copy of every row was a second table
        cells.extend([""] * (width - len(cells)))
    frame = pd.DataFrame(found.rows, dtype=object)
    found.rows.clear()
    table = _from_frame(frame, source, first_row=2)
    table.problems += notes
    return table


def _header_at(headers: list[str], column: int) -> str:
    return headers[column] if column < len(headers) and headers[column] else f"column {column + 1}"


def _from_frame(frame: pd.DataFrame, source: str, first_row: int) -> RawTable:
    """``frame`` was read without a header (pandas would rename a repeated header to
    ``name.1`` and hide the duplicate): its first row is the header."""
    frame = frame.fillna("").astype(str)
    if frame.empty:
        raise file_error(source, "the file is empty")
    originals = [h.strip() for h in frame.iloc[0]]
    frame = frame.iloc[1:].reset_index(drop=True)
    # A column without a header or data (trailing separators from Excel) is dropped.
    keep = [
        bool(h) or bool(frame[c].str.strip().ne("").any())
        for h, c in zip(originals, frame.columns, strict=True)
    ]
    frame = frame.loc[:, keep]
    originals = [
        h or f"column {i + 1}" for i, (h, k) in enumerate(zip(originals, keep, strict=True)) if k
    ]
    if not originals:
        raise file_error(source, "the file is empty")
    headers = [normalise_header(h) for h in originals]
    problems = []
    seen: set[str] = set()
    for header, original in zip(headers, originals, strict=True):
        if header in seen:  # ambiguous values: an error for a contract column
            problems.append(
                Problem(
                    source,
                    first_row - 1,
                    header,
                    f"duplicate column {original!r}",
                    "error" if header in COLUMNS else "warning",
                )
            )
        seen.add(header)
    frame.columns = headers
    frame = frame.loc[:, ~frame.columns.duplicated()]
    frame = frame.astype(str)
    rows = pd.Series(range(first_row, first_row + len(frame)), index=frame.index, dtype="int64")
    blank = _blank_rows(frame)
    frame, rows = frame[~blank].reset_index(drop=True), rows[~blank].reset_index(drop=True)
    if frame.empty:
        raise file_error(source, "has a header but no patient rows")
    return RawTable(source, frame, rows, problems, header_row=first_row - 1)


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is blank. Only rows still blank are looked at in the next column,
    so the work is about one strip per row; never a fixed-width numpy string array, whose
    memory grows with the longest cell (a 9,999-character note made 100,000 rows ~8 GB)."""
    candidates = np.arange(len(frame))
    for column in range(frame.shape[1]):
        if not len(candidates):
            break
        values = frame.iloc[candidates, column].to_numpy(dtype=object)
        candidates = candidates[[not str(v).strip() for v in values]]
    blank = np.zeros(len(frame), dtype=bool)
    blank[candidates] = True
    return blank


def _check_size(table: RawTable) -> None:
    if len(table.frame) > MAX_ROWS:
        raise too_many_rows(table.source, len(table.frame), MAX_ROWS)
    for column in table.frame.columns:
        _check_text(table, column)
        lengths = table.frame[column].str.len()
        for index in lengths.index[lengths > MAX_CELL_CHARS]:
            table.problems.append(
                Problem(
                    table.source, int(table.rows[index]), column, length_message(lengths[index])
                )
            )
            table.frame.loc[index, column] = ""


def _check_text(table: RawTable, column: str) -> None:
    """Lone surrogates (from JSON escapes) are refused; control characters are dropped from
    free text (they come from EHR exports and have no glyph in any font)."""
    cells = table.frame[column]
    if table.kind != "json" and column not in FREE_TEXT and column not in PRINTED_TEXT:
        return  # decoded UTF-8/CP932 and XML text cannot hold lone surrogates
    broken = (
        cells.str.contains(SURROGATE, regex=True)
        if table.kind == "json"
        else pd.Series(False, index=cells.index)
    )
    for index in broken.index[broken]:
        table.problems.append(
            Problem(table.source, int(table.rows[index]), column, SURROGATE_MESSAGE)
        )
    cells = cells.mask(broken, "")
    if column in FREE_TEXT:
        cells = cells.str.replace(CONTROL, " ", regex=True)
    table.frame[column] = cells
    if column in PRINTED_TEXT:
        wide = cells[~cells.str.isascii()]
        table.problems += [
            Problem(table.source, int(table.rows[index]), column, UNPRINTABLE_MESSAGE)
            for index, text in wide.items()
            if unprintable(text)
        ]

"""XLSX rows streamed with openpyxl's read-only mode, after the archive is checked against limits.

A workbook is a zip of XML: a few KB can declare a cell at XFD20000, a million rows or one
shared string of a gigabyte. Nothing is materialised before the archive's declared sizes, the
sheet's dimension and every text run have been checked (issue 16, class 1).
"""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time

# Unpacked sizes (bytes) of the XML parts openpyxl reads. Shared strings are held in memory
# whole; worksheets are streamed; styles and the rest are parsed whole but are small in any
# real workbook (the case series' styles.xml is 1.4 KB).
MAX_SHARED_STRINGS_BYTES = 64 * 2**20
MAX_SHEETS_BYTES = 512 * 2**20
MAX_OTHER_PART_BYTES = 4 * 2**20
_CHUNK_BYTES = 2**20
# Spreadsheet numbers are IEEE doubles that Excel shows with 15 significant digits.
_EXACT_DIGITS_MAX = 10**15


class XlsxRefused(Exception):
    """The workbook is over a limit or unreadable; ``str(e)`` is the reason."""


@dataclass
class SheetRows:
    """Cell text row by row (row 0 = spreadsheet row 1), and cells that need a word."""

    rows: list[list[str]]
    formulas: set[tuple[int, int]] = field(default_factory=set)  # (row, col): no saved result
    inexact: set[tuple[int, int]] = field(default_factory=set)  # ids that are not integers


@dataclass
class _Scan:
    rows: int = 0
    formulas: bool = False
    longest_run: int = 0


def read_xlsx(
    data: bytes,
    sheet: str | None,
    *,
    max_rows: int,
    max_columns: int,
    max_cell_chars: int,
    max_cells: int,
    is_id_header: Callable[[str], bool] = lambda header: False,
) -> SheetRows:
    """The rows of ``sheet`` (default: the first) as text; raises :class:`XlsxRefused`.

    :param is_id_header: True for a header whose column holds ids: a number there that is
        not a whole number below 10^15 is listed in ``inexact`` (Excel rounded it).
    """
    scan = _scan_archive(data, max_text_bytes=12 * max_cell_chars)  # &#1114111; = 10 bytes
    if scan.longest_run > 12 * max_cell_chars:
        raise XlsxRefused(f"a cell holds more than {max_cell_chars:,} characters")
    if scan.rows > max_rows + 1:
        raise XlsxRefused(f"more than {max_rows:,} rows (split the cohort)")
    try:
        return _read_sheet(
            data, sheet, scan.formulas, (max_rows, max_columns, max_cells), is_id_header
        )
    except XlsxRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl/lxml raise many types on malformed
        # workbooks (fuzzing found OverflowError, XMLSyntaxError, KeyError ...)
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise XlsxRefused(f"not a readable XLSX workbook ({text})") from None


def _scan_archive(data: bytes, max_text_bytes: int) -> _Scan:
    """Declared sizes first (a zip bomb is refused before inflating), then every XML part
    streamed once: rows counted, formulas noticed, the longest text between tags measured."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise XlsxRefused(f"not a readable XLSX workbook ({exc})") from None
    sheets = 0
    for info in members:
        if not info.filename.endswith((".xml", ".rels")):
            continue  # media and binaries: read-only mode never opens them
        if info.filename.startswith("xl/worksheets/"):
            sheets += info.file_size
        elif info.file_size > (
            MAX_SHARED_STRINGS_BYTES
            if info.filename == "xl/sharedStrings.xml"
            else MAX_OTHER_PART_BYTES
        ):
            raise XlsxRefused(
                f"part {info.filename[:80]} unpacks to {info.file_size:,} bytes; "
                "too large for a patient table"
            )
    if sheets > MAX_SHEETS_BYTES:
        raise XlsxRefused(
            f"worksheets unpack to {sheets / 2**20:,.0f} MiB; the limit is "
            f"{MAX_SHEETS_BYTES / 2**20:,.0f} MiB (split the cohort)"
        )
    scan = _Scan()
    for info in members:
        if info.filename.endswith(".xml"):
            _scan_part(archive, info, scan, info.filename.startswith("xl/worksheets/"))
            if scan.longest_run > max_text_bytes:
                break
    return scan


def _scan_part(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, scan: _Scan, is_sheet: bool
) -> None:
    run = 0
    rows = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK_BYTES):
                pieces = chunk.split(b"<")
                if len(pieces) == 1:
                    run += len(chunk)
                else:
                    scan.longest_run = max(
                        scan.longest_run,
                        run + len(pieces[0]),
                        max(map(len, pieces[1:-1]), default=0),
                    )
                    run = len(pieces[-1])
                if is_sheet:  # "<row " and "<row>" (a row tag split by a chunk edge is missed)
                    rows += chunk.count(b"<row ") + chunk.count(b"<row>")
                    scan.formulas = scan.formulas or b"<f>" in chunk or b"<f " in chunk
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise XlsxRefused(f"not a readable XLSX workbook ({exc})") from None
    scan.longest_run = max(scan.longest_run, run)
    scan.rows = max(scan.rows, rows)


def _read_sheet(
    data: bytes,
    sheet: str | None,
    formulas: bool,
    limits: tuple[int, int, int],
    is_id_header: Callable[[str], bool],
) -> SheetRows:
    from openpyxl import load_workbook

    with warnings.catch_warnings():
        # openpyxl's own notes ("Cell H2 is marked as a date but the serial value ... is
        # outside the limits for dates", unsupported extensions) reached stderr without a file
        # or row; the cell itself is reported, located, as any bad value.
        warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            worksheet = _worksheet(book, sheet)
            rows, inexact = _values(worksheet, *limits, is_id_header)
        finally:
            book.close()
    found = SheetRows(rows, inexact=inexact)
    if formulas:  # a formula cell without a saved result reads as empty: say so instead
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        try:
            found.formulas = _unsaved_formulas(_worksheet(book, sheet), rows, limits[0])
        finally:
            book.close()
    return found


def _worksheet(book, sheet: str | None):
    names = book.sheetnames
    name = names[0] if sheet is None and names else sheet
    if name not in names:
        raise XlsxRefused(f"no sheet named {sheet!r} (sheets: {', '.join(map(repr, names))})")
    worksheet = book[name]
    if not hasattr(worksheet, "iter_rows"):
        raise XlsxRefused(f"sheet {name!r} is a chart, not a table")
    return worksheet


def _values(
    worksheet, max_rows: int, max_columns: int, max_cells: int, is_id_header: Callable[[str], bool]
) -> tuple[list[list[str]], set[tuple[int, int]]]:
    declared_rows, declared_columns = worksheet.max_row, worksheet.max_column
    if declared_columns is not None and declared_columns > max_columns:
        raise XlsxRefused(
            f"the sheet is {declared_columns:,} columns wide; the limit is {max_columns:,}"
        )
    if declared_rows is not None and declared_rows > max_rows + 1:
        raise XlsxRefused(
            f"{declared_rows - 1:,} rows; the limit is {max_rows:,} (split the cohort)"
        )
    worksheet.reset_dimensions()  # a dimension record can lie: each row is as wide as it is
    rows: list[list[str]] = []
    inexact: set[tuple[int, int]] = set()
    cells = 0
    ids: set[int] = set()  # columns under an id header (known once row 1 is read)
    for index, values in enumerate(worksheet.iter_rows(max_row=max_rows + 2, values_only=True)):
        if index > max_rows:
            raise XlsxRefused(f"more than {max_rows:,} rows (split the cohort)")
        if len(values) > max_columns:
            raise XlsxRefused(
                f"row {index + 1} is {len(values):,} columns wide; the limit is {max_columns:,}"
            )
        cells += len(values)
        if cells > max_cells:
            raise XlsxRefused(f"more than {max_cells:,} cells (split the cohort or drop columns)")
        row = []
        for column, value in enumerate(values):
            text, exact = cell_text(value)
            row.append(text)
            if not exact and column in ids:
                inexact.add((index, column))
        if index == 0:
            ids = {column for column, header in enumerate(row) if is_id_header(header)}
        rows.append(row)
    return rows, inexact


def _unsaved_formulas(worksheet, rows: list[list[str]], max_rows: int) -> set[tuple[int, int]]:
    worksheet.reset_dimensions()
    found = set()
    for index, cells in enumerate(worksheet.iter_rows(max_row=max_rows + 2)):
        for column, cell in enumerate(cells):
            if getattr(cell, "data_type", None) == "f" and not (
                index < len(rows) and column < len(rows[index]) and rows[index][column]
            ):
                found.add((index, column))
    return found


def cell_text(value: object) -> tuple[str, bool]:
    """``(text, exact)``: a cell value as the text a user sees; ``exact`` is False for a number
    that is not a whole number below 10^15 (an id stored that way has been rounded)."""
    if value is None:
        return "", True
    if isinstance(value, bool):
        return ("true" if value else "false"), True
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT_DIGITS_MAX:
            return str(int(value)), True
        return repr(value), False
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
        ), True
    if isinstance(value, date | time):
        return value.isoformat(), True
    return str(value), True

"""The input limits and the checks on a cell's text, shared by the table loaders
(:mod:`reportgen.loaders`) and the pandas-free one-record path (:mod:`reportgen.record_input`)."""

from __future__ import annotations

import re
from pathlib import Path

from reportgen.decoding import DecodeRefused, decode_text
from reportgen.errors import InputError, Problem
from reportgen.files import FileRefused, read_limited

# Limits (README "Limits"): refuse before reading what cannot be handled in bounded memory.
MAX_INPUT_BYTES = 128 * 1024 * 1024  # was 256 MiB: with 10^7 cells that passed 1 GB
MAX_ROWS = 1_000_000
MAX_COLUMNS = 1_000
MAX_CELL_CHARS = 10_000
# Each cell is a Python str (~60 bytes for a short one): 10^7 cells peak at ~750 MB, inside
# the 1 GB promise (measured: 1,000,000 rows × 10 columns, tests/test_hostile_inputs_2.py).
MAX_CELLS = 10_000_000
# An XLSX cell costs about twice a CSV cell on the way in (openpyxl's row dicts, then ours):
# 300,000 rows × 10 columns peaked at 438 MB.
MAX_XLSX_CELLS = 5_000_000
# A JSON value costs ~250 bytes once parsed into objects and a frame (300,000 patients of 10
# keys: 800 MB), so JSON holds at most 2,000,000 values, counted by their commas before parsing.
MAX_JSON_VALUES = 2_000_000
SURROGATE = re.compile("[\ud800-\udfff]")
# Controls, and the bidirectional embeddings, overrides and isolates: "Hanako \u202eAMADAY"
# printed as "Hanako YADAMA" (a name that reads as another woman's).
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
FREE_TEXT = (
    "name", "notes", "fracture_sites", "dxa_site", "physician", "treatment", "follow_up_department",
)  # fmt: skip
# Text the reports print, checked against the report fonts (reportgen.printable).
PRINTED_TEXT = (
    "patient_id", "name", "notes", "fracture_sites", "dxa_site", "follow_up_department",
    "physician", "treatment", "device",
)  # fmt: skip
SURROGATE_MESSAGE = "text is not valid Unicode (a lone surrogate escape)"


def file_error(source: str, message: str) -> InputError:
    """A whole-file problem, located like any other: ``INPUT:0:-: message`` (row 0 = the file)."""
    return InputError(str(Problem(source, 0, "-", message)))


def decode_input(data: bytes, source: str, encoding: str | None) -> tuple[str, str]:
    try:
        return decode_text(data, encoding)
    except DecodeRefused as exc:
        raise file_error(source, str(exc)) from None


def error_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def length_message(length: int) -> str:
    return f"cell is {length:,} characters; the limit is {MAX_CELL_CHARS:,}"


def too_many_rows(source: str, rows: int, limit: int = MAX_ROWS) -> InputError:
    return file_error(source, f"{rows:,} rows; the limit is {limit:,} (split the cohort)")


def read_input(path: Path) -> bytes:
    """The bytes of an input file, refused (located, as a file error) when missing, not a
    file, over :data:`MAX_INPUT_BYTES` or empty."""
    source = str(path)
    if not path.exists():
        raise file_error(source, "no such file")
    if not path.is_file():
        raise file_error(source, "not a file")
    try:
        data = read_limited(path, MAX_INPUT_BYTES)
    except FileRefused as exc:
        reason = str(exc)
        if "the limit is" in reason:
            size = path.stat().st_size
            reason = (
                f"file is {size / 2**20:,.0f} MiB; the limit is "
                f"{MAX_INPUT_BYTES / 2**20:,.0f} MiB (split the cohort)"
            )
        else:
            reason = f"cannot read ({reason})"
        raise file_error(source, reason) from None
    if not data.strip():
        raise file_error(source, "the file is empty")
    return data


def input_kind(path: Path, data: bytes) -> str:
    """``xlsx``, ``json`` or ``csv``: by content and suffix, never asked for."""
    if data[:4] == b"PK\x03\x04" or path.suffix.lower() in (".xlsx", ".xlsm"):
        return "xlsx"
    if path.suffix.lower() == ".json" or data.lstrip()[:1] in (b"{", b"["):
        return "json"
    return "csv"

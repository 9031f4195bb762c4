"""One input cell, as text, to its typed value: the only definition of each column kind.

No pandas: the frame coercion (:mod:`reportgen.schema`) applies these parsers to each
distinct string of a column, and the one-record path (:mod:`reportgen.record_input`) to each
cell, so both read every value the same way."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from reportgen.columns import ALIASES, FALSE_WORDS, SMOKING_WORDS, TRUE_WORDS, Column

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_DASHES = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\uff0d": "-"})
# The numbers pandas' ``to_numeric`` read before (decimal ASCII, optional exponent); not
# Python's wider float(): no "1_000", no Arabic-Indic digits (tests/test_cells.py).
_PLAIN_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)
# A whole calendar date, optionally with a local time; no partial dates ("2020-05" is not
# May 1st) and no time zones (one zoned date among plain ones broke parsing; issue 16).
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?", re.ASCII)
_FRACTION = re.compile(r"(\.\d{6})\d+$")
_GESTATION = re.compile(r"^(\d{1,2})\s*\+\s*([0-6])$")
# Plausible dates: none of the events recorded (delivery, admission, DXA) is before 1900 or
# in the future (the reference: the day of the run, plus one day for time zones).
DATE_MIN = datetime(1900, 1, 1)
_LARGEST_WHOLE = 2**53  # whole floats beyond this are not exact integers


@dataclass(frozen=True, slots=True)
class Cell:
    """A parsed cell: ``text`` stripped (None when blank), ``value`` (None when blank or
    bad), ``bad`` (not of the column's kind) and ``out_of_range`` (outside its range)."""

    text: str | None
    value: object
    bad: bool = False
    out_of_range: bool = False


def normalise_header(header: object) -> str:
    """`` YAM (%) `` -> ``yam_(%)`` -> ``yam_percent`` (case, spaces, aliases)."""
    text = unicodedata.normalize("NFKC", str(header)).strip().lower()
    text = re.sub(r"[\s\-]+", "_", text)
    return ALIASES.get(text, text)


# "1.500" in a ";" file: European thousands (1500) or a decimal point (1.5)?
_DOT_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}\.\d{3}")


def dot_thousands_ambiguous(text: str, low: float, high: float) -> bool:
    """Whether ``text`` (from a ``;`` file, where a dot may group thousands) reads as two
    plausible values a thousand times apart: ``1.500`` g is 1.5 or 1500, both in 0–20,000;
    ``0.806`` or a BMD of ``1.005`` g/cm² (1005 is implausible) is not."""
    if not _DOT_THOUSANDS.fullmatch(text.strip()):
        return False
    value = float(text)
    return low <= value <= high and low <= value * 1000 <= high


def parse_cell(column: Column, raw: str, today: date) -> Cell:
    """``raw`` (a cell as read) as a value of ``column``; ``today`` bounds the dates."""
    text = raw.strip() or None
    if text is None:
        return Cell(None, None)
    if column.kind == "choice":
        value: object = _choice(text, column.choices)
    elif column.kind in ("date", "appointment"):
        value = _date(text, today, 5 * 366 if column.kind == "appointment" else 2)
    else:
        value = _PARSERS[column.kind](text)
    if value is None:
        return Cell(text, None, bad=True)
    wrong = column.low is not None and not (
        column.low <= value <= column.high  # type: ignore[operator]
    )
    if wrong and column.kind == "integer" and abs(value) >= 2**63:  # type: ignore[arg-type]
        return Cell(text, None, out_of_range=True)  # not storable as Int64; refused anyway
    return Cell(text, value, out_of_range=wrong)


def kind_message(column: Column) -> str:
    """What a bad cell of ``column`` is told (``not a number``)."""
    return {
        "number": "not a number",
        "integer": "not a whole number",
        "boolean": "not a yes/no value (use yes/no, true/false, 1/0, +/-)",
        "smoking": "unknown smoking status (use never, before_pregnancy or during_pregnancy)",
        "date": "not a date from 1900-01-01 to today (use YYYY-MM-DD, no time zone)",
        "gestation": "not a gestational age (use weeks+days, e.g. 23+4)",
        "appointment": "not a date from 1900-01-01 to five years ahead (use YYYY-MM-DD)",
        "choice": f"not one of {', '.join(column.choices)}",
    }.get(column.kind, "invalid")


def range_message(column: Column) -> str:
    return f"outside the plausible range {column.low:g}–{column.high:g}"


def shown(value: object) -> str:
    """A cell as quoted in a message, cut to 40 characters."""
    text = str(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def plain_number(value: float) -> float | int:
    """A whole float as an int (``3.0`` -> 3), as the records carry numbers."""
    return int(value) if value.is_integer() and abs(value) < _LARGEST_WHOLE else value


def day_of(value: date | datetime) -> date:
    """The calendar day of a date or a date-time (a pandas Timestamp too)."""
    return value.date() if isinstance(value, datetime) else value


def plain_moment(value: datetime) -> date | datetime:
    """Midnight is a date; any other time stays a date-time."""
    return value.date() if value.time() == time() else value


def yes_no(text: str) -> bool | None:
    """A yes/no word (``TRUE_WORDS``, ``FALSE_WORDS``) after NFKC, dash folding and lower
    case; any other text is None."""
    word = unicodedata.normalize("NFKC", text).translate(_DASHES).lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def _number(text: str) -> float | None:
    normalised = unicodedata.normalize("NFKC", text).translate(_DASHES)  # full-width (JIS)
    if _THOUSANDS.match(normalised):
        normalised = normalised.replace(",", "")
    if not _PLAIN_NUMBER.fullmatch(normalised):
        return None
    value = float(normalised)
    return value if math.isfinite(value) else None


def _integer(text: str) -> int | None:
    value = _number(text)
    if value is None or not value.is_integer():
        return None
    return int(value)


def _smoking(text: str) -> str | None:
    return SMOKING_WORDS.get(re.sub(r"\s+", " ", text.lower()))  # blank = not recorded (v2)


def _date(text: str, today: date, days_ahead: int) -> datetime | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        value = datetime.fromisoformat(_FRACTION.sub(r"\1", text))  # nanoseconds: cut to µs
    except ValueError:
        return None
    latest = datetime.combine(today, time()) + timedelta(days=days_ahead)
    return value if DATE_MIN <= value < latest else None


def _gestation(text: str) -> str | None:
    """``23+4`` (weeks+days, 12+0 to 44+6), normalised to ``23+4``."""
    match = _GESTATION.match(unicodedata.normalize("NFKC", text))
    return f"{int(match[1])}+{match[2]}" if match and 12 <= int(match[1]) <= 44 else None


def _choice(text: str, choices: tuple[str, ...]) -> str | None:
    lowered = unicodedata.normalize("NFKC", text).strip().lower()
    return lowered if lowered in choices else None


_PARSERS: dict[str, Callable[[str], object]] = {
    "number": _number,
    "integer": _integer,
    "boolean": yes_no,
    "smoking": _smoking,
    "gestation": _gestation,
    "text": lambda text: text,
}

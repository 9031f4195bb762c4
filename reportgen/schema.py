"""Coercion of a frame of strings by the column table (:mod:`reportgen.columns`), with located
errors."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reportgen.columns import (
    ALIASES,
    COLUMNS,
    FALSE_WORDS,
    SMOKING_WORDS,
    TRUE_WORDS,
    Column,
)
from reportgen.errors import MAX_PROBLEMS, Problem, check_problem_count

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_DASHES = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\uff0d": "-"})
# A whole calendar date, optionally with a local time; no partial dates ("2020-05" is not
# May 1st) and no time zones (one zoned date among plain ones broke parsing; issue 16).
_DATE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
# Plausible dates: none of the events recorded (delivery, admission, DXA) is before 1900 or
# in the future (the reference: the day of the run, plus one day for time zones).
DATE_MIN = pd.Timestamp("1900-01-01")
_NUMPY_STRIP_MAX_CHARS = 64


def normalise_header(header: object) -> str:
    """`` YAM (%) `` -> ``yam_(%)`` -> ``yam_percent`` (case, spaces, aliases)."""
    text = unicodedata.normalize("NFKC", str(header)).strip().lower()
    text = re.sub(r"[\s\-]+", "_", text)
    return ALIASES.get(text, text)


@dataclass
class Coerced:
    """Typed columns plus every problem found; ``bad_rows`` are row labels with an error."""

    frame: pd.DataFrame
    problems: list[Problem]
    bad_rows: set[int]


def coerce_frame(
    raw: pd.DataFrame, rows: pd.Series, source: str, columns: dict[str, Column] | None = None
) -> Coerced:
    """Turn a frame of strings (canonical headers) into typed columns, collecting problems.

    :param rows: the spreadsheet row (or JSON position) of each record, aligned with ``raw``.
    :param columns: the column table (default: the main input's ``COLUMNS``).
    """
    table = COLUMNS if columns is None else columns
    out = pd.DataFrame(index=raw.index)
    problems: list[Problem] = []
    for name in raw.columns:
        column = table.get(name)
        if column is None:
            out[name] = raw[name]
            continue
        # Columns repeat few distinct strings: coerce each once, then gather back by code
        # (validate of 10^5 rows: coercion 2 s -> 0.2 s, benchmarks/experiments.py).
        codes, uniques = pd.factorize(raw[name].to_numpy(dtype=object))
        unique_text = _clean_text(pd.Series(uniques, dtype=object), exact=column.kind == "text")
        if column.kind == "choice":
            unique_values, unique_bad = _to_choice(unique_text, column.choices)
        else:
            unique_values, unique_bad = _COERCERS[column.kind](unique_text)
        text = pd.Series(unique_text.array.take(codes), index=raw.index)
        out[name] = pd.Series(unique_values.array.take(codes), index=raw.index)
        bad = pd.Series(unique_bad.to_numpy(dtype=bool, na_value=False)[codes], index=raw.index)
        problems += _located(bad, text, rows, source, name, _kind_message(column))
        check_problem_count(problems, source)
        if column.low is not None:
            numeric = pd.to_numeric(unique_values, errors="coerce")
            wrong = ((numeric < column.low) | (numeric > column.high)).fillna(False)
            out_of_range = pd.Series(np.asarray(wrong, dtype=bool)[codes], index=raw.index)
            problems += _located(
                out_of_range,
                text,
                rows,
                source,
                name,
                f"outside the plausible range {column.low:g}–{column.high:g}",
            )
    return Coerced(out, problems, {p.row for p in problems})


def _clean_text(series: pd.Series, exact: bool = True) -> pd.Series:
    """Stripped cells, empty ones missing. ``exact`` keeps pandas' strip for free text (numpy's
    fixed-width strings would drop a trailing NUL, silently changing an id)."""
    if exact or series.isna().any() or _longest(series) > _NUMPY_STRIP_MAX_CHARS:
        text = series.astype("string").str.strip()
    else:  # loaders give plain strings: numpy's C strip is far faster than pandas' per cell
        text = pd.Series(
            np.char.strip(series.to_numpy(dtype=str)), index=series.index, dtype="string"
        )
    return text.mask(text == "", pd.NA)


def _longest(series: pd.Series) -> int:
    """numpy's fixed-width strings take rows × longest cell × 4 bytes: 4 GB for one 10,000-
    character cell among 100,000 distinct values, so they are used only for short cells."""
    return max(map(len, series.to_numpy(dtype=object)), default=0)


def _located(
    mask: pd.Series, text: pd.Series, rows: pd.Series, source: str, column: str, message: str
) -> list[Problem]:
    hits = np.flatnonzero(mask.to_numpy(dtype=bool, na_value=False))
    if len(hits) > MAX_PROBLEMS:  # refused before a million Problems are built
        hits = hits[:1]
        check_problem_count(
            [
                Problem(source, int(rows.iloc[i]), column, f"{message}: {_shown(text.iloc[i])}")
                for i in hits
            ],
            source,
            MAX_PROBLEMS,
        )
    return [
        Problem(source, int(rows.iloc[i]), column, f"{message}: {_shown(text.iloc[i])}")
        for i in hits
    ]


def _shown(value: object) -> str:
    text = str(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def _kind_message(column: Column) -> str:
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


def _to_number(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    plain = pd.to_numeric(text.to_numpy(dtype=object, na_value=None), errors="coerce")
    needs_work = text.notna().to_numpy() & np.isnan(plain)
    if not needs_work.any():  # fast path: every cell a plain number (the common case)
        values = pd.Series(plain, index=text.index, dtype="Float64")
        finite = values.isna() | np.isfinite(values.fillna(0).to_numpy(dtype=float))
        values = values.where(finite, pd.NA)
        return values, text.notna() & values.isna()
    return _to_number_slow(text)


def _to_number_slow(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    normalised = text.str.normalize("NFKC").str.translate(_DASHES)  # full-width digits (JIS)
    thousands = normalised.str.match(_THOUSANDS).fillna(False).astype(bool)
    normalised = normalised.where(~thousands, normalised.str.replace(",", "", regex=False))
    values = pd.to_numeric(normalised, errors="coerce").astype("Float64")
    finite = values.isna() | np.isfinite(values.fillna(0).to_numpy(dtype=float))
    values = values.where(finite, pd.NA)
    bad = text.notna() & values.isna()
    return values, bad


def _to_integer(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    values, bad = _to_number(text)
    fractional = values.notna() & (values.fillna(0) % 1 != 0)
    values = values.where(~fractional, pd.NA)
    return values.round().astype("Int64"), bad | fractional


def parse_yes_no(text: pd.Series) -> pd.Series:
    """Nullable booleans from the yes/no words (``TRUE_WORDS``, ``FALSE_WORDS``) after NFKC,
    dash folding and lower case; any other text, or none, is missing (``pd.NA``)."""
    lowered = text.astype("string").str.normalize("NFKC").str.translate(_DASHES).str.lower()
    values = pd.Series(pd.NA, index=text.index, dtype="boolean")
    values[lowered.isin(TRUE_WORDS).fillna(False).astype(bool)] = True
    values[lowered.isin(FALSE_WORDS).fillna(False).astype(bool)] = False
    return values


def _to_boolean(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    values = parse_yes_no(text)
    return values, text.notna() & values.isna()


def _to_smoking(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    lowered = text.str.lower().str.replace(r"\s+", " ", regex=True)
    values = lowered.map(SMOKING_WORDS.get, na_action="ignore").astype("string")
    bad = text.notna() & values.isna()
    return values, bad  # blank = not recorded (v2), never a default


def _to_date(text: pd.Series, days_ahead: int = 2) -> tuple[pd.Series, pd.Series]:
    whole = text.str.fullmatch(_DATE).fillna(False).astype(bool)
    values = pd.to_datetime(text.where(whole), errors="coerce", format="ISO8601")
    latest = pd.Timestamp.now().normalize() + pd.Timedelta(days=days_ahead)
    values = values.where((values >= DATE_MIN) & (values < latest))
    return values, text.notna() & values.isna()


def _to_appointment(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A booked date (follow-up visit): like a date, but up to five years ahead."""
    return _to_date(text, days_ahead=5 * 366)


_GESTATION = re.compile(r"^(\d{1,2})\s*\+\s*([0-6])$")


def _to_gestation(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``23+4`` (weeks+days, 12+0 to 44+6), normalised to ``23+4``."""

    def one(value: object) -> object:
        match = _GESTATION.match(unicodedata.normalize("NFKC", str(value)))
        return f"{int(match[1])}+{match[2]}" if match and 12 <= int(match[1]) <= 44 else None

    values = text.map(one, na_action="ignore").astype("string")
    return values, text.notna() & values.isna()


def _to_choice(text: pd.Series, choices: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    lowered = text.str.normalize("NFKC").str.strip().str.lower()
    values = lowered.where(lowered.isin(choices).fillna(False).astype(bool), pd.NA)
    return values.astype("string"), text.notna() & values.isna()


def _to_text(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    return text, pd.Series(False, index=text.index)


_COERCERS = {
    "number": _to_number,
    "integer": _to_integer,
    "boolean": _to_boolean,
    "smoking": _to_smoking,
    "date": _to_date,
    "text": _to_text,
    "gestation": _to_gestation,
    "appointment": _to_appointment,
}

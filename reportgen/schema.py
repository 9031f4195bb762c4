"""Coercion of a frame of strings by the column table (:mod:`reportgen.columns`), with located
errors. Each distinct string of a column is parsed once by :func:`reportgen.cells.parse_cell`
(columns repeat few distinct strings: validate of 10^5 rows, coercion 2 s -> 0.2 s,
benchmarks/experiments.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from reportgen.cells import (
    Cell,
    kind_message,
    normalise_header,
    parse_cell,
    range_message,
    shown,
    yes_no,
)
from reportgen.columns import COLUMNS, Column
from reportgen.errors import MAX_PROBLEMS, Problem, check_problem_count

__all__ = ["Coerced", "coerce_frame", "normalise_header", "parse_yes_no"]

_DTYPES = {
    "number": "Float64",
    "integer": "Int64",
    "boolean": "boolean",
    "date": "datetime64[ns]",
    "appointment": "datetime64[ns]",
}


@dataclass
class Coerced:
    """Typed columns plus every problem found; ``bad_rows`` are row labels with an error."""

    frame: pd.DataFrame
    problems: list[Problem]
    bad_rows: set[int]


def coerce_frame(
    raw: pd.DataFrame,
    rows: pd.Series,
    source: str,
    columns: dict[str, Column] | None = None,
    *,
    today: date | None = None,
) -> Coerced:
    """Turn a frame of strings (canonical headers) into typed columns, collecting problems.

    :param rows: the spreadsheet row (or JSON position) of each record, aligned with ``raw``.
    :param columns: the column table (default: the main input's ``COLUMNS``).
    """
    table = COLUMNS if columns is None else columns
    today = today or date.today()
    out = pd.DataFrame(index=raw.index)
    problems: list[Problem] = []
    for name in raw.columns:
        column = table.get(name)
        if column is None:
            out[name] = raw[name]
            continue
        codes, uniques = pd.factorize(raw[name].to_numpy(dtype=object))
        cells = [parse_cell(column, str(text), today) for text in uniques]
        out[name] = pd.Series(_typed(cells, column).take(codes), index=raw.index)
        texts = [cell.text for cell in cells]
        for flag, message in (("bad", kind_message(column)), ("out_of_range", None)):
            mask = np.fromiter((getattr(cell, flag) for cell in cells), bool, len(cells))[codes]
            if mask.any():
                problems += _located(
                    mask, texts, codes, rows, source, name, message or range_message(column)
                )
                check_problem_count(problems, source)
    return Coerced(out, problems, {p.row for p in problems})


def _typed(cells: list[Cell], column: Column) -> pd.api.extensions.ExtensionArray | np.ndarray:
    values = [cell.value for cell in cells]
    dtype = _DTYPES.get(column.kind, "string")
    if dtype.startswith("datetime"):
        return pd.to_datetime(pd.Series(values, dtype=object)).to_numpy(dtype="datetime64[ns]")
    return pd.array(values, dtype=dtype)


def _located(
    mask: np.ndarray,
    texts: list[str | None],
    codes: np.ndarray,
    rows: pd.Series,
    source: str,
    column: str,
    message: str,
) -> list[Problem]:
    hits = np.flatnonzero(mask).tolist()
    if len(hits) > MAX_PROBLEMS:  # refused before a million Problems are built
        hits = hits[:1]
        check_problem_count(
            [_problem(i, texts, codes, rows, source, column, message) for i in hits],
            source,
            MAX_PROBLEMS,
        )
    return [_problem(i, texts, codes, rows, source, column, message) for i in hits]


def _problem(
    i: int,
    texts: list[str | None],
    codes: np.ndarray,
    rows: pd.Series,
    source: str,
    column: str,
    message: str,
) -> Problem:
    return Problem(source, int(rows.iloc[i]), column, f"{message}: {shown(texts[codes[i]])}")


def parse_yes_no(text: pd.Series) -> pd.Series:
    """Nullable booleans from the yes/no words (:func:`reportgen.cells.yes_no`); any other
    text, or none, is missing (``pd.NA``)."""
    return pd.Series(
        [yes_no(t) if isinstance(t, str) else None for t in text.astype(object)],
        index=text.index,
        dtype="boolean",
    )

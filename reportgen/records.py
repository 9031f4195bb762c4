"""Validate a loaded table: required columns, types, ranges, duplicates, derived values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import numpy as np
import pandas as pd

from reportgen.columns import COLUMNS, REQUIRED_COLUMNS
from reportgen.errors import MAX_PROBLEMS, Problem, ProblemList, check_problem_count
from reportgen.exposure import check_as_of
from reportgen.loaders import RawTable
from reportgen.row_rules import (
    BLANK_ALLOWED,
    derived_bmi,
    id_text_problems,
    missing_columns,
    missing_value_message,
    para_message,
    parsed_infusions,
    stay_message,
    summarise_infusions,
    unknown_columns,
)
from reportgen.schema import coerce_frame

_REQUIRED = REQUIRED_COLUMNS


@dataclass
class PreparedTable(ProblemList):
    """Typed rows (valid and invalid), the validity mask and every problem found."""

    source: str
    frame: pd.DataFrame  # typed; includes `_row`, `_derived` (comma-separated names)
    valid: pd.Series
    problems: list[Problem]
    scans: dict[int, object] = field(default_factory=dict)  # a JSON's `scans` lists, by index

    @property
    def valid_frame(self) -> pd.DataFrame:
        return self.frame[self.valid.to_numpy()].reset_index(drop=True)


def prepare_table(raw: RawTable, *, as_of: datetime | None = None) -> PreparedTable:
    """Coerce, derive and check every row; collect all problems, never stop at the first.

    ``as_of`` (inpatients) counts infusions up to that moment; a running infusion
    (``"end": null``) needs it."""
    source, rows = raw.source, raw.rows
    if as_of is not None:
        check_as_of(as_of)
    problems = list(raw.problems)
    problems += unknown_columns(raw.frame.columns, source, raw.header_row)
    known = raw.frame[[c for c in raw.frame.columns if c in COLUMNS]]
    coerced = coerce_frame(known, rows, source)
    frame = coerced.frame
    problems += coerced.problems
    check_problem_count(problems, source)
    derived = pd.Series("", index=frame.index, dtype=object)

    frame, derived, infusion_problems = _derive_from_infusions(frame, derived, raw, rows, as_of)
    problems += infusion_problems
    check_problem_count(problems, source)
    frame, derived = _derive_bmi(frame, derived)
    if raw.kind == "json":  # no header row: each object reports its own missing values
        had_yam = "yam_percent" in frame.columns
        frame = _add_missing_required(frame, skip=() if had_yam else BLANK_ALLOWED)
    column_problems = missing_columns(
        frame.columns,
        [str(h) for h in raw.frame.columns],
        source,
        raw.header_row,
        infusions_everywhere=bool(raw.infusions) and len(raw.infusions) == len(frame),
    )
    problems += column_problems
    check_problem_count(problems, source)
    located = {(p.row, p.column) for p in problems}
    problems += [
        p for p in _missing_values(frame, rows, source) if (p.row, p.column) not in located
    ]  # "not a number" already says it
    check_problem_count(problems, source)
    problems += _duplicate_ids(frame, rows, source)
    check_problem_count(problems, source)
    problems += _cross_checks(frame, rows, source)
    check_problem_count(problems, source)

    frame["_row"] = rows.to_numpy()
    frame["_derived"] = derived.str.strip(",")
    bad_rows = {p.row for p in problems if p.severity == "error"}
    # A header error (missing or duplicated column) leaves every row's values in doubt.
    header_error = bool(column_problems) or (raw.kind == "table" and raw.header_row in bad_rows)
    valid = ~rows.isin(bad_rows) & (not header_error)
    problems.sort(key=lambda p: p.order)
    return PreparedTable(source, frame, valid.reset_index(drop=True), problems, raw.scans)


_DTYPES = {"number": "Float64", "integer": "Int64", "boolean": "boolean"}


def _add_missing_required(frame: pd.DataFrame, skip: tuple[str, ...] = ()) -> pd.DataFrame:
    for name in (*_REQUIRED, "bmi_kg_m2"):
        if name not in frame.columns and name not in skip:
            dtype = _DTYPES.get(COLUMNS[name].kind, "string")
            frame[name] = pd.Series(pd.NA, index=frame.index, dtype=dtype)
    return frame


def _missing_values(frame: pd.DataFrame, rows: pd.Series, source: str) -> list[Problem]:
    problems = []
    for name in (*_REQUIRED, "bmi_kg_m2"):
        if name not in frame.columns or name in BLANK_ALLOWED:
            continue
        missing = frame[name].isna().to_numpy()
        if name == "bmi_kg_m2" and {"height_cm", "weight_kg"} <= set(frame.columns):
            # Weight and height given but no BMI: implausible, as their range errors say.
            missing = missing & ~(frame["weight_kg"].notna() & frame["height_cm"].notna()).to_numpy(
                bool
            )
        _check_hits(missing, rows, source, name)
        message = missing_value_message(name)
        problems += [
            Problem(source, int(rows.iloc[i]), name, message) for i in np.flatnonzero(missing)
        ]
    return problems


def _duplicate_ids(frame: pd.DataFrame, rows: pd.Series, source: str) -> list[Problem]:
    if "patient_id" not in frame.columns:
        return []
    ids = frame["patient_id"]
    duplicated = ids.notna() & ids.duplicated(keep="first")
    _check_hits(duplicated.to_numpy(dtype=bool, na_value=False), rows, source, "patient_id")
    first_row = dict(zip(ids[~ids.duplicated()], rows[~ids.duplicated()], strict=True))
    problems = [
        Problem(
            source,
            int(rows.iloc[i]),
            "patient_id",
            f"duplicate patient_id (first in row {first_row[ids.iloc[i]]})",
        )
        for i in np.flatnonzero(duplicated.to_numpy(dtype=bool, na_value=False))
    ]
    return problems + id_text_problems(
        ids[~duplicated].tolist(), rows[~duplicated].tolist(), source
    )


def _check_hits(mask: np.ndarray, rows: pd.Series, source: str, column: str) -> None:
    """Refuse the file before more than MAX_PROBLEMS Problems of one kind are built."""
    hits = np.flatnonzero(mask)
    if len(hits) > MAX_PROBLEMS:
        check_problem_count(
            [Problem(source, int(rows.iloc[hits[0]]), column, f"{len(hits):,} rows like this one")],
            source,
            MAX_PROBLEMS,
        )


def _cross_checks(frame: pd.DataFrame, rows: pd.Series, source: str) -> list[Problem]:
    problems = []
    if {"gravida", "para"} <= set(frame.columns):
        wrong = (frame["para"] > frame["gravida"]).to_numpy(dtype=bool, na_value=False)
        _check_hits(wrong, rows, source, "para")
        problems += [
            Problem(
                source,
                int(rows.iloc[i]),
                "para",
                para_message(frame["para"].iloc[i], frame["gravida"].iloc[i]),
            )
            for i in np.flatnonzero(wrong)
        ]
    if {"admission_date", "discharge_date"} <= set(frame.columns):
        admitted = frame["admission_date"].dt.normalize()
        wrong = (frame["discharge_date"].dt.normalize() < admitted).to_numpy(bool, na_value=False)
        _check_hits(wrong, rows, source, "discharge_date")
        problems += [
            Problem(source, int(rows.iloc[i]), "discharge_date", stay_message(admitted.iloc[i]))
            for i in np.flatnonzero(wrong)
        ]
    return problems


def _derive_bmi(frame: pd.DataFrame, derived: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    if not {"height_cm", "weight_kg"} <= set(frame.columns):
        return frame, derived
    if "bmi_kg_m2" not in frame.columns:
        frame["bmi_kg_m2"] = pd.Series(pd.NA, index=frame.index, dtype="Float64")
    fill = (
        frame["bmi_kg_m2"].isna() & frame["weight_kg"].notna() & frame["height_cm"].notna()
    ).to_numpy(dtype=bool)
    if fill.any():
        frame.loc[fill, "bmi_kg_m2"] = [
            derived_bmi(float(w), float(h))
            for w, h in zip(frame.loc[fill, "weight_kg"], frame.loc[fill, "height_cm"], strict=True)
        ]
        fill = fill & frame["bmi_kg_m2"].notna().to_numpy(
            dtype=bool
        )  # none from implausible inputs
    derived = derived.where(~fill, derived + ",bmi_kg_m2")
    return frame, derived


def _derive_from_infusions(
    frame: pd.DataFrame,
    derived: pd.Series,
    raw: RawTable,
    rows: pd.Series,
    as_of: datetime | None = None,
) -> tuple[pd.DataFrame, pd.Series, list[Problem]]:
    if not raw.infusions:
        return frame, derived, []
    problems: list[Problem] = []
    for name, dtype in (
        ("mgso4_days", "Int64"),
        ("mgso4_total_g", "Float64"),
        ("_mgso4_start", "datetime64[ns]"),
        ("_mgso4_end", "datetime64[ns]"),
        ("_infusions", object),
        ("_as_of", object),
    ):
        if name not in frame.columns:
            frame[name] = pd.Series(
                None if dtype is object else pd.NA, index=frame.index, dtype=dtype
            )
    for index, infusions in raw.infusions.items():
        row = int(rows.iloc[index])
        totals, found = summarise_infusions(infusions, raw.source, row, as_of)
        problems += found
        check_problem_count(problems, raw.source)
        if totals is None:
            continue
        days, grams = totals
        parsed = parsed_infusions(infusions)
        # The infusion span, for the report's timeline (valid lists only reach here).
        frame.at[index, "_mgso4_start"] = min(start for start, _, _ in parsed)
        ends = [end or as_of for _, end, _ in parsed]  # as_of is set when one is running
        frame.at[index, "_mgso4_end"] = max(cast(list[datetime], ends))
        frame.at[index, "_infusions"] = [
            [a.isoformat(), b and b.isoformat(), r] for a, b, r in parsed
        ]
        frame.at[index, "_as_of"] = as_of.isoformat() if as_of else None
        if pd.isna(frame.at[index, "mgso4_days"]):
            frame.at[index, "mgso4_days"] = days
            derived.iloc[index] += ",mgso4_days"
        if pd.isna(frame.at[index, "mgso4_total_g"]):
            frame.at[index, "mgso4_total_g"] = round(grams, 1)
            derived.iloc[index] += ",mgso4_total_g"
    return frame, derived, problems


def attach_lab_draws(
    table: PreparedTable, draws: dict[str, list[dict]], problems: list[Problem], bad_ids: set[str]
) -> PreparedTable:
    """The ``--labs`` series on each patient's row (``_lab_draws``); a patient with a bad lab
    row is not valid (no partial report), and the lab file's problems join the table's."""
    frame = table.frame
    ids = frame["patient_id"] if "patient_id" in frame else pd.Series([], dtype=object)
    frame["_lab_draws"] = pd.Series(
        [draws.get(pid) if isinstance(pid, str) else None for pid in ids],
        index=frame.index,
        dtype=object,
    )
    valid = table.valid & ~ids.isin(bad_ids).reset_index(drop=True)
    return PreparedTable(table.source, frame, valid, table.problems + problems)

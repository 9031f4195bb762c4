"""Validate a loaded table: required columns, types, ranges, duplicates, derived values."""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import cast

import numpy as np
import pandas as pd

from reportgen.columns import COLUMNS, REQUIRED_COLUMNS
from reportgen.errors import MAX_PROBLEMS, Problem, check_problem_count
from reportgen.loaders import RawTable
from reportgen.schema import coerce_frame

# Infusion rate plausibility: the label maximum is 2 g/h; loading doses reach about 12 g/h.
MAX_INFUSION_RATE_G_PER_H = 20.0
_REQUIRED = REQUIRED_COLUMNS
_FROM_INFUSIONS = ("mgso4_days", "mgso4_total_g")
# Required as a column (a missing column is a mapping mistake), but a blank cell is a fact:
# no DXA yet (contract §5, v2: classification "not_measured").
_BLANK_ALLOWED = ("yam_percent",)


@dataclass
class PreparedTable:
    """Typed rows (valid and invalid), the validity mask and every problem found."""

    source: str
    frame: pd.DataFrame  # typed; includes `_row`, `_derived` (comma-separated names)
    valid: pd.Series
    problems: list[Problem]
    scans: dict[int, object] = field(default_factory=dict)  # a JSON's `scans` lists, by index

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def valid_frame(self) -> pd.DataFrame:
        return self.frame[self.valid.to_numpy()].reset_index(drop=True)


def prepare_table(raw: RawTable, *, as_of: datetime | None = None) -> PreparedTable:
    """Coerce, derive and check every row; collect all problems, never stop at the first.

    ``as_of`` (inpatients) counts infusions up to that moment; a running infusion
    (``"end": null``) needs it."""
    source, rows = raw.source, raw.rows
    problems = list(raw.problems)
    unknown = [name for name in raw.frame.columns if name not in COLUMNS]
    problems += [
        Problem(
            source, raw.header_row, name, "unknown column, ignored" + _did_you_mean(name), "warning"
        )
        for name in unknown
    ]
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
        frame = _add_missing_required(frame, skip=() if had_yam else _BLANK_ALLOWED)
    column_problems = _missing_columns(frame, raw, source)
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
    problems.sort(key=lambda p: (p.row, p.severity != "error", p.column))
    return PreparedTable(source, frame, valid.reset_index(drop=True), problems, raw.scans)


def _did_you_mean(header: str) -> str:
    """``; did you mean 'yam_percent'?`` for a near-miss header (``yam_pct``), else ``""``."""
    close = difflib.get_close_matches(header, COLUMNS, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _near_miss(name: str, headers: list[str]) -> str:
    """`` (is 'yam_pct' meant to be yam_percent?)`` when an unknown header is close to ``name``."""
    close = difflib.get_close_matches(
        name, [h for h in headers if h not in COLUMNS], n=1, cutoff=0.75
    )
    return f" (is {close[0]!r} meant to be {name}?)" if close else ""


def _missing_columns(frame: pd.DataFrame, raw: RawTable, source: str) -> list[Problem]:
    problems = []
    headers = [str(h) for h in raw.frame.columns]
    for name in _REQUIRED:
        if name in frame.columns:
            continue
        if name in _FROM_INFUSIONS and raw.infusions and len(raw.infusions) == len(frame):
            continue
        problems.append(
            Problem(
                source, raw.header_row, name, "required column missing" + _near_miss(name, headers)
            )
        )
    if "bmi_kg_m2" not in frame.columns:
        problems.append(
            Problem(
                source,
                raw.header_row,
                "bmi_kg_m2",
                "required column missing (give bmi_kg_m2, or height_cm and weight_kg)",
            )
        )
    return problems


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
        if name not in frame.columns or name in _BLANK_ALLOWED:
            continue
        missing = frame[name].isna().to_numpy()
        _check_hits(missing, rows, source, name)
        message = "required value missing"
        if name == "bmi_kg_m2":
            message += " (give bmi_kg_m2, or height_cm and weight_kg)"
        elif name in _FROM_INFUSIONS:
            message += " (or give an infusion record)"
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
    return problems + _id_text_problems(ids[~duplicated], rows[~duplicated], source)


# Characters that are not visible text: controls (CR starts a new spreadsheet row in
# cohort-cases.csv, issue 16), format characters (bidi overrides, zero-width), line and
# paragraph separators, lone surrogates.
_HIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs")


def _id_text_problems(ids: pd.Series, rows: pd.Series, source: str) -> list[Problem]:
    """Ids with hidden characters are errors; two ids that are one id after NFKC (composed
    and decomposed accents, full-width letters) are an error, after case-folding a warning."""
    problems: list[Problem] = []
    seen: dict[str, tuple[str, int]] = {}
    folded: dict[str, tuple[str, int]] = {}
    for pid, row in zip(ids.tolist(), rows.tolist(), strict=True):
        if not isinstance(pid, str):
            continue
        check_problem_count(problems, source)
        plain = pid.isascii() and pid.isprintable()  # the common case: no scan, NFKC = itself
        hidden = (
            None
            if plain
            else next((c for c in pid if unicodedata.category(c) in _HIDDEN_CATEGORIES), None)
        )
        if hidden is not None:
            problems.append(
                Problem(
                    source,
                    int(row),
                    "patient_id",
                    f"control or invisible character U+{ord(hidden):04X} in "
                    "the id; ids must be plain visible text",
                )
            )
            continue
        key = pid if plain else unicodedata.normalize("NFKC", pid)
        if key in seen:
            problems.append(
                Problem(
                    source,
                    int(row),
                    "patient_id",
                    f"the same id as row {seen[key][1]} once Unicode is "
                    "normalised (NFKC: composed/decomposed or full-width "
                    "characters); write one id one way",
                )
            )
            continue
        seen[key] = (pid, int(row))
        if key.casefold() in folded:
            problems.append(
                Problem(
                    source,
                    int(row),
                    "patient_id",
                    f"differs from the id in row {folded[key.casefold()][1]} only in letter case",
                    "warning",
                )
            )
        folded.setdefault(key.casefold(), (pid, int(row)))
    return problems


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
    if not {"gravida", "para"} <= set(frame.columns):
        return []
    wrong = (frame["para"] > frame["gravida"]).to_numpy(dtype=bool, na_value=False)
    _check_hits(wrong, rows, source, "para")
    return [
        Problem(
            source,
            int(rows.iloc[i]),
            "para",
            f"para ({frame['para'].iloc[i]}) exceeds gravida ({frame['gravida'].iloc[i]})",
        )
        for i in np.flatnonzero(wrong)
    ]


def _derive_bmi(frame: pd.DataFrame, derived: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    if not {"height_cm", "weight_kg"} <= set(frame.columns):
        return frame, derived
    if "bmi_kg_m2" not in frame.columns:
        frame["bmi_kg_m2"] = pd.Series(pd.NA, index=frame.index, dtype="Float64")
    computed = frame["weight_kg"] / (frame["height_cm"] / 100) ** 2
    fill = frame["bmi_kg_m2"].isna() & computed.notna()
    frame.loc[fill, "bmi_kg_m2"] = computed[fill].round(2)  # 1 dp would turn 18.46 into 18.5
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
        parsed = _parsed_infusions(infusions)
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


def _parsed_infusions(infusions: object) -> list[tuple[datetime, datetime | None, float]]:
    """A list that :func:`summarise_infusions` found valid: every start is a date-time."""
    return [
        (
            cast(datetime, _datetime(i["start"])),
            _datetime(i["end"]) if i.get("end") is not None else None,
            float(i["rate_g_per_h"]),
        )
        for i in cast(list, infusions)
    ]


def summarise_infusions(
    infusions: object,
    source: str,
    row: int,
    as_of: datetime | None = None,
) -> tuple[tuple[int, float] | None, list[Problem]]:
    """``(calendar days with any infusion, sum of rate × hours)`` up to ``as_of``, or the
    problems found. An infusion still running has ``"end": null`` and needs ``as_of``."""
    if not isinstance(infusions, list) or not infusions:
        return None, [Problem(source, row, "infusions", "must be a non-empty list of infusions")]
    problems: list[Problem] = []
    days: set[date] = set()
    grams = 0.0
    for number, item in enumerate(infusions, start=1):
        check_problem_count(problems, source)
        where = f"infusions[{number}]"
        if not isinstance(item, dict):
            problems.append(
                Problem(source, row, where, "expected an object with start, end, rate_g_per_h")
            )
            continue
        start, end = _datetime(item.get("start")), _datetime(item.get("end"))
        running = "end" in item and item["end"] is None
        rate = item.get("rate_g_per_h")
        if start is None:
            problems.append(Problem(source, row, f"{where}.start", "not an ISO date-time"))
        if running and as_of is None:
            problems.append(
                Problem(
                    source,
                    row,
                    f"{where}.end",
                    "still running (null): give --as-of to count the exposure so far",
                )
            )
        elif running:
            end = as_of
        elif end is None:
            problems.append(Problem(source, row, f"{where}.end", "not an ISO date-time"))
        if (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not (0 <= rate <= MAX_INFUSION_RATE_G_PER_H)
        ):
            problems.append(
                Problem(
                    source,
                    row,
                    f"{where}.rate_g_per_h",
                    f"must be a number from 0 to {MAX_INFUSION_RATE_G_PER_H:g}",
                )
            )
            continue
        if start is None or end is None:
            continue
        if end <= start and not running:
            problems.append(Problem(source, row, f"{where}.end", "ends before it starts"))
            continue
        if as_of is not None:
            end = min(end, as_of)
        if end <= start:  # starts after the as-of moment: not given yet
            continue
        grams += rate * (end - start).total_seconds() / 3600
        day, last = start.date(), (end - timedelta(microseconds=1)).date()
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    if problems:
        return None, problems
    return (len(days), grams), []


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=None)  # wall-clock time decides the calendar day


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

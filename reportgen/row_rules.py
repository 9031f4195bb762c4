"""The checks on input rows that need no pandas, shared by the frame path
(:mod:`reportgen.records`) and the one-record path (:mod:`reportgen.record_input`): header
mistakes, required values, ids, infusion records, the derived BMI."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import cast

from reportgen.cells import DATE_MIN, day_of
from reportgen.columns import COLUMNS, REQUIRED_COLUMNS
from reportgen.errors import Problem, check_problem_count

# Infusion rate plausibility: the label maximum is 2 g/h; loading doses reach about 12 g/h.
MAX_INFUSION_RATE_G_PER_H = 20.0
# An infusion record's totals are held to the ranges of the columns they stand for.
MAX_INFUSION_DAYS = cast(float, COLUMNS["mgso4_days"].high)
MAX_INFUSION_GRAMS = cast(float, COLUMNS["mgso4_total_g"].high)
_OUTSIDE_DATES = "not a date-time from 1900-01-01 to today"
_INFUSION_KEYS = ("start", "end", "rate_g_per_h")
FROM_INFUSIONS = ("mgso4_days", "mgso4_total_g")
# Required as a column (a missing column is a mapping mistake), but a blank cell is a fact:
# no DXA yet (contract §5, v2: classification "not_measured").
BLANK_ALLOWED = ("yam_percent",)
BMI_MISSING = " (give bmi_kg_m2, or height_cm and weight_kg)"


def unknown_columns(names: Iterable[str], source: str, header_row: int) -> list[Problem]:
    """A warning for each name that is not a contract column (with a near match, if any)."""
    return [
        Problem(source, header_row, name, "unknown column, ignored" + did_you_mean(name), "warning")
        for name in names
        if name not in COLUMNS
    ]


def missing_columns(
    columns: Iterable[str],
    headers: list[str],
    source: str,
    header_row: int,
    *,
    infusions_everywhere: bool,
) -> list[Problem]:
    """A header problem for each required column absent from ``columns``.

    :param headers: the file's own headers (for a near-miss hint).
    :param infusions_everywhere: every row has an infusion record (the dose columns may go).
    """
    present = set(columns)
    problems = [
        Problem(source, header_row, name, "required column missing" + near_miss(name, headers))
        for name in REQUIRED_COLUMNS
        if name not in present and not (name in FROM_INFUSIONS and infusions_everywhere)
    ]
    if "bmi_kg_m2" not in present:
        problems.append(
            Problem(source, header_row, "bmi_kg_m2", "required column missing" + BMI_MISSING)
        )
    return problems


def missing_value_message(name: str) -> str:
    message = "required value missing"
    if name == "bmi_kg_m2":
        return message + BMI_MISSING
    if name in FROM_INFUSIONS:
        return message + " (or give an infusion record)"
    return message


def para_message(para: object, gravida: object) -> str:
    return f"para ({para}) exceeds gravida ({gravida})"


def stay_message(admission: object) -> str:
    """A discharge before the admission (a typing slip: the stay cannot be drawn or counted)."""
    return f"before admission_date ({day_of(cast(date, admission))})"


def discharged_before_admitted(admission: object, discharge: object) -> bool:
    """Whether both dates are given and the discharge day is before the admission day."""
    if admission is None or discharge is None:
        return False
    return day_of(cast(date, discharge)) < day_of(cast(date, admission))


def derived_bmi(weight_kg: float, height_cm: float) -> float | None:
    """kg/m², rounded to 2 places as numpy rounds (half to even on the scaled binary value;
    1 place would turn 18.46 into 18.5); ``None`` unless both are in their plausible ranges
    (outside them the row is refused by their own range errors, and 0 cm has no BMI)."""
    if not (_plausible("weight_kg", weight_kg) and _plausible("height_cm", height_cm)):
        return None
    scaled = weight_kg / (height_cm / 100) ** 2 * 100
    return round(scaled) / 100


def _plausible(name: str, value: float) -> bool:
    column = COLUMNS[name]
    return cast(float, column.low) <= value <= cast(float, column.high)


def did_you_mean(header: str) -> str:
    """``; did you mean 'yam_percent'?`` for a near-miss header (``yam_pct``), else ``""``."""
    close = difflib.get_close_matches(header, COLUMNS, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def near_miss(name: str, headers: list[str]) -> str:
    """`` (is 'yam_pct' meant to be yam_percent?)`` when an unknown header is close to ``name``."""
    close = difflib.get_close_matches(
        name, [h for h in headers if h not in COLUMNS], n=1, cutoff=0.75
    )
    return f" (is {close[0]!r} meant to be {name}?)" if close else ""


# Characters that are not visible text: controls (CR starts a new spreadsheet row in
# cohort-cases.csv, issue 16), format characters (bidi overrides, zero-width), line and
# paragraph separators, lone surrogates.
_HIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs")


def id_text_problems(ids: Iterable[object], rows: Iterable[int], source: str) -> list[Problem]:
    """Ids with hidden characters are errors; two ids that are one id after NFKC (composed
    and decomposed accents, full-width letters) are an error, after case-folding a warning."""
    problems: list[Problem] = []
    seen: dict[str, tuple[str, int]] = {}
    folded: dict[str, tuple[str, int]] = {}
    for pid, row in zip(ids, rows, strict=True):
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


def parsed_infusions(infusions: object) -> list[tuple[datetime, datetime | None, float]]:
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
    today: date | None = None,
) -> tuple[tuple[int, float] | None, list[Problem]]:
    """``(calendar days with any infusion, sum of rate × hours)`` up to ``as_of``, or the
    problems found. An infusion still running has ``"end": null`` and needs ``as_of``. Each
    start and end lies from 1900-01-01 to ``today`` (as a date column does), and the totals
    within the plausible ranges of ``mgso4_days`` and ``mgso4_total_g``."""
    if not isinstance(infusions, list) or not infusions:
        return None, [Problem(source, row, "infusions", "must be a non-empty list of infusions")]
    latest = datetime.combine(today or date.today(), time()) + timedelta(days=2)
    problems: list[Problem] = []
    spans: list[tuple[int, int]] = []  # first and last day (ordinals) of each infusion
    grams, not_yet = 0.0, 0
    warnings: list[Problem] = []
    for number, item in enumerate(infusions, start=1):
        check_problem_count(problems or warnings, source, len(warnings) if problems else 0)
        where = f"infusions[{number}]"
        if not isinstance(item, dict):
            problems.append(
                Problem(source, row, where, "expected an object with start, end, rate_g_per_h")
            )
            continue
        warnings += [
            Problem(source, row, f"{where}.{key}", "unknown key, ignored", "warning")
            for key in item
            if key not in _INFUSION_KEYS
        ]  # as an unknown column is (a misspelt "rate" would otherwise pass unseen)
        start, end = _datetime(item.get("start")), _datetime(item.get("end"))
        running = "end" in item and item["end"] is None
        rate = item.get("rate_g_per_h")
        if start is None:
            problems.append(Problem(source, row, f"{where}.start", "not an ISO date-time"))
        elif not DATE_MIN <= start < latest:
            problems.append(Problem(source, row, f"{where}.start", _OUTSIDE_DATES))
            start = None
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
        elif not DATE_MIN <= end < latest:
            problems.append(Problem(source, row, f"{where}.end", _OUTSIDE_DATES))
            end = None
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
            not_yet += 1
            continue
        grams += rate * (end - start).total_seconds() / 3600
        last = (end - timedelta(microseconds=1)).date()
        spans.append((start.date().toordinal(), last.toordinal()))
    if problems:
        return None, problems + warnings
    days = _days_covered(spans)
    if days > MAX_INFUSION_DAYS:
        problems.append(
            _implausible_total(source, row, f"{days} days", f"{MAX_INFUSION_DAYS:g} days")
        )
    if grams > MAX_INFUSION_GRAMS:
        problems.append(
            _implausible_total(source, row, f"{grams:,.0f} g", f"{MAX_INFUSION_GRAMS:,.0f} g")
        )
    if problems:
        return None, problems + warnings
    if not spans and not_yet and as_of is not None:  # a slip of the as-of date, most likely
        warning = f"--as-of {as_of:%Y-%m-%d %H:%M} is before the first infusion: no MgSO4 counted"
        return (0, 0.0), [*warnings, Problem(source, row, "infusions", warning, "warning")]
    return (days, grams), warnings


def _implausible_total(source: str, row: int, total: str, most: str) -> Problem:
    return Problem(source, row, "infusions", f"add up to {total}: more than the plausible {most}")


def _days_covered(spans: list[tuple[int, int]]) -> int:
    """How many days the ``(first, last)`` day spans cover together (overlaps once)."""
    days, reached = 0, None
    for first, last in sorted(spans):
        if reached is not None:
            first = max(first, reached + 1)
        if last >= first:
            days += last - first + 1
        reached = last if reached is None else max(reached, last)
    return days


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=None)  # wall-clock time decides the calendar day

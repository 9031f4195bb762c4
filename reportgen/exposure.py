"""MgSO4 exposure so far (inpatients, ``--as-of``): contract.md §5 (v2).

From an infusion record whose last infusion may still be running (``"end": null``): the
cumulative dose and the calendar days with any infusion up to the as-of moment, the rate
running at that moment, and the date at which, at that rate, the cumulative dose would pass the
high-dose threshold (None when not infusing or already past it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import cast

from reportgen.errors import ReportError

Infusion = tuple[datetime, datetime | None, float]  # start, end (None = running), g/h


# A projection further ahead than this is no plan (a rate of 0.00001 g/h once overflowed the
# calendar): the report then says no date.
PROJECTION_HORIZON = timedelta(days=366)
AS_OF_FIRST = datetime(1900, 1, 1)  # the dates' own range (cells.DATE_MIN) ...
AS_OF_DAYS_AHEAD = 2  # ... to today, with a day's slack for time zones


def parse_as_of(text: str, today: date | None = None) -> datetime:
    """``2025-03-05`` (00:00 that day) or ``2025-03-05T14:00``: a ValueError if it is not an
    ISO date, a ReportError if it is not from 1900-01-01 to today. A time zone is dropped:
    wall-clock time, as the infusions'."""
    moment = datetime.fromisoformat(text.strip())
    return check_as_of(moment.replace(tzinfo=None), today)


def check_as_of(moment: datetime, today: date | None = None) -> datetime:
    """``moment`` if it lies from 1900-01-01 to today (an as-of in year 1 silently counted
    no exposure and dropped the dose flags), else a :class:`ReportError` saying so."""
    latest = datetime.combine(today or date.today(), time()) + timedelta(days=AS_OF_DAYS_AHEAD)
    if not AS_OF_FIRST <= moment.replace(tzinfo=None) < latest:
        raise ReportError(f"as-of {moment.isoformat()}: not from 1900-01-01 to today")
    return moment


def stored_infusions(record: Mapping[str, object]) -> list[Infusion]:
    """The infusion record as ``prepare_table`` stores it on a row (``_infusions``: ISO start,
    ISO end or None while running, g/h), parsed."""
    stored = cast("Iterable[tuple[str, str | None, float]]", record.get("_infusions") or ())
    return [
        (datetime.fromisoformat(a), datetime.fromisoformat(b) if b else None, float(r))
        for a, b, r in stored
    ]


def clipped(
    infusions: Sequence[Infusion], as_of: datetime | None
) -> list[tuple[datetime, datetime, float]]:
    """Each infusion's part up to ``as_of`` (a running one ends there); later ones dropped."""
    out = []
    for start, end, rate in infusions:
        stop = end if end is not None else as_of
        if as_of is not None and stop is not None:
            stop = min(stop, as_of)
        if stop is not None and stop > start:
            out.append((start, stop, rate))
    return out


def totals(infusions: Sequence[Infusion], as_of: datetime | None) -> tuple[int, float]:
    """(calendar days with any infusion, Σ rate × hours) up to ``as_of``."""
    days = set()
    grams = 0.0
    for start, stop, rate in clipped(infusions, as_of):
        grams += rate * (stop - start).total_seconds() / 3600
        day, last = start.date(), (stop - timedelta(microseconds=1)).date()
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    return len(days), grams


def current_rate(infusions: Sequence[Infusion], as_of: datetime) -> float:
    """g/h running at ``as_of`` (0 when nothing runs)."""
    return sum(
        rate for start, end, rate in infusions if start <= as_of and (end is None or end > as_of)
    )


def exposure_so_far(
    infusions: Sequence[Infusion], as_of: datetime, threshold_g: float
) -> dict[str, object]:
    """The contract's ``exposure`` object."""
    days, grams = totals(infusions, as_of)
    rate = current_rate(infusions, as_of)
    projected = None
    if rate > 0 and grams <= threshold_g:
        ahead = timedelta(hours=(threshold_g - grams) / rate) if rate > 1e-9 else None
        if ahead is not None and ahead <= PROJECTION_HORIZON:
            projected = (as_of + ahead).date().isoformat()
    return {
        "as_of": as_of.isoformat(timespec="minutes"),
        "cumulative_g": round(grams, 1),
        "days": days,
        "current_rate_g_per_h": rate,
        "projected_threshold_date": projected,
        "threshold_g": threshold_g,
    }


def cumulative_series(
    infusions: Sequence[Infusion], as_of: datetime | None
) -> list[tuple[datetime, float]]:
    """(moment, cumulative g) at every start and stop, for the exposure chart: one sweep
    over the moments the total rate changes (20,000 infusions once took minutes)."""
    changes: dict[datetime, float] = defaultdict(float)
    for start, stop, rate in clipped(infusions, as_of):
        changes[start] += rate
        changes[stop] -= rate
    series: list[tuple[datetime, float]] = []
    grams, rate = 0.0, 0.0
    for moment in sorted(changes):
        if series:
            grams += rate * (moment - series[-1][0]).total_seconds() / 3600
        series.append((moment, grams))
        rate += changes[moment]
    return series

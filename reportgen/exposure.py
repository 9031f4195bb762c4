"""MgSO4 exposure so far (inpatients, ``--as-of``): contract.md §5 (v2).

From an infusion record whose last infusion may still be running (``"end": null``): the
cumulative dose and the calendar days with any infusion up to the as-of moment, the rate
running at that moment, and the date at which, at that rate, the cumulative dose would pass the
high-dose threshold (None when not infusing or already past it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import cast

Infusion = tuple[datetime, datetime | None, float]  # start, end (None = running), g/h


def parse_as_of(text: str) -> datetime:
    """``2025-03-05`` (00:00 that day) or ``2025-03-05T14:00``; a ValueError otherwise."""
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=None)


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
        projected = (as_of + timedelta(hours=(threshold_g - grams) / rate)).date().isoformat()
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
    """(moment, cumulative g) at every start and stop, for the exposure chart."""
    points = sorted({m for start, stop, _ in clipped(infusions, as_of) for m in (start, stop)})
    return [(m, totals(infusions, m)[1]) for m in points]

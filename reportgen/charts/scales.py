"""Axis helpers shared by the charts: YAM zones, number formats, a date axis in days."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from matplotlib.axis import Axis
from matplotlib.ticker import MaxNLocator

from reportgen import i18n
from reportgen.charts.style import YAM_RANGE

# --- numbers ---


def fmt_num(value: float) -> str:
    """67 -> '67', 67.25 -> '67.2', 1260 -> '1,260'."""
    text = f"{value:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def grams(value: float, _pos: object = None) -> str:
    """A tick label in whole units with thousands separators (1260.0 -> '1,260')."""
    return f"{value:,.0f}"


def nice_ceiling(value: float) -> float:
    """Round up, with ~3 % headroom, to a multiple of half a power of ten (3,756 -> 4,000)."""
    value = max(value * 1.03, 1.0)
    step = 10 ** math.floor(math.log10(value)) / 2
    return math.ceil(value / step) * step


# --- YAM zones ---


def check_zones(osteoporosis_max_pct: float, normal_min_pct: float) -> tuple[float, float]:
    """The two zone limits as floats; ValueError unless 40 < low < high < 120."""
    low, high = float(osteoporosis_max_pct), float(normal_min_pct)
    if not YAM_RANGE[0] < low < high < YAM_RANGE[1]:
        raise ValueError(
            f"need {YAM_RANGE[0]:g} < osteoporosis_max_pct < normal_min_pct"
            f" < {YAM_RANGE[1]:g}, got {low:g} and {high:g}"
        )
    return low, high


def zones(low: float, high: float) -> list[tuple[str, float, float, str]]:
    """(key, from, to, range text) for the three YAM zones inside the axis range."""
    lo, hi = YAM_RANGE
    return [
        ("osteoporosis", lo, low, f"≤ {low:g} %"),
        ("low_bone_mass", low, high, f"{low:g}–{high:g} %"),
        ("normal", high, hi, f"≥ {high:g} %"),
    ]


# --- dates: x in days since 1970-01-01 ---

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = date(1970, 1, 1)


def day(value: date) -> float:
    """Days since 1970-01-01 (a datetime's time of day as a fraction)."""
    if isinstance(value, datetime):
        return (value.date() - _EPOCH).days + (value.hour * 60 + value.minute) / 1440
    return float((value - _EPOCH).days)


def date_text(value: float) -> str:
    """The date of a day number, locale-independent ("3 Mar 2024"; "2024年3月3日" in Japanese)."""
    d = _EPOCH + timedelta(days=math.floor(value + 1e-9))
    if i18n.current() == "ja":
        return f"{d.year}年{d.month}月{d.day}日"
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def tick_texts(ticks: list[float]) -> list[str]:
    """Labels for :func:`date_ticks`: months ("Jul 2020", "2020年7月") when the ticks are a
    month or more apart (always the 1st: the day adds nothing), else dates. Seven full
    Japanese dates ("2020年11月1日") overran each other on the follow-up chart."""
    if len(ticks) < 2 or ticks[1] - ticks[0] < 28:
        return [date_text(t) for t in ticks]
    months = [_EPOCH + timedelta(days=math.floor(t + 1e-9)) for t in ticks]
    if i18n.current() == "ja":
        return [f"{d.year}年{d.month}月" for d in months]
    return [f"{_MONTHS[d.month - 1]} {d.year}" for d in months]


def date_ticks(lo: float, hi: float) -> list[float]:
    """Tick positions (days since 1970-01-01) at day, week or month boundaries, ≤ 7 ticks."""
    for step in (1, 2, 7, 14):
        first = math.ceil(lo / step) * step + (4 if step >= 7 else 0)  # weeks start on Monday
        while first - step >= lo:
            first -= step
        ticks = [float(t) for t in range(int(first), int(hi) + 1, step) if lo <= t <= hi]
        if len(ticks) <= 7:
            return ticks
    start, end = _EPOCH + timedelta(days=math.ceil(lo)), _EPOCH + timedelta(days=math.floor(hi))
    for months in (1, 2, 3, 6, 12, 24, 60):
        ticks = []
        index = start.year * 12 + start.month - 1 + (0 if start.day == 1 else 1)
        index = math.ceil(index / months) * months
        while True:
            d = date(index // 12, index % 12 + 1, 1)
            if d > end:
                break
            ticks.append(float((d - _EPOCH).days))
            index += months
        if len(ticks) <= 7:
            return ticks
    return [lo, hi]


def integer_ticks(axis: Axis) -> None:
    """Ticks at whole numbers only on an axis with matplotlib's default (auto) locator."""
    locator = axis.get_major_locator()
    assert isinstance(locator, MaxNLocator)  # AutoLocator is one
    locator.set_params(integer=True)

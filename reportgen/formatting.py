"""One formatter per kind of value, used by every report, chart and sentence.

Display conventions (clinical-rules.md §6): BMD in g/cm² with 3 decimals; T- and Z-scores with
one decimal and a true minus sign (−3.0); BMI with one decimal; doses and counts with thousands
separators; p-values to two decimals (three below 0.01, "< 0.001" below that). Rounding is half
up, as papers and vendor reports print (29.25 -> 29.3), never binary or banker's rounding, so a
value reads the same in a sentence, a table cell and a chart. Full precision stays in the JSON.
This module is also the seam for other languages: only these functions turn numbers into text.
Japanese (``lang="ja"``, or the report language in force, reportgen.i18n) writes numbers the
same way (half-width digits, thousands commas, true minus) and SI units after the number as
clinical documents do, but dates as 2025年4月1日 (or 令和7年4月1日 with the ``japanese``
calendar), ages as 32歳, day counts as 45日 and gestational weeks as 33週.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from reportgen import i18n

MINUS = "\u2212"
DASH = "—"  # a value that is not recorded
NBSP = "\u00a0"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def half_up(value: float | None, decimals: int = 1, *, minus: str = MINUS) -> str:
    """Round half up with thousands separators (``1,552.0``); never "−0.0"; None/NaN -> "—"."""
    if value is None or _missing(value):
        return DASH
    quantum = Decimal(1).scaleb(-decimals)
    # round() first drops binary noise: a mean of 19.949999999999996 is 19.95.
    exact = Decimal(repr(round(float(value), decimals + 6)))
    rounded = exact.quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)
    return f"{rounded:,}".replace("-", minus)


def number(value: float | None, decimals: int | None = None) -> str:
    """A plain value as entered: ``3756 -> 3,756``, ``18.5 -> 18.5``, ``-2.25 -> −2.25``.

    Without ``decimals``: whole numbers without a decimal point, others to at most two
    decimals (trailing zeros dropped).
    """
    if value is None or _missing(value):
        return DASH
    if decimals is not None:
        return half_up(value, decimals)
    if float(value).is_integer():
        return f"{int(value):,}".replace("-", MINUS)
    text = half_up(value, 2)
    return text.rstrip("0").rstrip(".") if "." in text else text


def trimmed(value: float | None, decimals: int = 1) -> str:
    """At most ``decimals`` decimals, none for a whole number: ``67 -> 67``, ``67.25 -> 67.3``."""
    text = half_up(value, decimals)
    return text[: -(decimals + 1)] if text.endswith("." + "0" * decimals) else text


def bmd(value: float | None) -> str:
    """BMD in g/cm², three decimals as DXA vendors print: ``0.812``."""
    return half_up(value, 3)


def score(value: float | None) -> str:
    """T- or Z-score, one decimal, true minus: ``−3.0``, ``0.5``."""
    return half_up(value, 1)


def bmi(value: float | None) -> str:
    """BMI in kg/m², one decimal: ``17.6``."""
    return half_up(value, 1)


def percent(value: float | None) -> str:
    """A %YAM-like percentage: ``67``, ``79.9`` (at most one decimal)."""
    return trimmed(value, 1)


def grams(value: float | None) -> str:
    """A dose in grams with thousands separators: ``3,756``, ``1,260.5``."""
    return trimmed(value, 1)


def count(value: int | None) -> str:
    return DASH if value is None else f"{int(value):,}"


def p_value(p: float | None) -> str:
    """``0.26``, ``0.02``, ``0.004``, ``< 0.001`` (the same in a sentence and a table cell)."""
    if p is None or _missing(p):
        return DASH
    if p < 0.001:
        return f"<{NBSP}0.001"
    return half_up(p, 3) if p < 0.01 else half_up(p, 2)


def p_clause(p: float) -> str:
    """``p = 0.04`` or ``p < 0.001`` for a sentence."""
    text = p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _lang(lang: str | None) -> str:
    return i18n.current() if lang is None else lang


# Japanese eras (start dates) for the ``japanese`` calendar: 令和7年4月1日; year 1 is 元年.
_ERAS = ((date(2019, 5, 1), "令和"), (date(1989, 1, 8), "平成"))


def _japanese_date(day: date, calendar: str) -> str:
    if calendar == "japanese":
        for start, era in _ERAS:
            if day >= start:
                year = day.year - start.year + 1
                return f"{era}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return f"{day.year}年{day.month}月{day.day}日"


def date_text(value: object, lang: str | None = None) -> str:
    """ISO 8601 calendar date (``2020-05-26``); a date-time keeps hours and minutes.

    Japanese: ``2020年5月26日`` (``令和2年5月26日`` with the ``japanese`` calendar setting),
    a date-time ``2020年5月26日 14:30``; an ISO text date is read and written the same way."""
    if _lang(lang) == "ja":
        if isinstance(value, str):
            text = value
            try:
                value = (
                    datetime.fromisoformat(text)
                    if "T" in text or " " in text
                    else date.fromisoformat(text)
                )
            except ValueError:
                return text
        if isinstance(value, datetime):
            return f"{_japanese_date(value.date(), i18n.calendar())} {value:%H:%M}"
        if isinstance(value, date):
            return _japanese_date(value, i18n.calendar())
        return DASH if value is None else str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return DASH if value is None else str(value)


def unit_suffix(unit: str, lang: str | None = None) -> str:
    """A unit after a number: `` g``, `` days``; Japanese days are ``日`` (45日)."""
    if not unit:
        return ""
    if _lang(lang) == "ja" and unit == "days":
        return "日"
    return f" {unit}"


def full_stop(lang: str | None = None) -> str:
    return "。" if _lang(lang) == "ja" else "."


def listing(items, lang: str | None = None) -> str:
    """``a, b, c`` / ``a、b、c``."""
    return ("、" if _lang(lang) == "ja" else ", ").join(items)


def age(years: float | None, lang: str | None = None) -> str:
    """``32 years`` / ``32歳``."""
    text = number(years)
    return f"{text}歳" if _lang(lang) == "ja" else f"{text} years"


def days(value: float | None, lang: str | None = None) -> str:
    """A count of days: ``45 days`` / ``45日``."""
    text = number(value)
    return f"{text}日" if _lang(lang) == "ja" else f"{text} days"


def weeks(text: object, lang: str | None = None) -> str:
    """A gestational age as entered (``33+2``): ``33+2 weeks`` / ``33+2週``."""
    return f"{text}週" if _lang(lang) == "ja" else f"{text} weeks"


def yes_no(value: object, lang: str | None = None) -> str:
    """``yes`` / ``no`` / ``not recorded`` (あり / なし / 記録なし)."""
    if _lang(lang) == "ja":
        return "記録なし" if value is None else ("あり" if value else "なし")
    return "not recorded" if value is None else ("yes" if value else "no")


def distinct(
    value: float, threshold: float, formatter=trimmed, max_decimals: int = 3
) -> tuple[str, str]:
    """``value`` and ``threshold`` as text that never reads equal when they differ.

    ``18.46 < 18.5`` with one decimal would print "18.5 < 18.5"; here the value gains
    decimals until the two differ on the page (at most ``max_decimals``).
    """
    shown, limit = formatter(value), formatter(threshold)
    decimals = 1
    while shown == limit and value != threshold and decimals <= max_decimals:
        decimals += 1
        shown = trimmed(value, decimals)
    return shown, limit

"""The scalar cell parsers (:func:`reportgen.cells.parse_cell`) read every cell as the frame
coercion they replaced did (``reportgen/schema.py`` at e1b19ab, copied below as an oracle and
run on pandas): the same value, the same "bad" and "out of range" verdicts, for every column
kind, cell by cell and for whole columns (the old code took a column-level fast path when every
cell was a plain number). One intended change: the old numpy strip dropped trailing NULs, so
"30\\x00" was 30; a NUL is now kept and the cell is bad. Two more differences were
decided for the new reading (docs/decisions.md): an integer cell of 2**63 or more is out of
range with no value (the old code stored -2**63), and "+x" is read exactly as x (pandas read it
one unit in the last place off). ``_beyond_int64`` and ``_unsigned`` let exactly these through
the properties; a test pins both readings of each."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from conftest import examples
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reportgen.cells import parse_cell
from reportgen.columns import COLUMNS, FALSE_WORDS, SMOKING_WORDS, TRUE_WORDS, Column

# --- The oracle: schema.py's coercion at e1b19ab, verbatim but for ``today`` (the old code
# read pd.Timestamp.now()) and the ``_old_`` prefix on the module constants.

_OLD_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_OLD_DASHES = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\uff0d": "-"})
_OLD_DATE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
_OLD_DATE_MIN = pd.Timestamp("1900-01-01")
_OLD_NUMPY_STRIP_MAX_CHARS = 64
_OLD_GESTATION = re.compile(r"^(\d{1,2})\s*\+\s*([0-6])$")


def _clean_text(series: pd.Series, exact: bool = True) -> pd.Series:
    if exact or series.isna().any() or _longest(series) > _OLD_NUMPY_STRIP_MAX_CHARS:
        text = series.astype("string").str.strip()
    else:
        text = pd.Series(
            np.char.strip(series.to_numpy(dtype=str)), index=series.index, dtype="string"
        )
    return text.mask(text == "", pd.NA)


def _longest(series: pd.Series) -> int:
    return max(map(len, series.to_numpy(dtype=object)), default=0)


def _to_number(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    plain = pd.to_numeric(text.to_numpy(dtype=object, na_value=None), errors="coerce")
    needs_work = text.notna().to_numpy() & np.isnan(plain)
    if not needs_work.any():  # fast path: every cell a plain number
        values = pd.Series(plain, index=text.index, dtype="Float64")
        finite = values.isna() | np.isfinite(values.fillna(0).to_numpy(dtype=float))
        values = values.where(finite, pd.NA)
        return values, text.notna() & values.isna()
    return _to_number_slow(text)


def _to_number_slow(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    normalised = text.str.normalize("NFKC").str.translate(_OLD_DASHES)
    thousands = normalised.str.match(_OLD_THOUSANDS).fillna(False).astype(bool)
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
    lowered = text.astype("string").str.normalize("NFKC").str.translate(_OLD_DASHES).str.lower()
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
    return values, bad


def _to_date(text: pd.Series, today: date, days_ahead: int = 2) -> tuple[pd.Series, pd.Series]:
    whole = text.str.fullmatch(_OLD_DATE).fillna(False).astype(bool)
    values = pd.to_datetime(text.where(whole), errors="coerce", format="ISO8601")
    latest = pd.Timestamp(today) + pd.Timedelta(days=days_ahead)  # was pd.Timestamp.now()
    values = values.where((values >= _OLD_DATE_MIN) & (values < latest))
    return values, text.notna() & values.isna()


def _to_appointment(text: pd.Series, today: date) -> tuple[pd.Series, pd.Series]:
    return _to_date(text, today, days_ahead=5 * 366)


def _to_gestation(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    def one(value: object) -> object:
        match = _OLD_GESTATION.match(unicodedata.normalize("NFKC", str(value)))
        return f"{int(match[1])}+{match[2]}" if match and 12 <= int(match[1]) <= 44 else None

    values = text.map(one, na_action="ignore").astype("string")
    return values, text.notna() & values.isna()


def _to_choice(text: pd.Series, choices: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    lowered = text.str.normalize("NFKC").str.strip().str.lower()
    values = lowered.where(lowered.isin(choices).fillna(False).astype(bool), pd.NA)
    return values.astype("string"), text.notna() & values.isna()


def _to_text(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    return text, pd.Series(False, index=text.index)


_COERCERS = {  # the dated kinds take ``today`` besides (see _old_coerce)
    "number": _to_number,
    "integer": _to_integer,
    "boolean": _to_boolean,
    "smoking": _to_smoking,
    "date": _to_date,
    "text": _to_text,
    "gestation": _to_gestation,
    "appointment": _to_appointment,
}


def _plain(value: object) -> object:
    """An old frame value as plain Python: NA/NaT -> None, Timestamp -> datetime (cut to
    microseconds, as the new parser cuts nanoseconds), numpy scalars -> Python."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.floor("us").to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _old_coerce(column: Column, texts: list[str], today: date) -> list[tuple[object, bool, bool]]:
    """(value, bad, out_of_range) of each of ``texts`` as one column, read by the old code:
    coerce_frame's factorize, clean, coerce, range check and gather back."""
    codes, uniques = pd.factorize(pd.Series(texts, dtype=object).to_numpy(dtype=object))
    unique_text = _clean_text(pd.Series(uniques, dtype=object), exact=column.kind == "text")
    if column.kind == "choice":
        values, bad = _to_choice(unique_text, column.choices)
    elif column.kind in ("date", "appointment"):
        values, bad = _COERCERS[column.kind](unique_text, today)
    else:
        values, bad = _COERCERS[column.kind](unique_text)
    wrong = np.zeros(len(uniques), dtype=bool)
    if column.low is not None:
        numeric = pd.to_numeric(values, errors="coerce")
        wrong = np.asarray(((numeric < column.low) | (numeric > column.high)).fillna(False))
    flags = bad.to_numpy(dtype=bool, na_value=False)
    plain = [_plain(v) for v in values.astype(object)]
    return [(plain[i], bool(flags[i]), bool(wrong[i])) for i in codes]


# --- Comparison


def _new(column: Column, raw: str, today: date) -> tuple[object, bool, bool]:
    cell = parse_cell(column, raw, today)
    return cell.value, cell.bad, cell.out_of_range


def _typed(reading: tuple[object, bool, bool]) -> tuple[object, ...]:
    """A reading compared with its value's type: 1 is not True, 1.0 is not 1."""
    value, bad, out_of_range = reading
    return type(value), value, bad, out_of_range


def _nul_case(column: Column, raw: str) -> bool:
    """The intended change: a non-text cell ending in NUL (after the whitespace strip). The old
    numpy strip dropped trailing NULs ("30\\x00" read as 30) unless a cell of the column was
    over 64 characters; the new parser keeps them, so the cell is bad (asserted instead)."""
    return column.kind != "text" and raw.strip().endswith("\x00")


def _beyond_int64(column: Column, reading: tuple[object, bool, bool]) -> bool:
    """PENDING DECISION (not the intended change; see test_integers_beyond_int64_*): a whole
    number of an integer column at or beyond 2**63 in size ("1e19", "-9223372036854775808").
    The old ``astype("Int64")`` stored it as -2**63 (wrapped, or exact for -2**63); the new
    parser stores no value. Both call it out of range, not bad; only the value differs, and
    only that is let pass here."""
    value, bad, out_of_range = reading
    return column.kind == "integer" and value == -(2**63) and out_of_range and not bad


def _unsigned(column: Column, raw: str) -> str | None:
    """PENDING DECISION (not the intended change; see test_a_plus_sign_rounds_as_before): a
    number with a leading plus sign ("+", full-width or small "＋", "﹢"), returned without
    it. The old code's pd.to_numeric reads "+x" off by one unit in the last place when x has
    16 or more significant digits or a large exponent ("+3e23", "+1e-23",
    "+0.9999999999999999" read as 1.0); without the sign it rounds correctly, and the new
    parser reads "+x" as x. Such a cell is compared with the old reading of x."""
    text = unicodedata.normalize("NFKC", raw.strip())
    if column.kind in ("number", "integer") and text.startswith("+"):
        return text[1:]
    return None


def _assert_same(column: Column, texts: list[str], today: date) -> None:
    old = _old_coerce(column, texts, today)
    for raw, before in zip(texts, old, strict=True):
        after = _new(column, raw, today)
        if _nul_case(column, raw):
            assert after == (None, True, False), (column.name, raw, after)
            continue
        if _beyond_int64(column, before):
            assert after == (None, False, True), (column.name, raw, before, after)
            continue
        unsigned = _unsigned(column, raw)
        if unsigned is not None and _typed(after) != _typed(before):
            [before] = _old_coerce(column, [unsigned], today)
        assert _typed(after) == _typed(before), (column.name, raw, today, before, after)


# --- Strategies: strings from a grammar of each kind's edges, and arbitrary text.

_TODAYS = (date(2024, 2, 28), date(2025, 12, 31), date(2026, 3, 1))
_EDGE_SPACE = st.sampled_from(
    [""] * 8 + [" ", "  ", "\t", "\n", "\u3000", "\u00a0", "\u2007", "\x85", "\x1c", "\x00"]
)
_DIGIT_SETS = {
    "ascii": "0123456789",
    "fullwidth": "".join(chr(0xFF10 + d) for d in range(10)),
    "arabic": "".join(chr(0x0660 + d) for d in range(10)),
    "persian": "".join(chr(0x06F0 + d) for d in range(10)),
    "devanagari": "".join(chr(0x0966 + d) for d in range(10)),
    "superscript": "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079",
    "math_bold": "".join(chr(0x1D7CE + d) for d in range(10)),
}
_SCRIPTS = st.sampled_from(["ascii"] * 18 + sorted(_DIGIT_SETS))


def _digits(text: str, script: str, first_only: bool = False) -> str:
    """``text`` with its ASCII digits in ``script`` (all, or only the first)."""
    table = str.maketrans("0123456789", _DIGIT_SETS[script])
    if first_only:
        match = re.search(r"\d", text)
        return text if match is None else text[: match.end()].translate(table) + text[match.end() :]
    return text.translate(table)


@st.composite
def _script(draw: st.DrawFn, text: str) -> str:
    script = draw(_SCRIPTS)
    return text if script == "ascii" else _digits(text, script, draw(st.booleans()))


@st.composite
def _padded(draw: st.DrawFn, core: st.SearchStrategy[str]) -> str:
    """``core`` with edge whitespace (and NULs) around it, sometimes long (over 64
    characters: the old code's numpy strip stopped there)."""
    text = draw(_EDGE_SPACE) + draw(core) + draw(_EDGE_SPACE) + draw(_EDGE_SPACE)
    if draw(st.integers(0, 9)) == 0:
        text = " " * 65 + text
    return text


_SIGNS = st.sampled_from(
    ["", "", "", "+", "-", "-", "\u2212", "\u2013", "\u2014", "\uff0d", "\uff0b", "--", "+-"]
)
_SPECIAL_NUMBERS = st.sampled_from(
    [
        "inf",
        "-inf",
        "+inf",
        "Inf",
        "INF",
        "nan",
        "NaN",
        "-nan",
        "Infinity",
        "-Infinity",
        "infinity",
        "1e",
        "e5",
        "1e+",
        ".e5",
        ".",
        "+",
        "-",
        "0x10",
        "0b1",
        "1d5",
        "1_0",
        "1_000",
        "1__0",
        "_1",
        "1_",
        "\u00bd",
        "\u00b2",
        "1\u00b2",
        "1\u066b5",
        "1\u066c500",
        "1\uff0e5",
        "\uff11\uff0c\uff15\uff10\uff10",
        "1\u20245",
        "1 000",
        "1'000",
        "1.000,5",
        "1,5",
        "1e1_0",
        "True",
        "1.5.5",
        "1e5e5",
        "1e-400",
        "1e400",
        "-1e400",
        "2.2250738585072011e-308",
        "4.9e-324",
        "2.4703282292062327e-324",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "9007199254740993",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "99999999999999999999",
        "-0",
        "-0.0",
        "0e0",
        "00012",
    ]
)


def _group(digits: str, good: bool) -> str:
    """``1500`` -> ``1,500`` (``good``) or a wrong grouping (``15,00``)."""
    if good:
        return f"{int(digits):,}"
    return ",".join(digits[i : i + 2] for i in range(0, len(digits), 2))


@st.composite
def _number_core(draw: st.DrawFn) -> str:
    form = draw(st.integers(0, 9))
    if form == 0:
        return draw(_SPECIAL_NUMBERS)
    if form == 1:
        value = draw(st.floats(allow_nan=True, allow_infinity=True))
        style = draw(st.sampled_from(["{!r}", "{:.17g}", "{:f}", "{:e}", "{:.3f}", "{:g}"]))
        return style.format(value)
    if form == 2:
        return str(draw(st.integers(-(10**25), 10**25)))
    sign = draw(_SIGNS)
    whole = draw(
        st.one_of(
            st.just(""),
            st.integers(0, 10**6).map(str),
            st.integers(0, 10**25).map(str),
            st.sampled_from(["0", "00", "007"]),
        )
    )
    if whole and len(whole.lstrip("0")) > 3 and draw(st.integers(0, 3)) == 0:
        whole = _group(whole, draw(st.booleans()))
    if whole and draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(whole)))
        whole = whole[:at] + "_" + whole[at:]
    fraction = draw(
        st.one_of(
            st.none(),
            st.none(),
            st.just("."),
            st.text("0123456789", min_size=1, max_size=25).map(lambda f: "." + f),
        )
    )
    exponent = draw(
        st.one_of(
            st.none(),
            st.none(),
            st.tuples(
                st.sampled_from("eE"),
                st.sampled_from(["", "+", "-"]),
                st.one_of(
                    st.integers(0, 400).map(str),
                    st.sampled_from(["", "0010", "307", "308", "309", "323", "324", "325"]),
                ),
            ).map("".join),
        )
    )
    text = sign + whole + (fraction or "") + (exponent or "")
    return draw(_script(text))


@st.composite
def _range_edge(draw: st.DrawFn, column: Column) -> str:
    """Around the column's limits: the limit, its float neighbours, one step outside."""
    assert column.low is not None
    assert column.high is not None
    limit = draw(st.sampled_from([column.low, column.high]))
    value = draw(
        st.sampled_from(
            [
                limit,
                math.nextafter(limit, -math.inf),
                math.nextafter(limit, math.inf),
                limit - 1,
                limit + 1,
                limit - 0.1,
                limit + 0.1,
                limit * 10,
                -limit,
            ]
        )
    )
    style = draw(st.sampled_from(["{!r}", "{:.17g}", "{:g}", "{:.1f}", "{:.0f}", "{:e}", "{:,}"]))
    return draw(_script(style.format(value)))


def _mostly(usual: st.SearchStrategy, *edges: object) -> st.SearchStrategy:
    """``usual`` about seven times in eight, else one of ``edges``."""
    return st.one_of(*[usual] * 7, st.sampled_from(edges))


@st.composite
def _date_core(draw: st.DrawFn, today: date) -> str:
    """ISO dates: around today, today+2 and today+5*366 days; 1899/1900; Feb 29/30, month
    13, day 32; times with "T" or space, hour 24, minute or second 60, fractions of 0-11
    digits; zones, other layouts and digits. Each edge is rare, so most dates are good."""
    if draw(st.integers(0, 2)):
        ahead = draw(st.sampled_from([0, 0, 0, 5 * 366]))
        day = today + timedelta(days=ahead + draw(st.integers(-3, 3)))
        year, month, dom = day.year, day.month, day.day
    else:
        year = draw(
            _mostly(st.integers(1900, today.year), 0, 1, 999, 1677, 1678, 1899, 1900, 1901)
            | st.sampled_from([2262, 2263, 9999, today.year + 5, today.year + 6])
        )
        month = draw(_mostly(st.integers(1, 12), 0, 2, 13))
        dom = draw(_mostly(st.integers(1, 28), 0, 29, 30, 31, 32))
    layout = draw(_mostly(st.just("{:04d}-{:02d}-{:02d}"), "{}-{}-{}", "{:04d}/{:02d}/{:02d}"))
    text = layout.format(year, month, dom)
    if draw(st.booleans()):
        separator = draw(_mostly(st.sampled_from(["T", " "]), "t", "  ", "_", "\u3000"))
        hour = draw(_mostly(st.integers(0, 23), 0, 23, 24, 25))
        minute = draw(_mostly(st.integers(0, 59), 0, 59, 60))
        text += f"{separator}{hour:02d}:{minute:02d}"
        if draw(st.booleans()):
            text += f":{draw(_mostly(st.integers(0, 59), 0, 59, 60, 61)):02d}"
            if draw(st.booleans()):
                digits = _mostly(st.integers(1, 9), 0, 10, 11).map(lambda n: "7" * n)
                text += "." + draw(st.text("0123456789", min_size=1, max_size=9) | digits)
    text += draw(_mostly(st.just(""), "Z", "+09:00", "+0900", " UTC", "-05"))
    return draw(_script(text))


@st.composite
def _gestation_core(draw: st.DrawFn) -> str:
    """Mostly well formed (weeks 12-44, days 0-6), with edges: weeks 11 and 45, day 7, a
    leading zero, spaces and full-width or small plus signs, a suffix, a part missing."""
    weeks = draw(st.integers(12, 44) | st.sampled_from([0, 9, 11, 12, 44, 45, 99, 100]))
    days = draw(st.sampled_from([0, 4, 6, 7, 9]) | st.integers(0, 6))
    zero = draw(st.sampled_from([""] * 6 + ["0", "00"]))
    plus = draw(
        st.sampled_from(
            ["+"] * 6 + [" + ", "+ ", " +", "\u3000+\u3000", "\t+\t", "\uff0b", "\ufe62", "-", "w"]
        )
    )
    suffix = draw(st.sampled_from([""] * 8 + ["d", "+1", "\n", "\n\n"]))
    text = f"{zero}{weeks}{plus}{days}{suffix}"
    text = draw(st.sampled_from([text] * 8 + [str(weeks), f"+{days}", f"{weeks}+"]))
    return draw(_script(text))


_CHOICES = sorted({choice for c in COLUMNS.values() for choice in c.choices})
_WORDS = sorted(
    {*TRUE_WORDS, *FALSE_WORDS, *SMOKING_WORDS, *_CHOICES}
    | {"yess", "ye", "non smoker", "caesarian", "breast feeding", "sometimes", "Ｙｅｓ", "ﾊｲ"}
)


_KIND_WORDS = {
    "boolean": sorted(TRUE_WORDS | FALSE_WORDS),
    "smoking": sorted(SMOKING_WORDS),
    "choice": _CHOICES,
}


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@st.composite
def _word_core(draw: st.DrawFn, words: Sequence[str] = _WORDS) -> str:
    """A word of ``words`` in another case, full width, with other dashes or inner spaces."""
    word = draw(st.sampled_from(words) | st.sampled_from(_WORDS))
    if draw(st.integers(0, 3)) == 0:  # inner whitespace (smoking folds it)
        word = re.sub(r"[ _]", draw(st.sampled_from(["  ", "\t", "\u3000", "\n", " _ "])), word)
    if "-" in word and draw(st.booleans()):
        word = word.replace("-", draw(st.sampled_from(["\u2212", "\u2013", "\u2014", "\uff0d"])))
    if word == "+" and draw(st.booleans()):
        word = draw(st.sampled_from(["\uff0b", "\ufe62", "\u207a"]))
    change = draw(
        st.sampled_from([str, str, str.upper, str.title, str.swapcase, str.capitalize, _fullwidth])
    )
    word = change(word)
    if draw(st.integers(0, 5)) == 0:  # letters whose NFKC or case folding is ASCII
        word = word.replace("s", "\u017f").replace("k", "\u212a").replace("i", "\u0130")
    return word


def _good(column: Column, today: date) -> st.SearchStrategy[str]:
    """Well-formed values of ``column`` (hypothesis favours novelty, so the edge grammars
    alone give few good cells)."""
    days = 5 * 366 if column.kind == "appointment" else 2
    moments = st.datetimes(datetime(1900, 1, 1), datetime.combine(today, datetime.min.time()))
    moments = moments.map(lambda m: m + timedelta(days=days - 1))
    return {
        "number": st.floats(-100, 25000).map(repr) | st.integers(-100, 25000).map(str),
        "integer": st.integers(-100, 25000).map(str),
        "boolean": st.sampled_from(sorted(TRUE_WORDS | FALSE_WORDS)),
        "smoking": st.sampled_from(sorted(SMOKING_WORDS)),
        "choice": st.sampled_from(column.choices or ("",)),
        "date": st.one_of(
            st.dates(date(1900, 1, 1), today + timedelta(days=1)).map(date.isoformat),
            moments.map(lambda m: m.isoformat(sep=" ")),
            moments.map(lambda m: m.isoformat(sep="T", timespec="minutes")),
        ),
        "gestation": st.builds("{}+{}".format, st.integers(12, 44), st.integers(0, 6)),
        "text": st.text(),
    }[column.kind if column.kind != "appointment" else "date"]


def _date_limits(column: Column, today: date) -> st.SearchStrategy[str]:
    """The days either side of each date limit (1900-01-01; today + 2 days or + 5*366), as a
    date or at the day's first or last moment."""
    ahead = 5 * 366 if column.kind == "appointment" else 2
    days = [date(1899, 12, 31), date(1900, 1, 1), today]
    days += [today + timedelta(days=ahead + k) for k in (-1, 0, 1)]
    times = ["", "T00:00", " 00:00:00", "T23:59:59", " 23:59:59.999999999", "T23:59:59.9999999"]
    return st.builds(
        "{}{}".format, st.sampled_from(days).map(date.isoformat), st.sampled_from(times)
    )


def _cells(column: Column, today: date) -> st.SearchStrategy[str]:
    """Strings for ``column``: good ones, its kind's edges weighted up, every other grammar,
    any text."""
    kind = column.kind
    own = {
        "number": _number_core(),
        "integer": _number_core(),
        "date": _date_core(today),
        "appointment": _date_core(today),
        "gestation": _gestation_core(),
    }.get(kind, _word_core(_KIND_WORDS.get(kind, _WORDS)))
    if column.low is not None:
        own = own | _range_edge(column)
    if kind in ("date", "appointment"):
        own = own | _date_limits(column, today)
    good = _good(column, today)
    core = st.one_of(
        good,
        good,
        own,
        own,
        own,
        _number_core(),
        _date_core(today),
        _gestation_core(),
        _word_core(),
        st.text(max_size=20),
    )
    return st.one_of(_padded(core), _padded(core), _padded(core), st.text())


def _column_of(kind: str) -> st.SearchStrategy[Column]:
    return st.sampled_from([c for c in COLUMNS.values() if c.kind == kind])


KINDS = sorted({c.kind for c in COLUMNS.values()})


def test_every_kind_is_covered():
    assert KINDS == sorted(
        ["number", "integer", "boolean", "smoking", "date", "appointment"]
        + ["gestation", "choice", "text"]
    )


# --- Properties


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=examples(1000), deadline=None)
@given(data=st.data())
def test_a_cell_reads_as_the_old_frame_code_read_it(kind, data):
    column = data.draw(_column_of(kind), label="column")
    today = data.draw(st.sampled_from(_TODAYS), label="today")
    raw = data.draw(_cells(column, today), label="raw")
    _assert_same(column, [raw], today)


@settings(max_examples=examples(600), deadline=None)
@given(data=st.data())
def test_a_column_reads_as_the_old_frame_code_read_it(data):
    """Many cells at once: the old code chose its path by the whole column (every cell a plain
    number: the fast path; a cell over 64 characters: pandas' strip for all)."""
    column = data.draw(st.sampled_from(list(COLUMNS.values())), label="column")
    today = data.draw(st.sampled_from(_TODAYS), label="today")
    texts = data.draw(st.lists(_cells(column, today), min_size=1, max_size=12), label="texts")
    _assert_same(column, texts, today)


_PLAIN_NUMBERS = st.one_of(
    st.integers(-(10**22), 10**22).map(str),
    st.floats(allow_nan=False).map(repr),
    st.floats(-1000, 25000).map(lambda v: f"{v:.2f}"),
    st.sampled_from(["inf", "-inf", "1e400", "-0", "1e-400", " 7 ", "5.", ".5", "+3", ""]),
)


@settings(max_examples=examples(600), deadline=None)
@given(
    column=st.sampled_from([c for c in COLUMNS.values() if c.kind in ("number", "integer")]),
    texts=st.lists(_PLAIN_NUMBERS, min_size=1, max_size=12),
)
def test_a_column_of_plain_numbers_reads_as_the_old_fast_path(column, texts):
    _assert_same(column, texts, _TODAYS[0])


# --- Examples at the edges


NUMERIC = [c for c in COLUMNS.values() if c.kind in ("number", "integer")]


def _outside(column: Column) -> tuple[str, str]:
    """The first value below and above ``column``'s range: one whole step for an integer
    column, the neighbouring float for a number column."""
    assert column.low is not None
    assert column.high is not None
    if column.kind == "integer":
        return str(int(column.low) - 1), str(int(column.high) + 1)
    return repr(math.nextafter(column.low, -math.inf)), repr(math.nextafter(column.high, math.inf))


@pytest.mark.parametrize("column", NUMERIC, ids=lambda c: c.name)
def test_numeric_limits_are_inclusive(column):
    today = _TODAYS[0]
    for limit in (column.low, column.high):
        text = f"{limit:g}"
        cell = parse_cell(column, text, today)
        assert (cell.value, cell.bad, cell.out_of_range) == (limit, False, False), text
        assert type(cell.value) is (int if column.kind == "integer" else float)
    for text in _outside(column):
        cell = parse_cell(column, text, today)
        assert (cell.bad, cell.out_of_range) == (False, True), text
        assert cell.value == float(text)
    _assert_same(column, [f"{column.low:g}", f"{column.high:g}", *_outside(column)], today)


@pytest.mark.parametrize(
    "raw", ["30\x00", "30\x00\x00", " 30\x00 ", "30 \x00", "30\x00\u3000", "\x00", "\x0030"]
)
def test_a_nul_makes_a_number_bad(raw):
    """The intended change: the old numpy strip read "30\\x00" as 30 (a trailing NUL dropped);
    a NUL is now kept, so the cell is not a number. Leading NULs were kept before too."""
    column = COLUMNS["age_years"]
    cell = parse_cell(column, raw, _TODAYS[0])
    assert (cell.text, cell.value, cell.bad, cell.out_of_range) == (raw.strip(), None, True, False)
    if raw.startswith("30"):
        assert _old_coerce(column, [raw], _TODAYS[0]) == [(30.0, False, False)]


@pytest.mark.parametrize(
    ("name", "good"),
    [
        ("gravida", "3"),
        ("fracture", "yes"),
        ("smoking", "never"),
        ("delivery_date", "2020-01-01"),
        ("follow_up_date", "2020-01-01"),
        ("ga_delivery", "23+4"),
        ("delivery_mode", "vaginal"),
    ],
)
def test_a_trailing_nul_makes_any_typed_cell_bad(name, good):
    column = COLUMNS[name]
    assert not parse_cell(column, good, _TODAYS[0]).bad
    assert parse_cell(column, good + "\x00", _TODAYS[0]).bad
    assert _old_coerce(column, [good + "\x00"], _TODAYS[0]) == _old_coerce(
        column, [good], _TODAYS[0]
    )  # what changed: the old code read it as the cell without the NUL


def test_a_nul_in_text_is_kept():
    cell = parse_cell(COLUMNS["patient_id"], " P1\x00 ", _TODAYS[0])
    assert (cell.text, cell.value, cell.bad) == ("P1\x00", "P1\x00", False)


@pytest.mark.parametrize("kind", ["date", "appointment"])
def test_dates_start_in_1900(kind):
    column = next(c for c in COLUMNS.values() if c.kind == kind)
    today = _TODAYS[0]
    for raw in ("1900-01-01", "1900-01-01T00:00", "1900-01-01 00:00:00.000000001"):
        cell = parse_cell(column, raw, today)
        assert (cell.value, cell.bad) == (datetime(1900, 1, 1), False), raw
    for raw in ("1899-12-31", "1899-12-31T23:59:59.999999999", "0001-01-01"):
        cell = parse_cell(column, raw, today)
        assert (cell.value, cell.bad, cell.out_of_range) == (None, True, False), raw


@pytest.mark.parametrize("today", _TODAYS)
@pytest.mark.parametrize(("kind", "ahead"), [("date", 2), ("appointment", 5 * 366)])
def test_dates_end_days_after_today(kind, ahead, today):
    """A date column takes up to the day after today (time zones), an appointment up to
    five years (5 x 366 days) ahead, less one day; the limit itself is refused."""
    column = next(c for c in COLUMNS.values() if c.kind == kind)
    last = datetime.combine(today, datetime.min.time()) + timedelta(days=ahead - 1)
    accepted = [
        today.isoformat(),
        last.date().isoformat(),
        f"{last.date().isoformat()}T23:59:59.999999999",
        f"{last.date().isoformat()} 23:59",
    ]
    refused = [(last + timedelta(days=1)).date().isoformat(), f"{today.year + 7}-01-01"]
    for raw in accepted:
        cell = parse_cell(column, raw, today)
        assert not cell.bad, raw
        assert cell.value.date() in (today, last.date()), raw
    assert parse_cell(column, accepted[2], today).value == last.replace(
        hour=23, minute=59, second=59, microsecond=999999
    )
    for raw in refused:
        assert parse_cell(column, raw, today).bad, raw
    texts = accepted + refused
    old = _old_coerce(column, texts, today)
    assert [_new(column, t, today) for t in texts] == old


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("2024-02-29", datetime(2024, 2, 29)),
        ("2023-02-29", None),
        ("2024-02-30", None),
        ("2020-01-01T24:00", None),
        ("2020-01-01 23:59:60", None),
        ("2020-01-01T10:30", datetime(2020, 1, 1, 10, 30)),
        ("2020-01-01 10:30:15.5", datetime(2020, 1, 1, 10, 30, 15, 500000)),
        ("2020-01-01T10:30:15.123456789", datetime(2020, 1, 1, 10, 30, 15, 123456)),
        ("2020-01-01T10:30:15.", None),
        ("2020-01-01T10:30Z", None),
        ("2020-01-01+09:00", None),
        ("2020-1-1", None),
        ("2020-01", None),
        ("\uff12\uff10\uff12\uff10-01-01", None),
        ("2020/01/01", None),
    ],
)
def test_date_forms(raw, value):
    column = COLUMNS["delivery_date"]
    today = _TODAYS[0]
    cell = parse_cell(column, raw, today)
    assert (cell.value, cell.bad) == (value, value is None)
    _assert_same(column, [raw], today)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("23+4", "23+4"),
        (" 23 + 4 ", "23+4"),
        ("11+6", None),
        ("12+0", "12+0"),
        ("44+6", "44+6"),
        ("45+0", None),
        ("23+7", None),
        ("023+4", None),
        ("09+1", None),
        ("\uff12\uff13+\uff14", "23+4"),
        ("23\uff0b4", "23+4"),
        ("23\u3000+\u30004", "23+4"),
        ("23+4\n", "23+4"),
        ("23", None),
    ],
)
def test_gestation_forms(raw, value):
    column = COLUMNS["ga_delivery"]
    cell = parse_cell(column, raw, _TODAYS[0])
    assert (cell.value, cell.bad) == (value, value is None)
    _assert_same(column, [raw], _TODAYS[0])


@pytest.mark.parametrize(
    ("raw", "value", "bad"),
    [
        ("1,500", 1500.0, False),
        ("15,00", None, True),
        ("\uff11\uff12", 12.0, False),
        ("\u0661\u0662", None, True),
        ("1_0", None, True),
        (".5", 0.5, False),
        ("5.", 5.0, False),
        ("\u22125", -5.0, False),
        ("\u20135", -5.0, False),
        ("\uff0d5", -5.0, False),
        ("inf", None, True),
        ("nan", None, True),
        ("Infinity", None, True),
        ("1e400", None, True),
        ("1e-400", 0.0, False),
        ("\u300030\u3000", 30.0, False),
    ],
)
def test_number_forms(raw, value, bad):
    column = COLUMNS["mgso4_total_g"]
    cell = parse_cell(column, raw, _TODAYS[0])
    assert (cell.value, cell.bad) == (value, bad)
    _assert_same(column, [raw], _TODAYS[0])


@example(word="YES")
@settings(max_examples=examples(200), deadline=None)
@given(word=_word_core())
def test_yes_no_and_choice_words(word):
    for name in ("fracture", "smoking", "delivery_mode", "feeding_plan"):
        _assert_same(COLUMNS[name], [word, f" {word}\u3000"], _TODAYS[0])


@pytest.mark.parametrize(
    ("name", "words", "expected"),
    [
        ("fracture", sorted(TRUE_WORDS), True),
        ("fracture", sorted(FALSE_WORDS), False),
        ("smoking", sorted(SMOKING_WORDS), None),
        ("delivery_mode", COLUMNS["delivery_mode"].choices, None),
        ("feeding_plan", COLUMNS["feeding_plan"].choices, None),
    ],
)
def test_every_word_in_every_case(name, words, expected):
    """Each word of the vocabulary as written, upper case, title case and full width (NFKC:
    yes/no and choices only), alone and in one column, reads as the old code read it."""
    column = COLUMNS[name]
    texts = [form(w) for w in words for form in (str, str.upper, str.title, _fullwidth)]
    _assert_same(column, texts, _TODAYS[0])
    for word in words:
        value = parse_cell(column, word.upper(), _TODAYS[0]).value
        if name == "smoking":
            expected = SMOKING_WORDS[word]
        elif column.kind == "choice":
            expected = word
        assert value is expected if isinstance(expected, bool) else value == expected, word


_BEYOND_INT64 = ["1e19", "9223372036854775296", "-9223372036854775808", "-1e19"]


@pytest.mark.parametrize("raw", _BEYOND_INT64)
def test_integers_beyond_int64_as_read_now(raw):
    """Pins both readings of the decided difference (_beyond_int64): out of range either
    way; the old frame code stored -2**63 as the value, the new parser stores none."""
    column = COLUMNS["gravida"]
    assert _old_coerce(column, [raw], _TODAYS[0]) == [(-(2**63), False, True)]
    assert _new(column, raw, _TODAYS[0]) == (None, False, True)


# Minimal inputs of the decided plus-sign difference (_unsigned): column, text, old reading.
_PLUS_SIGN = [
    ("age_years", "+3e23", (2.9999999999999997e23, False, True)),  # value one ulp off
    ("mgso4_total_g", "+1e-23", (1.0000000000000001e-23, False, False)),
    ("bmd_g_cm2", "+.9018430080325791", (0.9018430080325792, False, False)),
    ("vitamin_d_ng_ml", "+0.9999999999999999", (1.0, False, False)),  # now out of range
    ("alp_u_l", "+4.99999999999999957", (4.999999999999999, False, True)),  # now in range
    ("gravida", "+0.9999999999999999", (1, False, False)),  # now not a whole number
    ("hospital_days", "+4.99999999999999957", (None, True, False)),  # now 5
    ("vitamin_d_ng_ml", "\uff0b0.9999999999999999", (1.0, False, False)),  # NFKC: "+"
]


@pytest.mark.parametrize(("name", "raw", "old"), _PLUS_SIGN)
def test_a_plus_sign_as_read_now(name, raw, old):
    """Pins both readings of the decided difference: the old code (pandas) read "+x" off by
    one unit in the last place; the new parser reads it as x, as both read x unsigned."""
    column = COLUMNS[name]
    assert _old_coerce(column, [raw], _TODAYS[0]) == [old]
    unsigned = unicodedata.normalize("NFKC", raw)[1:]
    assert _new(column, raw, _TODAYS[0]) == _new(column, unsigned, _TODAYS[0])
    assert [_new(column, raw, _TODAYS[0])] == _old_coerce(column, [unsigned], _TODAYS[0])

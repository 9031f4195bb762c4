"""Shared helpers of the cohort statistics: NaN-free conversions, descriptives, quiet scipy."""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from reportgen import formatting as fmt
from reportgen.models import STATUS_LABELS
from reportgen.schema import parse_yes_no

CLASSES = tuple(STATUS_LABELS)  # the bone statuses, in severity order
SMALL_N = 30

MWU = "Mann–Whitney U test"
FISHER = "Fisher's exact test"
CHI2 = "Chi-squared test"
SPEARMAN = "Spearman rank correlation"


def _f(value: Any) -> float | None:
    """A finite Python float, or None."""
    if value is None or value is pd.NA:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def _pct(count: int, denominator: int) -> float | None:
    return 100.0 * count / denominator if denominator else None


def _numeric(series: pd.Series) -> np.ndarray:
    """Float array with NaN for missing, unparsable or infinite values."""
    values = pd.to_numeric(series, errors="coerce").astype("Float64")
    out = values.to_numpy(dtype=float, na_value=np.nan)
    out[~np.isfinite(out)] = np.nan
    return out


def _boolean(series: pd.Series) -> pd.Series:
    """Nullable boolean; accepts bool dtypes, 0/1 and the input's yes/no words."""
    try:
        return series.astype("boolean")
    except (TypeError, ValueError):
        return parse_yes_no(series.astype("string").str.strip())


def _text(series: pd.Series) -> pd.Series:
    """Lower-case stripped strings; enum members (BoneStatus, FlagState) become their values.

    Normalises the distinct values only, so cost does not grow with per-row Python work.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    names = [str(u.value if isinstance(u, enum.Enum) else u).strip().lower() for u in uniques]
    table = np.array([*names, None], dtype=object)
    return pd.Series(table[codes], index=series.index, dtype="string")


def _quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """Call a scipy function, returning its result and any warning messages it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(all="ignore"):
            result = fn(*args, **kwargs)
    return result, [str(w.message) for w in caught]


def _fmt_g(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"


def _fmt_p(p: float) -> str:
    """``p = 0.04`` / ``p < 0.001``: the formatter the tables use (formatting.p_value)."""
    return fmt.p_clause(p)


def _fmt_r(r: float) -> str:
    return fmt.half_up(r, 2)


def _describe(values: np.ndarray) -> dict[str, Any]:
    """n, missing, mean, sd (ddof=1), median, q1, q3 (linear interpolation), min, max."""
    ok = values[~np.isnan(values)]
    out: dict[str, Any] = {"n": int(ok.size), "missing": int(values.size - ok.size)}
    if ok.size == 0:
        return out | dict.fromkeys(("mean", "sd", "median", "q1", "q3", "min", "max"))
    with np.errstate(all="ignore"):
        q1, median, q3 = np.percentile(ok, [25.0, 50.0, 75.0])
        out["mean"] = _f(np.mean(ok))
        out["sd"] = _f(np.std(ok, ddof=1)) if ok.size > 1 else None
    out |= {
        "median": _f(median),
        "q1": _f(q1),
        "q3": _f(q3),
        "min": _f(ok.min()),
        "max": _f(ok.max()),
    }
    return out

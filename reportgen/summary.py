"""Cohort statistics: class counts, descriptives, Table 1, dose bands and dose–YAM associations."""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from reportgen import formatting as fmt
from reportgen.i18n import N_, _

CLASSES = ("normal", "low_bone_mass", "osteoporosis")
RULE_IDS = (
    "mgso4_long_term",
    "mgso4_high_cumulative_dose",
    "low_bmi",
    "smoking",
    "family_history",
    "vitamin_d_deficiency",
    "prolonged_bed_rest",
    "lactation",
    "glucocorticoid",
    "heparin",
)
FLAG_STATES = ("present", "absent", "not_assessed")
# Numeric columns summarised when present, in report order, with their display labels.
NUMERIC_LABELS = {
    "age_years": N_("Age (years)"),
    "bmi_kg_m2": N_("BMI (kg/m²)"),
    "height_cm": N_("Height (cm)"),
    "weight_kg": N_("Weight (kg)"),
    "gravida": N_("Gravida"),
    "para": N_("Para"),
    "hospital_days": N_("Hospital stay (days)"),
    "mgso4_days": N_("MgSO4 tocolysis (days)"),
    "mgso4_total_g": N_("Cumulative MgSO4 dose (g)"),
    "yam_percent": N_("YAM (%)"),
    "bmd_g_cm2": N_("BMD (g/cm²)"),
    "t_score": N_("T-score"),
    "z_score": N_("Z-score"),
    "vitamin_d_ng_ml": N_("Serum 25(OH)D (ng/mL)"),
    "bed_rest_days": N_("Bed rest (days)"),
}
BOOLEAN_LABELS = {
    "fracture": N_("Fragility fracture"),
    "family_history": N_("Family history of osteoporosis"),
    "breastfeeding": N_("Breastfeeding"),
    "glucocorticoid": N_("Glucocorticoid"),
    "heparin": N_("Heparin"),
}
SMOKING_LEVELS = {
    "never": N_("Never"),
    "before_pregnancy": N_("Before pregnancy"),
    "during_pregnancy": N_("During pregnancy"),
}
GROUPS = ("overall", "normal", "low_bone_mass_or_worse")
# Rows that define the comparison groups themselves: described, never tested.
_DEFINING = {"yam_percent", "fracture"}
_TRUE = {"true", "yes", "y", "1", "+", "t"}
_FALSE = {"false", "no", "n", "0", "-", "f"}
SMALL_N = 30

MWU = "Mann–Whitney U test"
FISHER = "Fisher's exact test"
CHI2 = "Chi-squared test"
SPEARMAN = "Spearman rank correlation"


def summarise_cohort(
    df: pd.DataFrame,
    *,
    dose_threshold_g: float = 1000.0,
    dose_band_edges_g: Sequence[float] = (500.0, 1000.0),
    yam_low_pct: float = 80.0,
) -> dict:
    """Summarise a classified cohort as a JSON-ready dict (no NaN: missing results are None).

    Groups: "normal" is ``classification == "normal"``; "low_bone_mass_or_worse" is
    ``low_bone_mass`` or ``osteoporosis``; rows without a known class count in Overall only.
    """
    thr = float(dose_threshold_g)
    edges = _band_edges(dose_band_edges_g, thr)
    n = len(df)
    cls = _class_codes(df)
    normal, low = cls == 0, (cls == 1) | (cls == 2)
    class_counts = {c: int(np.count_nonzero(cls == i)) for i, c in enumerate(CLASSES)}
    low_count = class_counts["low_bone_mass"] + class_counts["osteoporosis"]
    not_measured = (
        int(df["classification"].astype(str).eq("not_measured").sum())
        if "classification" in df.columns
        else 0
    )
    measured = n - not_measured

    numeric = {c: _numeric(df[c]) for c in NUMERIC_LABELS if c in df.columns}
    overall = {c: _describe(v) for c, v in numeric.items()}
    table1 = _table1(df, numeric, overall, normal, low, yam_low_pct)
    associations = _associations(numeric, thr, yam_low_pct)
    cautions = list(table1["cautions"]) + _general_cautions(n, thr, associations)
    if not_measured:
        cautions.insert(
            0,
            _(
                "{n} patient(s) without a DXA result yet (not measured) are "
                "counted apart: they are in no bone-status count and in no YAM "
                "statistic; percentages of bone status are of the {measured} "
                "measured."
            ).format(n=not_measured, measured=measured),
        )
    return {
        "n": n,
        "classification_counts": class_counts,
        "not_measured": not_measured,
        "measured": measured,
        "unclassified": n - sum(class_counts.values()) - not_measured,
        "low_bone_mass_or_worse": {"count": low_count, "percent": _pct(low_count, measured)},
        "means": {c: d["mean"] for c, d in overall.items()},
        "sd": {c: d["sd"] for c, d in overall.items()},
        "medians": {c: d["median"] for c, d in overall.items()},
        "ranges": {c: {"min": d["min"], "max": d["max"]} for c, d in overall.items()},
        "missing": {c: d["missing"] for c, d in overall.items()},
        "risk_flag_counts": _flag_counts(df),
        "low_yam_group": _low_yam_group(numeric, low),
        "dose_bands": _dose_bands(numeric.get("mgso4_total_g"), n, cls, edges, thr),
        "associations": associations,
        "table1": table1,
        "cautions": cautions,
        "parameters": {
            "dose_threshold_g": thr,
            "dose_band_edges_g": edges,
            "yam_low_pct": float(yam_low_pct),
        },
    }


# --- conversion helpers -------------------------------------------------------------------


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
    """Nullable boolean; accepts bool dtypes, 0/1 and yes/no style strings."""
    try:
        return series.astype("boolean")
    except (TypeError, ValueError):
        text = series.astype("string").str.strip().str.lower()
        out = pd.Series(pd.NA, index=series.index, dtype="boolean")
        out[text.isin(_TRUE).fillna(False).to_numpy(bool)] = True
        out[text.isin(_FALSE).fillna(False).to_numpy(bool)] = False
        return out


def _text(series: pd.Series) -> pd.Series:
    """Lower-case stripped strings; enum members (BoneStatus, FlagState) become their values.

    Normalises the distinct values only, so cost does not grow with per-row Python work.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    names = [str(u.value if isinstance(u, enum.Enum) else u).strip().lower() for u in uniques]
    table = np.array([*names, None], dtype=object)
    return pd.Series(table[codes], index=series.index, dtype="string")


def _class_codes(df: pd.DataFrame) -> np.ndarray:
    """0 normal, 1 low bone mass, 2 osteoporosis, -1 missing or unknown."""
    if "classification" not in df.columns:
        return np.full(len(df), -1, dtype=np.int64)
    text = _text(df["classification"])
    text = text.where(text.isin(CLASSES))  # not_measured and unknown values are -1
    codes = pd.Categorical(text, categories=list(CLASSES)).codes
    return np.asarray(codes, dtype=np.int64)


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


# --- descriptives -------------------------------------------------------------------------


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


def _flag_counts(df: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per rule: present / absent / not_assessed; a missing column or value is not_assessed."""
    extra = sorted(
        c[5:]
        for c in df.columns
        if isinstance(c, str) and c.startswith("flag_") and c[5:] not in RULE_IDS
    )
    out = {}
    for rule in (*RULE_IDS, *extra):
        column = f"flag_{rule}"
        if column not in df.columns:
            out[rule] = {"present": 0, "absent": 0, "not_assessed": len(df)}
            continue
        text = _text(df[column])
        present = int(text.eq("present").sum())
        absent = int(text.eq("absent").sum())
        out[rule] = {
            "present": present,
            "absent": absent,
            "not_assessed": len(df) - present - absent,
        }
    return out


def _low_yam_group(numeric: dict[str, np.ndarray], low: np.ndarray) -> dict[str, Any]:
    described = {c: _describe(v[low]) for c, v in numeric.items()}
    return {
        "definition": "classification is low_bone_mass or osteoporosis",
        "n": int(np.count_nonzero(low)),
        "means": {c: d["mean"] for c, d in described.items()},
        "missing": {c: d["missing"] for c, d in described.items()},
    }


# --- Table 1 ------------------------------------------------------------------------------


def _no_test(reason: str) -> dict[str, Any]:
    return {
        "name": None,
        "statistic_name": None,
        "statistic": None,
        "p_value": None,
        "note": None,
        "reason": reason,
    }


def _test(
    name: str, statistic_name: str, statistic: Any, p: Any, note: str | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "statistic_name": statistic_name,
        "statistic": _f(statistic),
        "p_value": _f(p),
        "note": note,
        "reason": None,
    }


def _group_reason(sizes: dict[str, int], labels: dict[str, str]) -> str | None:
    """Why the two groups cannot be compared, or None if both have at least 2 values."""
    for key in GROUPS[1:]:
        if sizes[key] == 0:
            return f"no patient with a value in the '{labels[key]}' group"
        if sizes[key] < 2:
            return f"fewer than 2 patients with a value in the '{labels[key]}' group"
    return None


def _mwu(
    values: np.ndarray, normal: np.ndarray, low: np.ndarray, labels: dict[str, str]
) -> dict[str, Any]:
    a, b = values[normal], values[low]
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    reason = _group_reason({"normal": a.size, "low_bone_mass_or_worse": b.size}, labels)
    if reason:
        return _no_test(reason)
    res, messages = _quiet(stats.mannwhitneyu, a, b, alternative="two-sided")
    note = "; ".join(messages) or None
    return _test(MWU, "U (Normal group)", res.statistic, res.pvalue, note)


def _categorical_test(table: np.ndarray, labels: dict[str, str]) -> dict[str, Any]:
    """Fisher for 2 observed levels, chi-squared for more; table is levels × (normal, low)."""
    sizes = table.sum(axis=0)
    reason = _group_reason(
        {"normal": int(sizes[0]), "low_bone_mass_or_worse": int(sizes[1])}, labels
    )
    if reason:
        return _no_test(reason)
    table = table[table.sum(axis=1) > 0]
    if table.shape[0] < 2:
        return _no_test("only one level observed in the compared patients")
    if table.shape[0] == 2:
        res, messages = _quiet(stats.fisher_exact, table)
        note = "; ".join(messages) or None
        if _f(res.statistic) is None:
            note = "odds ratio not estimable (a zero cell)"
        return _test(
            FISHER,
            "odds ratio (first observed level, Normal vs Low)",
            res.statistic,
            res.pvalue,
            note,
        )
    res, messages = _quiet(stats.chi2_contingency, table)
    notes = [f"{res.dof} degrees of freedom", *messages]
    small = int(np.count_nonzero(res.expected_freq < 5))
    if small:
        notes.append(
            f"{small} of {res.expected_freq.size} expected counts are below 5; "
            "the p-value is approximate"
        )
    return _test(CHI2, "chi-squared", res.statistic, res.pvalue, "; ".join(notes))


def _categorical_variables(
    df: pd.DataFrame,
) -> list[tuple[str, str, list[tuple[str, str]], np.ndarray]]:
    """(variable, label, [(level, level label)], codes with -1 for missing) per categorical."""
    out = []
    if "smoking" in df.columns:
        text = _text(df["smoking"])
        seen = sorted(set(text.dropna().unique()) - set(SMOKING_LEVELS))
        levels = list(SMOKING_LEVELS.items()) + [(s, s) for s in seen]
        codes = pd.Categorical(text, categories=[k for k, _ in levels]).codes
        levels = [(k, _(v)) for k, v in levels]
        out.append(("smoking", _("Smoking"), levels, np.asarray(codes, dtype=np.int64)))
    if "para" in df.columns:
        para = _numeric(df["para"])
        codes = np.where(np.isnan(para), -1, (para >= 1).astype(np.int64))
        out.append(("parity", _("Parity (para)"), [("0", "0"), ("1+", "≥ 1")], codes))
    for column, label in BOOLEAN_LABELS.items():
        if column in df.columns:
            values = _boolean(df[column])
            codes = np.where(
                values.isna().to_numpy(), -1, np.where(values.fillna(False).to_numpy(bool), 0, 1)
            )
            out.append((column, _(label), [("yes", _("Yes")), ("no", _("No"))], codes))
    return out


def _categorical_row(
    variable: str,
    label: str,
    levels: list[tuple[str, str]],
    codes: np.ndarray,
    masks: dict[str, np.ndarray],
    labels: dict[str, str],
) -> dict[str, Any]:
    k = len(levels)
    counts = {g: np.bincount(codes[m & (codes >= 0)], minlength=k) for g, m in masks.items()}
    denominators = {g: int(c.sum()) for g, c in counts.items()}
    row = {
        "variable": variable,
        "label": label,
        "kind": "categorical",
        "denominator": denominators,
        "missing": {g: int(np.count_nonzero(m & (codes < 0))) for g, m in masks.items()},
        "levels": [
            {
                "level": key,
                "label": text,
                "counts": {
                    g: {
                        "count": int(counts[g][i]),
                        "percent": _pct(int(counts[g][i]), denominators[g]),
                    }
                    for g in masks
                },
            }
            for i, (key, text) in enumerate(levels)
        ],
    }
    if variable in _DEFINING:
        row["test"] = _no_test("the groups are defined by this variable")
    else:
        table = np.column_stack([counts["normal"], counts["low_bone_mass_or_worse"]])
        row["test"] = _categorical_test(table, labels)
    return row


def _table1(
    df: pd.DataFrame,
    numeric: dict[str, np.ndarray],
    overall: dict[str, dict],
    normal: np.ndarray,
    low: np.ndarray,
    yam_low_pct: float,
) -> dict[str, Any]:
    labels = {
        "overall": _("Overall"),
        "normal": _("Normal (YAM ≥ {yam} %)").format(yam=_fmt_g(yam_low_pct)),
        "low_bone_mass_or_worse": _("Low bone mass or worse"),
    }
    masks = {
        "overall": np.ones(len(df), dtype=bool),
        "normal": normal,
        "low_bone_mass_or_worse": low,
    }
    rows: list[dict[str, Any]] = []
    for column, values in numeric.items():
        if column in _DEFINING:
            test = _no_test("the groups are defined by this variable")
        else:
            test = _mwu(values, normal, low, labels)
        rows.append(
            {
                "variable": column,
                "label": _(NUMERIC_LABELS[column]),
                "kind": "continuous",
                "stats": {
                    "overall": overall[column],
                    "normal": _describe(values[normal]),
                    "low_bone_mass_or_worse": _describe(values[low]),
                },
                "test": test,
            }
        )
    for variable, label, levels, codes in _categorical_variables(df):
        rows.append(_categorical_row(variable, label, levels, codes, masks, labels))
    columns = [{"key": g, "label": labels[g], "n": int(np.count_nonzero(masks[g]))} for g in GROUPS]
    return {"columns": columns, "rows": rows, "cautions": _table1_cautions(columns, rows, len(df))}


def _table1_cautions(columns: list[dict], rows: list[dict], n: int) -> list[str]:
    out = []
    if n == 0:
        return [_("No patients: nothing to summarise.")]
    if n < SMALL_N:
        out.append(_("n = {n}: tests have very low power; p-values are descriptive.").format(n=n))
    for column in columns[1:]:
        if column["n"] == 0:
            out.append(
                _("No patient is in the '{group}' group, so the groups were not compared.").format(
                    group=column["label"]
                )
            )
    unclassified = n - columns[1]["n"] - columns[2]["n"]
    if unclassified and "not_measured" not in " ".join(out):
        out.append(
            _("{n} patient(s) without a bone-status classification appear in Overall only.").format(
                n=unclassified
            )
        )
    tested = [r for r in rows if r["test"]["p_value"] is not None]
    if len(tested) > 1:
        out.append(
            _(
                "{n} p-values are shown without correction for multiple comparisons; "
                "read them as descriptive, not confirmatory."
            ).format(n=len(tested))
        )
    for row in tested:
        if row["test"]["name"] == CHI2 and "below 5" in (row["test"]["note"] or ""):
            out.append(
                _(
                    "{variable}: some expected counts are below 5, so the chi-squared "
                    "p-value is approximate."
                ).format(variable=row["label"])
            )
    if any(r["variable"] in _DEFINING for r in rows):
        out.append(
            _(
                "The groups are defined by YAM and fracture, so those rows are described "
                "but not tested."
            )
        )
    return out


# --- dose bands ---------------------------------------------------------------------------


def _band_edges(edges: Sequence[float], threshold: float) -> list[float]:
    """Sorted unique finite edges, always including the risk-rule threshold."""
    values = [float(e) for e in edges]
    if not math.isfinite(threshold) or not all(math.isfinite(e) for e in values):
        raise ValueError("dose band edges and threshold must be finite numbers")
    return sorted(set(values) | {threshold})


def _band_bounds(edges: list[float], threshold: float) -> list[tuple]:
    """(lower, upper, lower_inclusive, upper_inclusive) per band.

    A value on an edge below the threshold goes to the band above it; a value on the
    threshold (or an edge above it) goes to the band below, so every band above the
    threshold is strictly ``> dose_threshold_g``, exactly as the risk rule.
    """
    up = [e < threshold for e in edges]  # edge belongs to the band above it
    bounds = [(None, edges[0], False, not up[0])]
    bounds += [(edges[i - 1], edges[i], up[i - 1], not up[i]) for i in range(1, len(edges))]
    bounds.append((edges[-1], None, up[-1], False))
    return bounds


def _band_label(lower: float | None, upper: float | None, lo_inc: bool, hi_inc: bool) -> str:
    if lower is None:
        return f"{'≤' if hi_inc else '<'} {_fmt_g(upper)} g"
    if upper is None:
        return f"{'≥' if lo_inc else '>'} {_fmt_g(lower)} g"
    lo = _fmt_g(lower) if lo_inc else f"> {_fmt_g(lower)}"
    hi = _fmt_g(upper) if hi_inc else f"< {_fmt_g(upper)}"
    return f"{lo}–{hi} g" if lo_inc and hi_inc else _("{low} to {high} g").format(low=lo, high=hi)


def _dose_bands(
    dose: np.ndarray | None, n: int, cls: np.ndarray, edges: list[float], threshold: float
) -> dict[str, Any]:
    bounds = _band_bounds(edges, threshold)
    k = len(bounds)
    if dose is None:
        dose = np.full(n, np.nan)
    known = ~np.isnan(dose)
    index = np.zeros(n, dtype=np.int64)
    for edge in edges:
        index += (dose >= edge) if edge < threshold else (dose > edge)
    cells = np.bincount(
        index[known] * 4 + np.where(cls[known] < 0, 3, cls[known]), minlength=4 * k
    ).reshape(k, 4)
    bands = []
    for i, (lower, upper, lo_inc, hi_inc) in enumerate(bounds):
        size = int(cells[i].sum())
        low = int(cells[i, 1] + cells[i, 2])
        bands.append(
            {
                "label": _band_label(lower, upper, lo_inc, hi_inc),
                "lower_g": lower,
                "upper_g": upper,
                "lower_inclusive": lo_inc,
                "upper_inclusive": hi_inc,
                "above_threshold": lower is not None and lower >= threshold,
                "n": size,
                "classification_counts": {c: int(cells[i, j]) for j, c in enumerate(CLASSES)},
                "unclassified": int(cells[i, 3]),
                "low_bone_mass_or_worse": {"count": low, "percent": _pct(low, size)},
            }
        )
    return {
        "threshold_g": threshold,
        "boundary_rule": _(
            "A dose equal to an edge below {grams} g falls in the higher band; "
            "a dose of exactly {grams} g falls in the lower band, so the top "
            "band is > {grams} g as in the risk rule."
        ).format(grams=_fmt_g(threshold)),
        "bands": bands,
        "missing": int(n - np.count_nonzero(known)),
    }


# --- associations -------------------------------------------------------------------------


def _association(
    name: str,
    label: str,
    test: str,
    statistic_name: str,
    n: int,
    statistic: Any = None,
    p: Any = None,
    sentence: str = "",
    reason: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "test": test,
        "statistic_name": statistic_name,
        "statistic": _f(statistic),
        "p_value": _f(p),
        "n": n,
        "sentence": sentence,
        "reason": reason,
        "note": note,
    }


def _fisher_dose_yam(
    dose: np.ndarray | None, yam: np.ndarray | None, threshold: float, yam_low: float
) -> dict[str, Any]:
    t, y = _fmt_g(threshold), _fmt_g(yam_low)
    name = "dose_above_threshold_vs_low_yam"
    label = _("Dose > {grams} g vs YAM < {yam} %").format(grams=t, yam=y)
    rows, cols = [f"> {t} g", f"≤ {t} g"], [f"YAM < {y} %", f"YAM ≥ {y} %"]
    if dose is None or yam is None:
        ok = np.zeros(0, dtype=bool)
        dose = yam = np.zeros(0)
    else:
        ok = ~np.isnan(dose) & ~np.isnan(yam)
    high, low = dose[ok] > threshold, yam[ok] < yam_low
    table = np.array(
        [[np.sum(high & low), np.sum(high & ~low)], [np.sum(~high & low), np.sum(~high & ~low)]],
        dtype=np.int64,
    )
    n = int(ok.sum())
    out = _association(name, label, FISHER, "odds ratio", n)
    out |= {
        "table": {"rows": rows, "columns": cols, "counts": table.tolist()},
        "odds_ratio": None,
        "odds_ratio_note": None,
    }
    reason = None
    if n == 0:
        reason = _("no patient has both a cumulative dose and a YAM value")
    elif table[:, 0].sum() in (0, n):
        reason = (
            _("no patient had YAM < {yam} %")
            if table[:, 0].sum() == 0
            else _("every patient had YAM < {yam} %")
        ).format(yam=y)
    elif table[0].sum() in (0, n):
        reason = (
            _("no patient had a dose > {grams} g")
            if table[0].sum() == 0
            else _("every patient had a dose > {grams} g")
        ).format(grams=t)
    if reason:
        out |= {
            "reason": _("not computable: {reason}").format(reason=reason),
            "sentence": _("In {n} patients the test could not be run because {reason}.").format(
                n=n, reason=reason
            ),
        }
        return out
    res, messages = _quiet(stats.fisher_exact, table)
    odds = _f(res.statistic)
    odds_note = None if odds is not None else "not estimable: a zero cell makes it infinite"
    a, b, c, d = (int(v) for v in table.ravel())
    if res.pvalue >= 0.05:
        verdict = _("this could be chance")
    elif n < SMALL_N:
        verdict = _("in so few patients this is a signal to follow up, not proof of an effect")
    else:
        verdict = _("an association in observational data, not proof that the dose causes it")
    odds_text = (
        _(", odds ratio {odds}").format(odds=f"{odds:.2g}")
        if odds is not None
        else _("; the odds ratio is not estimable because a cell is zero")
    )
    sentence = _(
        "In {n} patients, {a} of {ab} with a dose > {grams} g had YAM < {yam} %, "
        "against {c} of {cd} with ≤ {grams} g ({test} {p}{odds}); {verdict}."
    ).format(
        n=f"{n:,}",
        a=f"{a:,}",
        ab=f"{a + b:,}",
        grams=t,
        yam=y,
        c=f"{c:,}",
        cd=f"{c + d:,}",
        test=_(FISHER),
        p=_fmt_p(res.pvalue),
        odds=odds_text,
        verdict=verdict,
    )
    out |= {
        "statistic": odds,
        "p_value": _f(res.pvalue),
        "sentence": sentence,
        "odds_ratio": odds,
        "odds_ratio_note": odds_note,
        "note": "; ".join(messages) or None,
    }
    return out


def _spearman(
    name: str, x: np.ndarray | None, y: np.ndarray | None, x_text: str, x_label: str
) -> dict[str, Any]:
    label = _("{variable} vs YAM").format(variable=x_label)
    if x is None or y is None:
        return _association(
            name,
            label,
            SPEARMAN,
            "rho",
            0,
            reason=_("not computable: column absent"),
            sentence=_("The correlation could not be computed: a column is absent."),
        )
    ok = ~np.isnan(x) & ~np.isnan(y)
    x, y, n = x[ok], y[ok], int(ok.sum())
    reason = None
    if n < 3:
        reason = _("fewer than 3 patients with both values (n = {n})").format(n=n)
    elif np.all(x == x[0]) or np.all(y == y[0]):
        reason = _("one of the variables is constant, so the correlation is undefined")
    res = None
    if reason is None:
        res, messages = _quiet(stats.spearmanr, x, y)
        if _f(res.statistic) is None or _f(res.pvalue) is None:
            reason = "; ".join(messages) or "scipy returned no value"
    if reason:
        return _association(
            name,
            label,
            SPEARMAN,
            "rho",
            n,
            reason=_("not computable: {reason}").format(reason=reason),
            sentence=_("In {n} patients the correlation could not be computed ({reason}).").format(
                n=n, reason=reason
            ),
        )
    rho, p = float(res.statistic), float(res.pvalue)
    higher = rho > 0
    if rho == 0:
        sentence = _(
            "In {n} patients, {x} showed no monotonic relation with YAM (Spearman ρ = {rho}, {p})."
        )
    elif p >= 0.05:
        sentence = (
            _(
                "In {n} patients, {x} went with higher YAM (Spearman ρ = {rho}), but this "
                "could be chance ({p})."
            )
            if higher
            else _(
                "In {n} patients, {x} went with lower YAM (Spearman ρ = {rho}), but this "
                "could be chance ({p})."
            )
        )
    elif n < SMALL_N:
        sentence = (
            _(
                "In {n} patients, {x} went with higher YAM (Spearman ρ = {rho}, {p}); an "
                "association in a small case series does not show cause."
            )
            if higher
            else _(
                "In {n} patients, {x} went with lower YAM (Spearman ρ = {rho}, {p}); an "
                "association in a small case series does not show cause."
            )
        )
    else:
        sentence = (
            _(
                "In {n} patients, {x} went with higher YAM (Spearman ρ = {rho}, {p}); an "
                "association in observational data does not show cause."
            )
            if higher
            else _(
                "In {n} patients, {x} went with lower YAM (Spearman ρ = {rho}, {p}); an "
                "association in observational data does not show cause."
            )
        )
    sentence = sentence.format(n=f"{n:,}", x=x_text, rho=_fmt_r(rho), p=_fmt_p(p))
    note = (
        _("p-value from scipy's t approximation; rough below about 10 patients") if n < 10 else None
    )
    return _association(name, label, SPEARMAN, "rho", n, rho, p, sentence, note=note)


def _associations(
    numeric: dict[str, np.ndarray], threshold: float, yam_low: float
) -> list[dict[str, Any]]:
    dose, days, yam = (numeric.get(c) for c in ("mgso4_total_g", "mgso4_days", "yam_percent"))
    return [
        _fisher_dose_yam(dose, yam, threshold, yam_low),
        _spearman(
            "dose_vs_yam", dose, yam, _("higher cumulative dose"), _("Cumulative MgSO4 dose")
        ),
        _spearman("days_vs_yam", days, yam, _("more days on MgSO4"), _("MgSO4 days")),
    ]


def _general_cautions(n: int, threshold: float, associations: list[dict]) -> list[str]:
    out = []
    if n and any(a["p_value"] is not None for a in associations):
        out.append(
            _(
                "Dose–YAM associations from a case series without a comparison group "
                "cannot show that MgSO4 causes bone loss."
            )
        )
    if threshold == 1000.0:
        out.append(
            _(
                "The > 1,000 g cumulative-dose threshold is the seed case series' "
                "hypothesis from 9 patients, not a validated cut-off: it was proposed from "
                "Iio's own nine patients, so testing it on those nine is circular and only "
                "other patients can test it."
            )
        )
    return out

"""Table 1: each variable described by bone-status group, with a two-group test."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from reportgen.i18n import N_, _
from reportgen.summary.values import (
    CHI2,
    FISHER,
    MWU,
    SMALL_N,
    _boolean,
    _describe,
    _f,
    _fmt_g,
    _numeric,
    _pct,
    _quiet,
    _text,
)

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


def build_table_one(
    df: pd.DataFrame,
    numeric: dict[str, np.ndarray],
    overall: dict[str, dict],
    normal: np.ndarray,
    low: np.ndarray,
    yam_low_pct: float,
) -> dict[str, Any]:
    """Table 1: rows by group (Overall, Normal, Low or worse), with tests and cautions."""
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

"""Dose bands and the dose–YAM associations, with the cautions they need."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from reportgen.i18n import _
from reportgen.rules.seed import is_seed_threshold
from reportgen.summary.values import (
    CLASSES,
    FISHER,
    SMALL_N,
    SPEARMAN,
    _f,
    _fmt_g,
    _fmt_p,
    _fmt_r,
    _pct,
    _quiet,
)


def sorted_band_edges(edges: Sequence[float], threshold: float) -> list[float]:
    """Sorted unique finite edges, always including the risk-rule threshold."""
    values = [float(e) for e in edges]
    if not math.isfinite(threshold) or not all(math.isfinite(e) for e in values):
        raise ValueError("dose band edges and threshold must be finite numbers")
    return sorted(set(values) | {threshold})


_Band = tuple[float | None, float | None, bool, bool]  # lower, upper, inclusive of each


def _band_bounds(edges: list[float], threshold: float) -> list[_Band]:
    """(lower, upper, lower_inclusive, upper_inclusive) per band.

    A value on an edge below the threshold goes to the band above it; a value on the
    threshold (or an edge above it) goes to the band below, so every band above the
    threshold is strictly ``> dose_threshold_g``, exactly as the risk rule.
    """
    up = [e < threshold for e in edges]  # edge belongs to the band above it
    bounds: list[_Band] = [(None, edges[0], False, not up[0])]
    bounds += [(edges[i - 1], edges[i], up[i - 1], not up[i]) for i in range(1, len(edges))]
    bounds.append((edges[-1], None, up[-1], False))
    return bounds


def _band_label(lower: float | None, upper: float | None, lo_inc: bool, hi_inc: bool) -> str:
    if lower is None:
        assert upper is not None  # only the open bands lack a bound, one each
        return f"{'≤' if hi_inc else '<'} {_fmt_g(upper)} g"
    if upper is None:
        return f"{'≥' if lo_inc else '>'} {_fmt_g(lower)} g"
    lo = _fmt_g(lower) if lo_inc else f"> {_fmt_g(lower)}"
    hi = _fmt_g(upper) if hi_inc else f"< {_fmt_g(upper)}"
    return f"{lo}–{hi} g" if lo_inc and hi_inc else _("{low} to {high} g").format(low=lo, high=hi)


def count_dose_bands(
    dose: np.ndarray | None, n: int, cls: np.ndarray, edges: list[float], threshold: float
) -> dict[str, Any]:
    """Patients per cumulative-dose band and bone status; the top band is > the threshold."""
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
    assert res is not None  # no reason: the test ran
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


def compute_associations(
    numeric: dict[str, np.ndarray], threshold: float, yam_low: float
) -> list[dict[str, Any]]:
    """Dose > threshold vs low YAM (Fisher), and dose and days against YAM (Spearman)."""
    dose, days, yam = (numeric.get(c) for c in ("mgso4_total_g", "mgso4_days", "yam_percent"))
    return [
        _fisher_dose_yam(dose, yam, threshold, yam_low),
        _spearman(
            "dose_vs_yam", dose, yam, _("higher cumulative dose"), _("Cumulative MgSO4 dose")
        ),
        _spearman("days_vs_yam", days, yam, _("more days on MgSO4"), _("MgSO4 days")),
    ]


def association_cautions(n: int, threshold: float, associations: list[dict]) -> list[str]:
    """How to read the associations: no causation; the seed threshold tested on its own cases."""
    out = []
    if n and any(a["p_value"] is not None for a in associations):
        out.append(
            _(
                "Dose–YAM associations from a case series without a comparison group "
                "cannot show that MgSO4 causes bone loss."
            )
        )
    if is_seed_threshold(threshold):
        out.append(
            _(
                "The > {grams} g cumulative-dose threshold is the seed case series' "
                "hypothesis from 9 patients, not a validated cut-off: it was proposed from "
                "Iio's own nine patients, so testing it on those nine is circular and only "
                "other patients can test it."
            ).format(grams=_fmt_g(threshold))
        )
    return out

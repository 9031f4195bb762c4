"""Cohort outputs: assess every valid row at once, summarise, and render JSON/CSV/HTML/PDF."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd

from reportgen import __version__, i18n
from reportgen import formatting as fmt
from reportgen.columns import IDENTIFYING_COLUMNS
from reportgen.dose_bands import DEFAULT_DOSE_BAND_EDGES_G
from reportgen.errors import WITHHELD_SOURCE, Problem
from reportgen.fractures import read_fractures
from reportgen.frame_assess import assess_frame
from reportgen.frames import records_from_frame
from reportgen.labs import Interval
from reportgen.output import dump_json
from reportgen.records import PreparedTable
from reportgen.risk import quality_flags
from reportgen.rules import RuleSet
from reportgen.rules.seed import HIGH_DOSE_RULE, is_seed_threshold
from reportgen.settings import ReportSettings
from reportgen.summary import summarise_cohort

CSV_COLUMNS = (
    "patient_id",
    "age_years",
    "bmi_kg_m2",
    "gravida",
    "para",
    "smoking",
    "hospital_days",
    "mgso4_days",
    "mgso4_total_g",
    "yam_percent",
    "fracture",
    "fracture_sites",
    "classification",
)
# Columns that are the tool's own bookkeeping, never patient data.
_INTERNAL = ("_row", "_derived")
# A quoted input value at the end of a problem message ("not a number: 'abc'").
# Spreadsheet programs run a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Inside a value, a separator of some locale's CSV (`;` in most of Europe), or a line break,
# starts a new cell there: a formula after it is live too (issue 16, class 2).
_CELL_START = re.compile(r"([,;|\t\r\n][\s\"'\u00a0]*)(?=[=+\-@])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MAX_QUALITY_IDS = 20
# What risk.quality_flags reads (records for 10,000 rows are slow to build: only these).
_QUALITY_INPUTS = (
    "patient_id",
    "mgso4_days",
    "mgso4_total_g",
    "hospital_days",
    "fracture",
    "fracture_sites",
    "dxa_site",
    "dxa_date",
    "delivery_date",
)


def make_cohort_outputs(
    table: PreparedTable, rules: RuleSet, *, lang: str = "en", **options
) -> dict[str, bytes]:
    """:func:`_make_cohort_outputs` with every text in ``lang`` (en or ja)."""
    with i18n.using(lang, options["settings"].organisation.calendar):
        return _make_cohort_outputs(table, rules, lang=lang, **options)


def _make_cohort_outputs(
    table: PreparedTable,
    rules: RuleSet,
    *,
    formats,
    deidentify: bool,
    max_listing: int,
    template_dir,
    settings: ReportSettings,
    generated_at: str,
    source_name: str,
    lang: str = "en",
    dose_band_edges_g: Sequence[float] | None = None,  # None: DEFAULT_DOSE_BAND_EDGES_G
    follow_up: dict | None = None,
) -> dict[str, bytes]:
    """``{file name: bytes}`` for the summary in ``formats`` plus ``cohort-cases.csv``.

    With ``deidentify`` nothing that names a patient reaches any output: names and notes are
    dropped, ids become sequence numbers (input order of the analysed rows), input values
    quoted in problem messages are removed and the input file's name is withheld.
    """
    frame = table.valid_frame
    if deidentify:  # a file is often named after its patient ("MRN-1234.json")
        source_name = WITHHELD_SOURCE
    excluded = _excluded_rows(table, deidentify)
    warnings = [_problem_dict(p, deidentify) for p in table.warnings]
    if deidentify:
        frame = _deidentify(frame)
    assessed = assess_frame(frame, rules)
    edges = DEFAULT_DOSE_BAND_EDGES_G if dose_band_edges_g is None else dose_band_edges_g
    stats = summarise_cohort(assessed, rules, dose_band_edges_g=edges)
    seed_rows = _seed_patients(assessed)
    threshold_g = rules.threshold(HIGH_DOSE_RULE)
    if seed_rows and is_seed_threshold(threshold_g):  # say it once, with the count
        stats["cautions"] = [
            c for c in stats["cautions"] if "circular" not in c and "循環" not in c
        ] + [
            i18n._(
                "The > {grams} g threshold is the seed case series' hypothesis, not a "
                "validated cut-off; this cohort includes {n} of Iio's nine patients (matched "
                "on cumulative dose and YAM), from whom it was proposed: testing it on them "
                "is circular."
            ).format(grams=fmt.number(threshold_g), n=seed_rows)
        ]
    quality, row_quality = _quality(
        records_from_frame(assessed[[c for c in _QUALITY_INPUTS if c in assessed.columns]]), rules
    )
    summary = {
        "schema_version": "1",
        "kind": "cohort",
        "source": {
            "file": source_name,
            "rows_read": int(len(table.frame)),
            "rows_analysed": int(len(frame)),
            "rows_excluded": len(excluded),
        },
        "rules_name": rules.name,
        "rules_version": rules.version,
        "criteria": rules.criteria,
        "deidentified": deidentify,
        **stats,
        "yam_below_threshold": _yam_below(assessed, rules.yam_normal_min_pct),
        "seed_patients_included": seed_rows,
        "abnormal_labs": _abnormal_labs(frame, settings.lab_intervals),
        "missing_by_column": _missing_by_column(frame),
        "excluded": excluded,
        "input_warnings": warnings,
        "data_quality": quality,
        "tool_version": __version__,
        "generated_at": generated_at,
        **({"follow_up": follow_up} if follow_up is not None else {}),  # --scans (issue 12)
    }
    json_bytes = dump_json(summary)
    outputs: dict[str, bytes] = {"cohort-cases.csv": _cases_csv(assessed, rules, row_quality)}
    if "json" in formats:
        outputs["cohort-summary.json"] = json_bytes
    if {"html", "pdf"} & set(formats):
        from reportgen.cohort_context import cohort_context
        from reportgen.report_charts import draw_cohort_charts
        from reportgen.reports import ReportRenderer

        renderer = ReportRenderer(template_dir, lang, organisation=settings.organisation)
        charts = draw_cohort_charts(_chart_data(assessed, stats), rules, follow_up)
        report = cohort_context(
            summary,
            records_from_frame(assessed.head(max(0, max_listing))),
            rules,
            renderer.settings,
            generated_at=generated_at,
            tool_version=__version__,
            source=source_name,
            max_listing=max_listing,
            listing_total=len(assessed),
            integer_columns=_integer_columns(assessed),
            charts=charts,
        )
        if "pdf" in formats:
            html, pdf = renderer.document(
                "cohort.html",
                report,
                json_bytes=json_bytes,
                generated_at=generated_at,
                identifier=f"cohort:{source_name}:{generated_at}",
            )
            outputs["cohort-summary.pdf"] = pdf
        else:
            html = renderer.engine.html("cohort.html", report)
        if "html" in formats:
            outputs["cohort-summary.html"] = html.encode("utf-8")
    return outputs


def _deidentify(frame: pd.DataFrame) -> pd.DataFrame:
    """No names, no notes, no physician or treatment text, ids replaced by sequence numbers
    (input order), fracture sites as the codes read from them ("Suzuki-hip-left", free text,
    was kept as written)."""
    dropped = (*IDENTIFYING_COLUMNS, "physician", "treatment")
    frame = frame.drop(columns=[c for c in dropped if c in frame.columns])
    frame.insert(0, "patient_id", [str(i) for i in range(1, len(frame) + 1)])
    if "fracture_sites" in frame.columns:
        frame["fracture_sites"] = frame["fracture_sites"].map(_site_codes, na_action="ignore")
    return frame.drop(columns=[c for c in ("_row",) if c in frame.columns])


def _site_codes(text: object) -> str:
    """``T12; proximal_femur``: each site's vertebrae, or its JOS kind, never its words."""
    sites = read_fractures(True, text).sites
    return "; ".join(
        "–".join(dict.fromkeys((s.vertebrae[0], s.vertebrae[-1]))) if s.vertebrae else s.kind
        for s in sites
    )


def _problem_dict(problem: Problem, deidentify: bool) -> dict:
    message = problem.redacted().message if deidentify else problem.message
    return {"row": problem.row, "column": problem.column, "message": message}


def _excluded_rows(table: PreparedTable, deidentify: bool) -> list[dict]:
    """One entry per input row left out of the analysis, with every reason found for it.

    File-level problems (row 0 or the header row) are listed as their own entries.
    """
    ids: dict[int, str] = {}
    if not deidentify and "patient_id" in table.frame.columns:
        for row, pid in zip(
            table.frame["_row"].tolist(), table.frame["patient_id"].tolist(), strict=True
        ):
            if isinstance(pid, str) and pid:
                ids[int(row)] = pid
    grouped: dict[int, list[dict]] = {}
    for problem in table.errors:
        reason = _problem_dict(problem, deidentify)
        grouped.setdefault(problem.row, []).append(
            {"column": reason["column"], "message": reason["message"]}
        )
    out = []
    for row, reasons in sorted(grouped.items()):
        entry: dict[str, object] = {"row": row}
        if not deidentify:
            entry["patient_id"] = ids.get(row)
        entry["reasons"] = reasons
        out.append(entry)
    return out


def _yam_below(assessed: pd.DataFrame, threshold: float) -> dict:
    """Patients with YAM below the normal threshold, of those with a YAM value."""
    yam = (
        pd.to_numeric(assessed["yam_percent"], errors="coerce").astype("float64")
        if "yam_percent" in assessed.columns
        else pd.Series(dtype="float64")
    )
    known = int(yam.notna().sum())
    count = int((yam < threshold).sum())
    return {
        "threshold_pct": float(threshold),
        "count": count,
        "denominator": known,
        "percent": 100.0 * count / known if known else None,
    }


def _abnormal_labs(frame: pd.DataFrame, intervals: Mapping[str, Interval]) -> dict[str, dict]:
    """Per lab test: patients with a value, and with their latest value outside the interval."""
    from reportgen.labs import LAB_COLUMNS, lab_results

    columns = [c for c in (*LAB_COLUMNS, "_lab_draws", "patient_id") if c in frame.columns]
    if not set(columns) - {"patient_id"}:
        return {}
    out: dict[str, dict] = {}
    for record in records_from_frame(frame[columns]):
        latest = {lab.test: lab for lab in lab_results(record, intervals)}
        for test, lab in latest.items():
            entry = out.setdefault(test, {"with_value": 0, "abnormal": 0})
            entry["with_value"] += 1
            entry["abnormal"] += lab.flag != "normal"
    for entry in out.values():
        entry["percent"] = 100.0 * entry["abnormal"] / entry["with_value"]
    return out


def _seed_patients(assessed: pd.DataFrame) -> int:
    """How many rows are patients of the seed's Table 1 (same cumulative dose and YAM)."""
    from reportgen.context import reference_cohort

    if not {"mgso4_total_g", "yam_percent"} <= set(assessed.columns):
        return 0
    seed = {(round(d, 1), round(y, 1)) for d, y, _ in reference_cohort()}
    pairs = zip(
        pd.to_numeric(assessed["mgso4_total_g"], errors="coerce").astype(float).round(1),
        pd.to_numeric(assessed["yam_percent"], errors="coerce").astype(float).round(1),
        strict=True,
    )
    return sum(1 for pair in pairs if pair in seed)


def _missing_by_column(frame: pd.DataFrame) -> dict[str, int]:
    """Missing values per input column of the analysed rows (identifying columns left out)."""
    columns = [c for c in frame.columns if c not in _INTERNAL and c not in ("name", "notes")]
    out = {c: int(frame[c].isna().sum()) for c in columns}
    if "fracture_sites" in out:  # a site is missing only where there is a fracture
        fracture = frame["fracture"].fillna(False).astype(bool) if "fracture" in frame else False
        out["fracture_sites"] = int((frame["fracture_sites"].isna() & fracture).sum())
    return out


def _integer_columns(assessed: pd.DataFrame) -> set[str]:
    """Numeric columns whose known values are all whole numbers (ranges print without .0)."""
    out = set()
    for column in assessed.columns:
        if (
            column.startswith(("_", "flag_"))
            or not pd.api.types.is_numeric_dtype(assessed[column])
            or pd.api.types.is_bool_dtype(assessed[column])
        ):
            continue
        values = pd.to_numeric(assessed[column], errors="coerce").astype("float64").dropna()
        if len(values) and bool(np.all(np.mod(values.to_numpy(), 1) == 0)):
            out.add(column)
    return out


def _quality(records: list[dict], rules: RuleSet) -> tuple[list[dict], list[str]]:
    """Data-quality flags (the patient report's, clinical-rules §3) counted over the cohort,
    plus each row's flag ids for the CSV."""
    found: dict[str, dict] = {}
    per_row = []
    for record in records:
        flags = quality_flags(record, rules)
        per_row.append(";".join(f.flag_id for f in flags))
        for flag in flags:
            entry = found.setdefault(
                flag.flag_id,
                {
                    "id": flag.flag_id,
                    "severity": flag.severity,
                    "count": 0,
                    "example": flag.message,
                    "patient_ids": [],
                },
            )
            entry["count"] += 1
            if len(entry["patient_ids"]) < _MAX_QUALITY_IDS:
                entry["patient_ids"].append(str(record.get("patient_id")))
    timing = found.get("dxa_days_postpartum")
    if timing is not None:
        days = [_days_between(r.get("delivery_date"), r.get("dxa_date")) for r in records]
        known = np.array([d for d in days if d is not None and d >= 0], dtype=float)
        if known.size:
            timing["days"] = {
                "median": float(np.median(known)),
                "min": float(known.min()),
                "max": float(known.max()),
            }
    order = {"warning": 0, "info": 1}
    quality = sorted(found.values(), key=lambda e: (order.get(e["severity"], 0), e["id"]))
    return quality, per_row


def _days_between(start: object, end: object) -> int | None:
    if not isinstance(start, date) or not isinstance(end, date):
        return None
    start = start.date() if isinstance(start, datetime) else start
    end = end.date() if isinstance(end, datetime) else end
    return (end - start).days


def _cases_csv(assessed: pd.DataFrame, rules: RuleSet, row_quality: list[str]) -> bytes:
    columns = [c for c in CSV_COLUMNS if c in assessed.columns]
    out = assessed[columns].copy()
    flag_columns = [f"flag_{r.rule_id}" for r in rules.risk_rules]
    present = assessed[flag_columns].eq("present").to_numpy()
    names = [r.rule_id for r in rules.risk_rules]
    out["risk_flags"] = [
        ";".join(n for n, f in zip(names, row, strict=True) if f) for row in present
    ]
    out["data_quality_flags"] = row_quality
    # As entered: 20 not 20.0, yes/no as the input contract writes booleans.
    for column in _integer_columns(out):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("Int64")
    if "fracture" in out.columns:
        words = {value: fmt.yes_no(value, "en") for value in (True, False)}
        out["fracture"] = out["fracture"].map(words, na_action="ignore")
    for column in out.columns:  # every text cell, whatever the column (ids, sites, labels)
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(_defuse_formula, na_action="ignore")
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")


def _defuse_formula(value: object) -> object:
    """Text a spreadsheet could run as a formula gets an apostrophe (OWASP advice): at the
    start, and after any separator or line break inside it; control characters become spaces
    (ids cannot hold them at all, row_rules.id_text_problems)."""
    if not isinstance(value, str):
        return value
    text = _CONTROL.sub(" ", _CELL_START.sub(r"\1'", value))
    if text.lstrip(" \"'\u00a0").startswith(_FORMULA_START) or value.startswith(_FORMULA_START):
        text = "'" + text
    return text


def _chart_data(assessed: pd.DataFrame, stats: dict) -> dict:
    def floats(column: str) -> list[float]:
        if column not in assessed:
            return [float("nan")] * len(assessed)
        return pd.to_numeric(assessed[column], errors="coerce").astype("float64").tolist()

    return {
        "dose": floats("mgso4_total_g"),
        "yam": floats("yam_percent"),
        "days": floats("mgso4_days"),
        "fracture": assessed["fracture"].fillna(False).astype(bool).tolist(),
        "counts": stats["classification_counts"],
    }

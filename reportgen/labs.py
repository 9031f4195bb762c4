"""Laboratory values: units, reference intervals, flags and albumin-corrected calcium.

contract.md §5 (v2). Values come from the main row (``serum_ca_mg_dl`` …, the latest value) or
from a long-format ``--labs`` file (``patient_id, date, test, value, unit``: a series). A unit
other than the listed one is an error: nothing is converted silently. Reference intervals are
the shipped defaults below (each with its source) or ``[labs.<test>] low, high`` in
``--settings``. Calcium is also given albumin-corrected (Payne: Ca + 0.8 × (4 − albumin) when
albumin < 4 g/dL) and flagged on the corrected value.
"""

from __future__ import annotations

import math
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from reportgen import formatting as fmt
from reportgen.errors import ReportError
from reportgen.exposure import stored_infusions
from reportgen.i18n import N_


@dataclass(frozen=True)
class LabTest:
    """One test: its unit, the main-row column, a plausible range and a pregnancy note."""

    test: str
    label: str
    unit: str
    column: str
    low: float | None  # default reference interval
    high: float | None
    source: str
    plausible: tuple[float, float]  # outside: a unit slip or a typo (an input error)
    note: str = ""  # where pregnancy or the postpartum state shifts the interval


_JSCC = "JSCC/JCCLS common reference intervals (2014, adults)"
LAB_TESTS: dict[str, LabTest] = {
    t.test: t
    for t in (
        LabTest(
            "serum_ca",
            N_("Serum calcium"),
            "mg/dL",
            "serum_ca_mg_dl",
            8.8,
            10.1,
            _JSCC,
            (2, 20),
            N_("total calcium falls with albumin in pregnancy: read the corrected value"),
        ),
        LabTest(
            "albumin",
            N_("Albumin"),
            "g/dL",
            "albumin_g_dl",
            4.1,
            5.1,
            _JSCC,
            (1, 7),
            N_("albumin is physiologically lower in pregnancy and early postpartum"),
        ),
        LabTest(
            "serum_mg",
            N_("Serum magnesium"),
            "mg/dL",
            "serum_mg_mg_dl",
            1.8,
            2.4,
            "usual adult interval (not in the JSCC common set)",
            (0.5, 15),
            N_(
                "during MgSO4 infusion a high value is the intended therapeutic level; check for "
                "toxicity signs instead"
            ),
        ),
        LabTest(
            "serum_p", N_("Serum phosphate"), "mg/dL", "serum_p_mg_dl", 2.7, 4.6, _JSCC, (0.5, 15)
        ),
        LabTest(
            "alp",
            N_("Alkaline phosphatase"),
            "U/L",
            "alp_u_l",
            38,
            113,
            _JSCC + ", IFCC method",
            (5, 3000),
            N_("placental ALP raises total ALP in the third trimester and early postpartum"),
        ),
        LabTest(
            "intact_pth",
            N_("Intact PTH"),
            "pg/mL",
            "intact_pth_pg_ml",
            10,
            65,
            "usual intact-PTH assay interval",
            (1, 2000),
            N_("lactation raises PTHrP, not PTH; a high PTH needs a work-up"),
        ),
        LabTest(
            "vitamin_d",
            N_("25(OH)D"),
            "ng/mL",
            "vitamin_d_ng_ml",
            30,
            100,
            "Japan Endocrine Society 2017: < 20 deficient, 20-29 insufficient, >= 30 sufficient",
            (1, 200),
        ),
        LabTest(
            "urine_ca_cr",
            N_("Urine Ca/Cr"),
            "mg/mg",
            "urine_ca_cr_mg_mg",
            None,
            0.2,
            "spot urine Ca/creatinine > 0.2 mg/mg: hypercalciuria",
            (0, 3),
            N_("MgSO4 increases urinary calcium excretion"),
        ),
        LabTest(
            "tracp5b",
            N_("TRACP-5b"),
            "mU/dL",
            "tracp5b_mu_dl",
            120,
            420,
            "assay reference interval, premenopausal women",
            (10, 3000),
            N_("bone resorption rises with lactation"),
        ),
        LabTest(
            "p1np",
            N_("Total P1NP"),
            "µg/L",
            "p1np_ug_l",
            16.8,
            70.1,
            "assay reference interval, premenopausal women",
            (1, 2000),
            N_("bone formation markers rise postpartum"),
        ),
    )
}
LAB_COLUMNS = {t.column: t for t in LAB_TESTS.values()}
_UNIT_SPELLINGS = {
    "ug/l": "µg/L",
    "mcg/l": "µg/L",
    "μg/l": "µg/L",
    "mg/mgcr": "mg/mg",
    "mg/mg cr": "mg/mg",
    "mg/mg creatinine": "mg/mg",
    "iu/l": "U/L",
}
CORRECTED_CA_ALBUMIN_BELOW = 4.0  # Payne: corrected only when albumin < 4 g/dL


def normalise_unit(text: str) -> str:
    """``MG/DL`` -> ``mg/dL``; ``ug/L`` -> ``µg/L`` (spelling only: never a conversion)."""
    key = unicodedata.normalize("NFKC", str(text)).strip().lower().replace(" ", "")
    key = key.replace("μ", "µ")
    if key in _UNIT_SPELLINGS:
        return _UNIT_SPELLINGS[key]
    for test in LAB_TESTS.values():
        if key == test.unit.lower().replace(" ", ""):
            return test.unit
    return str(text).strip()


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None
    source: str


# During MgSO4 infusion a raised serum Mg is intended: up to the top of the therapeutic range,
# 7 mEq/L = 8.4 mg/dL (MgSO4 therapy in obstetrics), it is not "high" and needs no correcting;
# above it is (toxicity). The lower limit stays the interval in force.
THERAPEUTIC_MG_HIGH = 8.4


def default_intervals() -> dict[str, Interval]:
    return {t.test: Interval(t.low, t.high, t.source) for t in LAB_TESTS.values()}


def load_intervals(settings_path: Path | str | None) -> dict[str, Interval]:
    """The shipped intervals, overridden by ``[labs.<test>] low, high`` in the settings."""
    intervals = default_intervals()
    if settings_path is None:
        return intervals
    path = Path(settings_path)
    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReportError(f"{path}: cannot read settings ({exc})") from None
    section = document.get("labs", {})
    if not isinstance(section, dict):
        raise ReportError(f"{path}: [labs] must be a table of [labs.<test>] tables")
    for test, values in section.items():
        if test not in LAB_TESTS:
            raise ReportError(
                f"{path}: unknown lab test [labs.{test}] (known: {', '.join(LAB_TESTS)})"
            )
        if not isinstance(values, dict) or set(values) - {"low", "high", "source"}:
            raise ReportError(f"{path}: [labs.{test}] takes low, high and source")
        low, high = values.get("low", intervals[test].low), values.get("high", intervals[test].high)
        for name, value in (("low", low), ("high", high)):
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ReportError(f"{path}: labs.{test}.{name} must be a number")
            plausible = LAB_TESTS[test].plausible  # an interval outside what can be measured
            if value is not None and not plausible[0] <= value <= plausible[1]:
                raise ReportError(
                    f"{path}: labs.{test}.{name} {value:g} is outside the plausible "
                    f"{plausible[0]:g}–{plausible[1]:g} {LAB_TESTS[test].unit}"
                )
        source = values.get("source", f"local ({path.name})")
        if not isinstance(source, str) or not source.strip():
            raise ReportError(f"{path}: labs.{test}.source must be text")
        if low is not None and high is not None and low >= high:
            raise ReportError(f"{path}: labs.{test}: low ({low:g}) must be below high ({high:g})")
        intervals[test] = Interval(low, high, source)
    return intervals


@dataclass(frozen=True)
class LabResult:
    test: str
    date: str | None  # ISO date of the draw; None for a main-row value (the latest)
    value: float
    unit: str
    low: float | None
    high: float | None
    flag: str  # "low" | "high" | "normal" (on the corrected value for calcium)
    corrected_value: float | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "test": self.test,
            "date": self.date,
            "value": self.value,
            "unit": self.unit,
            "low": self.low,
            "high": self.high,
            "flag": self.flag,
        }
        if self.corrected_value is not None:
            out["corrected_value"] = self.corrected_value
        return out


def flag(value: float, low: float | None, high: float | None) -> str:
    """Outside the interval is low or high; the limits themselves are normal."""
    if low is not None and value < low:
        return "low"
    if high is not None and value > high:
        return "high"
    return "normal"


def corrected_calcium(calcium: float, albumin: float | None) -> float | None:
    """Payne: Ca + 0.8 × (4 − albumin), only when albumin < 4 g/dL; else None."""
    if albumin is None or albumin >= CORRECTED_CA_ALBUMIN_BELOW:
        return None
    return round(calcium + 0.8 * (CORRECTED_CA_ALBUMIN_BELOW - albumin), 2)


def lab_results(
    record: Mapping[str, object], intervals: Mapping[str, Interval] | None = None
) -> list[LabResult]:
    """Every lab value of a record: the ``--labs`` series (``_lab_draws``) by date, then the
    main-row values; calcium corrected with the albumin of the same draw; serum Mg drawn while
    MgSO4 was infusing read against the therapeutic range."""
    intervals = intervals or default_intervals()
    infusing_on = _infusion_days(record)
    stored = cast("Iterable[Mapping[str, object]]", record.get("_lab_draws") or ())
    draws: list[dict[str, Any]] = [dict(d) for d in stored]
    for test in LAB_TESTS.values():
        value = record.get(test.column)
        if value is not None:
            draws.append(
                {
                    "test": test.test,
                    "date": None,
                    "value": float(cast("float", value)),
                    "unit": test.unit,
                }
            )
    albumin = {d["date"]: d["value"] for d in draws if d["test"] == "albumin"}
    out = []
    for draw in sorted(draws, key=lambda d: (d["date"] is None, d["date"] or "", d["test"])):
        test, value = draw["test"], float(draw["value"])
        interval = intervals[test]
        if test == "serum_mg" and (draw["date"] or "latest") in infusing_on:
            interval = Interval(
                interval.low,
                THERAPEUTIC_MG_HIGH,
                "upper limit of the therapeutic range during MgSO4 infusion",
            )
        corrected = (
            corrected_calcium(value, albumin.get(draw["date"])) if test == "serum_ca" else None
        )
        shown = value if corrected is None else corrected
        out.append(
            LabResult(
                test,
                draw["date"],
                value,
                LAB_TESTS[test].unit,
                interval.low,
                interval.high,
                flag(shown, interval.low, interval.high),
                corrected,
            )
        )
    return out


def interval_text(low: float | None, high: float | None, sep: str = "–") -> str:
    """``8.8–10.1``, ``≤ 0.2`` or ``≥ 30``: a reference interval as reports print it."""
    if low is None:
        return f"≤ {fmt.number(high)}"
    if high is None:
        return f"≥ {fmt.number(low)}"
    return f"{fmt.number(low)}{sep}{fmt.number(high)}"


def _infusion_days(record: Mapping[str, object]) -> set[str]:
    """ISO days with MgSO4 running (and "latest" when still infusing at ``--as-of``)."""
    days: set[str] = set()
    as_of = record.get("_as_of")
    for first, end, _rate in stored_infusions(record):
        last = end or (datetime.fromisoformat(str(as_of)) if as_of else first)
        day = first.date()
        while day <= last.date():
            days.add(day.isoformat())
            day += timedelta(days=1)
        if end is None and as_of:
            days.add("latest")
    return days


def iso_day(value: object) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return None


def load_lab_draws(
    path: Path | str,
    known_ids: set[str],
) -> tuple[dict[str, list[dict]], list, set[str]]:
    """A long-format lab file: ``{patient_id: [draw, …]}``, every located problem, and the
    ids of the patients with a bad row (they get no report: nothing partial or wrong).

    Each draw is ``{"test", "date" (ISO), "value", "unit"}``. Unknown patients, unknown
    tests, other units, bad numbers or dates, implausible values and a test drawn twice on one
    date are errors located at the lab file's row and column.
    """
    from reportgen.cells import dot_thousands_ambiguous, kind_message, parse_cell
    from reportgen.columns import Column  # (columns.py imports this module)
    from reportgen.errors import Problem
    from reportgen.loaders import load_table

    lab_date, lab_value = Column("date", "date"), Column("value", "number")

    raw = load_table(path, numeric={"value": None})  # a ";" file's 1,5 is 1.5
    today = date.today()
    source, frame = raw.source, raw.frame
    problems = list(raw.problems)
    missing = [c for c in ("patient_id", "date", "test", "value", "unit") if c not in frame]
    if missing:
        return (
            {},
            problems + [Problem(source, 1, c, "required column missing") for c in missing],
            set(known_ids),
        )
    draws: dict[str, list[dict]] = {}
    bad_ids: set[str] = set()
    seen: dict[tuple[str, str, str], int] = {}
    for index, row in frame.iterrows():
        line = int(raw.rows.iloc[index])
        where = len(problems)
        pid, test_name = _cell(row["patient_id"]), _cell(row["test"]).lower()
        if not pid:
            problems.append(Problem(source, line, "patient_id", "required value missing"))
        elif pid not in known_ids:
            problems.append(
                Problem(
                    source,
                    line,
                    "patient_id",
                    f"no patient with this id in the main input: {pid[:40]!r}",
                )
            )
        test = LAB_TESTS.get(test_name)
        if test is None:
            problems.append(
                Problem(
                    source,
                    line,
                    "test",
                    f"unknown test {test_name[:40]!r} (use {', '.join(LAB_TESTS)})",
                )
            )
        # The main input's readings: whole dates to today, numbers with the same separators.
        day = parse_cell(lab_date, _cell(row["date"]), today).value
        if day is None:
            problems.append(Problem(source, line, "date", kind_message(lab_date)))
        text = _cell(row["value"])
        value = cast("float | None", parse_cell(lab_value, text, today).value)
        if value is None:
            problems.append(Problem(source, line, "value", "not a number"))
        elif (
            raw.delimiter == ";"
            and test is not None
            and dot_thousands_ambiguous(text, *test.plausible)
        ):
            value = None
            problems.append(
                Problem(
                    source, line, "value", f"ambiguous number in a ';'-separated file: {text!r}"
                )
            )
        unit = normalise_unit(_cell(row["unit"]))
        if test is not None and unit != test.unit:
            problems.append(
                Problem(
                    source,
                    line,
                    "unit",
                    f"{test.test} is recorded in "
                    f"{test.unit}, not {unit[:20]!r} (no conversion is made)",
                )
            )
        if (
            test is not None
            and value is not None
            and not (test.plausible[0] <= value <= test.plausible[1])
        ):
            problems.append(
                Problem(
                    source,
                    line,
                    "value",
                    f"outside the plausible range "
                    f"{test.plausible[0]:g}–{test.plausible[1]:g} {test.unit}",
                )
            )
        if len(problems) > where:
            bad_ids.add(pid)
            continue
        assert test is not None  # an unknown test is a problem above
        iso = cast(datetime, day).date().isoformat()
        if (pid, test.test, iso) in seen:
            problems.append(
                Problem(
                    source,
                    line,
                    "test",
                    f"{test.test} on {iso} already given in row {seen[(pid, test.test, iso)]}",
                )
            )
            bad_ids.add(pid)
            continue
        seen[(pid, test.test, iso)] = line
        draws.setdefault(pid, []).append(
            {"test": test.test, "date": iso, "value": value, "unit": test.unit}
        )
    return draws, problems, bad_ids & known_ids


def _cell(value: object) -> str:
    return (
        ""
        if value is None or (isinstance(value, float) and math.isnan(value))
        else str(value).strip()
    )

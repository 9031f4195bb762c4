"""Load and validate DXA scans (``--scans FILE`` or a patient JSON's ``scans`` list).

One row per scan date and site (contract §4). Problems are located like the main input's
(``INPUT:ROW:COLUMN: message``); a patient with an invalid scan row gets no report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen.cells import normalise_header
from reportgen.columns import Column
from reportgen.errors import Problem
from reportgen.i18n import _
from reportgen.models import optional_float

if TYPE_CHECKING:  # the checks run on frames; a report of known scans needs no pandas
    import pandas as pd
from reportgen.sites import (
    SiteError,
    parse_site,
    parse_vertebrae,
    site_label,
    site_order,
    site_region,
    site_vertebrae,
)

SCAN_COLUMNS: dict[str, Column] = {
    c.name: c
    for c in [
        Column("patient_id", "text", required=True),
        Column("scan_date", "date", required=True),
        Column("site", "text", required=True),
        Column("bmd_g_cm2", "number", 0.2, 2.0, required=True),
        Column("yam_percent", "number", 20, 150),
        Column("age_matched_percent", "number", 20, 200),
        Column("t_score", "number", -8, 6),
        Column("z_score", "number", -8, 6),
        Column("device", "text"),
        Column("excluded_vertebrae", "text"),
    ]
}
_REQUIRED = tuple(c.name for c in SCAN_COLUMNS.values() if c.required)
_RANGES: dict[str, tuple[float, float] | None] = {
    c.name: (float(c.low), float(c.high))
    for c in SCAN_COLUMNS.values()
    if c.low is not None and c.high is not None
}
# Vendor and Japanese result-sheet headings (domain-notes §5), on top of the main aliases.
SCAN_ALIASES = {
    "date": "scan_date",
    "dxa_date": "scan_date",
    "region": "site",
    "dxa_site": "site",
    "roi": "site",
    "bmd": "bmd_g_cm2",
    "bmd_(g/cm2)": "bmd_g_cm2",
    "bmd_(g/cm²)": "bmd_g_cm2",
    "%yam": "yam_percent",
    "若年成人比較%": "yam_percent",
    "若年成人比較(%)": "yam_percent",
    "age_matched_%": "age_matched_percent",
    "age_matched": "age_matched_percent",
    "am_(%)": "age_matched_percent",
    "同年齢比較%": "age_matched_percent",
    "同年齢比較(%)": "age_matched_percent",
    "t": "t_score",
    "z": "z_score",
    "model": "device",
    "scanner": "device",
    "excluded": "excluded_vertebrae",
}
# A scan a year at four sites for fifty years; more is a wrong patient_id column, not a
# follow-up (9,000 scans of one patient took a minute to render).
MAX_SCANS_PER_PATIENT = 200
# Dual-energy X-ray absorptiometry came into clinical use with the Hologic QDR-1000 (1987).
FIRST_DXA_YEAR = 1987


@dataclass(frozen=True)
class Scan:
    """One site measured at one visit, as the device reports it."""

    scan_date: date
    site: str  # canonical (reportgen.sites): "L1-L4", "L2-L4", "femoral_neck", ...
    bmd_g_cm2: float
    yam_percent: float | None = None
    age_matched_percent: float | None = None
    t_score: float | None = None
    z_score: float | None = None
    device: str | None = None
    excluded_vertebrae: tuple[str, ...] = ()
    row: int = 0

    @property
    def region(self) -> str:
        return site_region(self.site)

    @property
    def label(self) -> str:
        """``L1–L4 (L2 excluded)``, ``Total hip``."""
        if not self.excluded_vertebrae:
            return site_label(self.site)
        return _("{site} ({vertebrae} excluded)").format(
            site=site_label(self.site), vertebrae=", ".join(self.excluded_vertebrae)
        )

    @property
    def vertebrae_text(self) -> str:
        """The region actually measured, for the rules: ``L1, L3, L4`` when L2 is excluded
        (a fracture at an excluded vertebra is not inside the region), else the label."""
        if not self.excluded_vertebrae:
            return site_label(self.site)
        return ", ".join(v for v in site_vertebrae(self.site) if v not in self.excluded_vertebrae)

    def as_dict(self) -> dict[str, object]:
        return {
            "scan_date": self.scan_date.isoformat(),
            "site": self.site,
            "bmd_g_cm2": self.bmd_g_cm2,
            "yam_percent": self.yam_percent,
            "age_matched_percent": self.age_matched_percent,
            "t_score": self.t_score,
            "z_score": self.z_score,
            "device": self.device,
            "excluded_vertebrae": list(self.excluded_vertebrae),
        }


@dataclass(frozen=True)
class PatientDates:
    """What a patient's scans are checked against: age at delivery and a dated event."""

    age_years: float | None
    reference_date: date | None  # delivery (else the main input's DXA) date


@dataclass
class ScanSet:
    """Valid scans by patient id, every problem found, and the ids they make invalid."""

    source: str
    by_patient: dict[str, list[Scan]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    bad_ids: set[str] = field(default_factory=set)
    all_bad: bool = False  # a header problem: no patient's scans can be trusted

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def merge(self, other: ScanSet) -> ScanSet:
        """Both sets (a patient JSON's own scans and a --scans file); duplicates are errors."""
        merged = ScanSet(
            self.source,
            {k: list(v) for k, v in self.by_patient.items()},
            self.problems + other.problems,
            self.bad_ids | other.bad_ids,
            self.all_bad or other.all_bad,
        )
        for pid, scans in other.by_patient.items():
            seen = {(s.scan_date, s.site): s for s in merged.by_patient.get(pid, [])}
            for scan in scans:
                first = seen.get((scan.scan_date, scan.site))
                if first is not None:
                    merged.problems.append(
                        Problem(
                            other.source,
                            scan.row,
                            "site",
                            f"duplicate scan: {scan.label} on {scan.scan_date.isoformat()} is also "
                            f"in {self.source} (row {first.row})",
                        )
                    )
                    merged.bad_ids.add(pid)
                    continue
                merged.by_patient.setdefault(pid, []).append(scan)
        return merged


def patient_dates(records: Iterable[Mapping[str, object]]) -> dict[str, PatientDates]:
    """Age and reference date of every patient id among the main input's records (valid or
    not; the first row of an id counts)."""
    out: dict[str, PatientDates] = {}
    for record in records:
        pid = record.get("patient_id")
        if pid is None or str(pid) in out:
            continue
        reference = record.get("delivery_date") or record.get("dxa_date")
        out[str(pid)] = PatientDates(optional_float(record.get("age_years")), _as_date(reference))
    return out


def load_scans(
    path: Path | str,
    patients: Mapping[str, PatientDates],
    *,
    sheet: str | None = None,
    today: date | None = None,
) -> ScanSet:
    """Read and check a scans file (CSV, XLSX or JSON) against the main input's patients."""
    from reportgen.loaders import decimal_commas, load_table

    raw = load_table(path, sheet=sheet, numeric={})
    raw.frame = raw.frame.rename(columns=_canonical)
    decimal_commas(raw, _RANGES)
    source, frame = raw.source, raw.frame
    problems = list(raw.problems)
    problems += [
        Problem(source, 1, name, "unknown column, ignored", "warning")
        for name in frame.columns
        if name not in SCAN_COLUMNS
    ]
    missing = [
        Problem(source, 1, name, "required column missing")
        for name in _REQUIRED
        if name not in frame.columns
    ]
    if raw.kind == "json":  # no header row: each object reports its own missing values
        missing = []
        for name in _REQUIRED:
            if name not in frame.columns:
                frame[name] = ""
    header_errors = missing or [
        p for p in problems if p.row == 1 and p.severity == "error" and raw.kind == "table"
    ]
    result = check_scans(frame, raw.rows, source, patients, today=today)
    result.problems = sorted(
        problems + missing + result.problems, key=lambda p: (p.row, p.severity != "error", p.column)
    )
    result.all_bad = bool(header_errors)
    return result


def embedded_scans(
    source: str,
    lists: Mapping[int, object],
    positions: Mapping[int, int],
    ids: Mapping[int, str],
    patients: Mapping[str, PatientDates],
    *,
    today: date | None = None,
) -> ScanSet:
    """The ``scans`` lists of a patient JSON, keyed by frame index (``positions``: the
    patient's list position; ``ids``: her patient_id)."""
    items: list[dict[str, str]] = []
    where: list[tuple[int, str]] = []
    problems: list[Problem] = []
    for index, value in lists.items():
        position = int(positions[index])
        pid = ids.get(index)
        if not isinstance(value, list):
            problems.append(Problem(source, position, "scans", "must be a list of scans"))
            continue
        for number, item in enumerate(value, start=1):
            prefix = f"scans[{number}]"
            if not isinstance(item, dict):
                problems.append(
                    Problem(
                        source,
                        position,
                        prefix,
                        "expected a scan object (scan_date, site, bmd_g_cm2)",
                    )
                )
                continue
            cells = {_canonical(k): "" if v is None else str(v) for k, v in item.items()}
            if cells.setdefault("patient_id", pid or "") != (pid or ""):
                problems.append(
                    Problem(
                        source,
                        position,
                        f"{prefix}.patient_id",
                        "differs from the patient's own patient_id",
                    )
                )
                continue
            items.append(cells)
            where.append((position, prefix))
    import pandas as pd

    frame = pd.DataFrame(items, index=pd.RangeIndex(len(items)), dtype=object)
    for name in _REQUIRED:
        if name not in frame.columns:
            frame[name] = ""
    frame = frame.fillna("").astype(str)
    result = check_scans(
        frame,
        pd.Series(range(len(items)), dtype="int64"),
        source,
        patients,
        today=today,
        row_name=lambda i: f"row {where[i][0]} {where[i][1]}",
    )
    for scans in result.by_patient.values():
        for i, scan in enumerate(scans):
            scans[i] = _replace_row(scan, where[scan.row][0])
    result.problems = problems + [
        Problem(p.input, where[p.row][0], f"{where[p.row][1]}.{p.column}", p.message, p.severity)
        for p in result.problems
    ]
    result.bad_ids |= {
        ids[i]
        for i in lists
        if ids.get(i)
        and any(p.row == int(positions[i]) and p.severity == "error" for p in result.problems)
    }
    return result


def check_scans(
    frame: pd.DataFrame,
    rows: pd.Series,
    source: str,
    patients: Mapping[str, PatientDates],
    *,
    today: date | None = None,
    row_name: Callable[[int], str] = lambda row: f"row {row}",
) -> ScanSet:
    """Coerce and check every scan row; valid rows become :class:`Scan` objects.

    :param row_name: how a message names another row (``row 3``, ``scans[2]``).
    """
    today = today or date.today()
    known = frame[[c for c in frame.columns if c in SCAN_COLUMNS]]
    from reportgen.schema import coerce_frame

    coerced = coerce_frame(known, rows, source, SCAN_COLUMNS)
    result = ScanSet(source, problems=list(coerced.problems))
    typed = coerced.frame
    first_seen: dict[tuple[str, date, str], str] = {}
    by_row: dict[int, list[Problem]] = {}
    for p in coerced.problems:
        by_row.setdefault(p.row, []).append(p)
    for i in range(len(typed)):
        row = int(rows.iloc[i])
        found = by_row.get(row, [])
        values = {name: _cell(typed, typed.index[i], name) for name in SCAN_COLUMNS}
        scan, problems = _check_row(values, row, source, patients, today, first_seen, row_name(row))
        located = {(f.row, f.column) for f in found}  # "not a number" already says it
        problems = [p for p in problems if (p.row, p.column) not in located]
        result.problems += problems
        pid = values["patient_id"]
        if any(p.severity == "error" for p in found + problems):
            if pid is not None and str(pid) in patients:
                result.bad_ids.add(str(pid))
            continue
        assert scan is not None
        kept = result.by_patient.setdefault(str(pid), [])
        if len(kept) >= MAX_SCANS_PER_PATIENT:  # said once, at the first scan too many
            if str(pid) not in result.bad_ids:
                message = f"more than {MAX_SCANS_PER_PATIENT} scans for this patient"
                result.problems.append(Problem(source, row, "patient_id", message))
                result.bad_ids.add(str(pid))
            continue
        kept.append(scan)
    for scans in result.by_patient.values():
        scans.sort(key=lambda s: (s.scan_date, site_order(s.site)))
    return result


def _check_row(
    values: dict[str, object],
    row: int,
    source: str,
    patients: Mapping[str, PatientDates],
    today: date,
    first_seen: dict[tuple[str, date, str], str],
    name: str,
) -> tuple[Scan | None, list[Problem]]:
    def problem(column: str, message: str, severity: str = "error") -> Problem:
        return Problem(source, row, column, message, severity)

    problems = [
        problem(name, "required value missing") for name in _REQUIRED if values[name] is None
    ]
    pid = None if values["patient_id"] is None else str(values["patient_id"])
    if pid is not None and pid not in patients:
        problems.append(problem("patient_id", f"not in the main input: {pid!r}"))
    site: str | None = None
    excluded: tuple[str, ...] = ()
    if values["site"] is not None:
        try:
            site = parse_site(str(values["site"]))
            if values["excluded_vertebrae"] is not None:
                excluded = parse_vertebrae(str(values["excluded_vertebrae"]), site)
        except SiteError as exc:
            column = "site" if site is None else "excluded_vertebrae"
            problems.append(problem(column, f"{exc}: {str(values[column])[:40]!r}"))
    scan_date = _as_date(values["scan_date"])
    if scan_date is not None:
        problems += [
            problem("scan_date", m, s)
            for m, s in _date_problems(scan_date, patients.get(pid or ""), today)
        ]
    if pid is not None and scan_date is not None and site is not None:
        key = (pid, scan_date, site)
        if key in first_seen:
            problems.append(
                problem(
                    "site",
                    f"duplicate scan: {site} on {scan_date.isoformat()} "
                    f"(first in {first_seen[key]})",
                )
            )
        else:
            first_seen[key] = name
    if any(p.severity == "error" for p in problems):
        return None, problems
    assert scan_date is not None
    assert site is not None
    device = values["device"]
    return Scan(
        scan_date,
        site,
        float(values["bmd_g_cm2"]),  # type: ignore[arg-type]  # validated above
        yam_percent=optional_float(values["yam_percent"]),
        age_matched_percent=optional_float(values["age_matched_percent"]),
        t_score=optional_float(values["t_score"]),
        z_score=optional_float(values["z_score"]),
        device=None if device is None else " ".join(str(device).split()),
        excluded_vertebrae=excluded,
        row=row,
    ), problems


def _date_problems(
    scan_date: date, dates: PatientDates | None, today: date
) -> list[tuple[str, str]]:
    if scan_date > today:
        return [(f"{scan_date.isoformat()} is after today ({today.isoformat()})", "error")]
    if scan_date.year < FIRST_DXA_YEAR:
        return [
            (
                f"{scan_date.isoformat()} is before DXA was in clinical use ({FIRST_DXA_YEAR})",
                "error",
            )
        ]
    if dates is None or dates.age_years is None or dates.reference_date is None:
        return []
    # Age is at delivery: she was born in (reference year − age − 1) at the earliest.
    birth_year = dates.reference_date.year - int(dates.age_years) - 1
    if scan_date.year < birth_year:
        return [
            (
                f"{scan_date.isoformat()} is before her birth (born {birth_year} or later, "
                f"from age {dates.age_years:g} on {dates.reference_date.isoformat()})",
                "error",
            )
        ]
    return []


def _canonical(header: object) -> str:
    name = normalise_header(header)
    return SCAN_ALIASES.get(name, name)


def _cell(frame: pd.DataFrame, index: object, name: str) -> object:
    import pandas as pd

    if name not in frame.columns:
        return None
    value = frame.at[index, name]
    return (
        None
        if value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and value != value)
        else value
    )


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):  # a pandas Timestamp too
        try:
            return value.date()
        except (ValueError, OverflowError, NotImplementedError):  # outside Python's dates:
            return None  # the row is invalid anyway
    return value if isinstance(value, date) else None


def _replace_row(scan: Scan, row: int) -> Scan:
    from dataclasses import replace

    return replace(scan, row=row)

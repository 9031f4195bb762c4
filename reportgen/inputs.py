"""Read a run's inputs: the patient table (with its lab file) and the DXA scans, validated."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen.errors import Problem

if TYPE_CHECKING:
    from reportgen.json_input import JsonRows
    from reportgen.record_input import PreparedRecords
    from reportgen.records import PreparedTable
    from reportgen.scans import ScanSet

    Prepared = PreparedTable | PreparedRecords


def load_input(
    path: Path | str,
    *,
    sheet: str | None = None,
    as_of: datetime | None = None,
    labs: Path | str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> PreparedTable:
    """Load and validate a file; every problem is in ``.problems``, nothing is raised for rows.

    ``as_of`` counts infusions up to that moment (a running one needs it); ``labs`` is a
    long-format lab file (``patient_id, date, test, value, unit``)."""
    from reportgen.labs import load_lab_draws
    from reportgen.loaders import load_table
    from reportgen.records import attach_lab_draws, prepare_table

    table = prepare_table(
        load_table(path, sheet=sheet, encoding=encoding, delimiter=delimiter), as_of=as_of
    )
    if labs is not None:
        known = {p for p in table.frame.get("patient_id", []) if isinstance(p, str)}
        table = attach_lab_draws(table, *load_lab_draws(labs, known))
    return table


def load_patient_input(
    path: Path | str,
    *,
    sheet: str | None = None,
    as_of: datetime | None = None,
    labs: Path | str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Prepared:
    """:func:`load_input`, except that a small JSON without a lab file is checked record by
    record (:mod:`reportgen.record_input`: the same records and problems, no pandas)."""
    from reportgen.input_text import input_kind, read_input
    from reportgen.json_input import read_json

    path = Path(path)
    if labs is None and input_kind(path, _head(path)) == "json":
        data = read_input(path)  # the whole file, with the limits and file errors
        return prepare_json(read_json(data, str(path), encoding), as_of=as_of)
    return load_input(
        path, sheet=sheet, as_of=as_of, labs=labs, encoding=encoding, delimiter=delimiter
    )


def _head(path: Path) -> bytes:
    """The file's first 64 KiB (enough to tell JSON), without reading a large table twice;
    nothing when it cannot be read (``load_input`` then says why)."""
    if not path.is_file():  # (a FIFO would block here)
        return b""
    try:
        with path.open("rb") as handle:
            return handle.read(64 * 1024)
    except OSError:
        return b""


def prepare_json(rows: JsonRows, *, as_of: datetime | None = None) -> Prepared:
    """A JSON's rows checked: record by record when they fit, else as a frame."""
    from reportgen.record_input import fits, prepare_records

    if fits(rows):
        return prepare_records(rows, as_of=as_of)
    from reportgen.loaders import load_json_rows
    from reportgen.records import prepare_table

    return prepare_table(load_json_rows(rows), as_of=as_of)


def validate_input(
    path: Path | str,
    *,
    sheet: str | None = None,
    as_of: datetime | None = None,
    labs: Path | str | None = None,
    scans_path: Path | str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> list[Problem]:
    """All problems (errors and warnings) of an input file (its lab file and its scans), in
    row order."""
    table = load_input(
        path, sheet=sheet, as_of=as_of, labs=labs, encoding=encoding, delimiter=delimiter
    )
    scan_set = load_scan_set(table, scans_path)
    return table.problems + (scan_set.problems if scan_set else [])


def load_scan_set(table: Prepared, scans_path: Path | str | None) -> ScanSet | None:
    """The patients' DXA scans: a JSON input's own ``scans`` lists and/or ``--scans FILE``."""
    from reportgen.scans import embedded_scans, load_scans, patient_dates

    if not table.scans and scans_path is None:
        return None
    records = _all_records(table)
    patients = patient_dates(records)
    found = None
    if table.scans:
        ids = {
            i: str(records[i]["patient_id"])
            for i in table.scans
            if records[i].get("patient_id") is not None
        }
        positions = {i: int(records[i]["_row"]) for i in table.scans}
        found = embedded_scans(table.source, table.scans, positions, ids, patients)
    if scans_path is not None:
        from_file = load_scans(scans_path, patients)
        found = from_file if found is None else found.merge(from_file)
    return found


def _all_records(table: Prepared) -> list[dict]:
    """Every row (valid or not) with the columns the scans are checked against."""
    from reportgen.record_input import PreparedRecords

    if isinstance(table, PreparedRecords):
        return table.records
    from reportgen.frames import records_from_frame

    wanted = ["patient_id", "age_years", "delivery_date", "dxa_date", "_row"]
    return records_from_frame(table.frame[[c for c in wanted if c in table.frame.columns]])


def attach_scans(
    records: list[dict], problems: list[Problem], scan_set: ScanSet | None, source: str
) -> list[dict]:
    """Records with their ``_scans``; a patient whose scans have errors is left out (and
    ``problems`` gets the scans' problems and a line for her)."""
    if scan_set is None:
        return records
    problems += scan_set.problems
    kept = []
    for record in records:
        pid = str(record["patient_id"])
        if scan_set.all_bad or pid in scan_set.bad_ids:
            problems.append(
                Problem(
                    source,
                    int(record["_row"]),
                    "-",
                    f"no report: her scans in {scan_set.source} have errors",
                )
            )
            continue
        if scan_set.by_patient.get(pid):
            record["_scans"] = scan_set.by_patient[pid]
        kept.append(record)
    return kept


def select_records(table: Prepared, ids: Sequence[str]) -> tuple[list[dict], list[Problem]]:
    """The valid records (all, or those of ``ids``) and the problems that concern them."""
    from reportgen.record_input import PreparedRecords

    if not isinstance(table, PreparedRecords):
        return _select_from_frame(table, ids)
    problems = list(table.problems)
    chosen = table.valid_records
    if ids:
        wanted = set(ids)
        present = {r["patient_id"] for r in table.records if r.get("patient_id") is not None}
        problems += _not_found(table.source, wanted - present)
        chosen_rows = {r["_row"] for r in table.records if r.get("patient_id") in wanted}
        record_rows = {r["_row"] for r in table.records}
        problems = [p for p in problems if p.row not in record_rows or p.row in chosen_rows]
        chosen = [r for r in chosen if r.get("patient_id") in wanted]
    return [dict(r) for r in chosen], problems


def _not_found(source: str, ids: set) -> list[Problem]:
    return [Problem(source, 0, "patient_id", f"no patient with id {pid!r}") for pid in sorted(ids)]


def _select_from_frame(
    table: PreparedTable, ids: Sequence[str]
) -> tuple[list[dict], list[Problem]]:
    from reportgen.frames import records_from_frame

    frame = table.frame
    problems = list(table.problems)
    if ids:
        wanted = set(ids)
        present = set(frame["patient_id"].dropna()) if "patient_id" in frame else set()
        problems += _not_found(table.source, wanted - present)
        chosen_rows = set(frame.loc[frame["patient_id"].isin(wanted), "_row"]) if present else set()
        record_rows = set(frame["_row"])  # file/header problems are on no record's row
        problems = [p for p in problems if p.row not in record_rows or p.row in chosen_rows]
        frame = frame[
            frame["patient_id"].isin(wanted).fillna(False).to_numpy(dtype=bool)
            & table.valid.to_numpy()
        ]
    else:
        frame = table.valid_frame
    return records_from_frame(frame), problems

"""Read a run's inputs: the patient table (with its lab file) and the DXA scans, validated."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen.errors import Problem

if TYPE_CHECKING:
    from reportgen.records import PreparedTable
    from reportgen.scans import ScanSet


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


def load_scan_set(table: PreparedTable, scans_path: Path | str | None) -> ScanSet | None:
    """The patients' DXA scans: a JSON input's own ``scans`` lists and/or ``--scans FILE``."""
    import pandas as pd

    from reportgen.scans import embedded_scans, load_scans, patient_dates

    patients = patient_dates(table.frame)
    found = None
    if table.scans:
        ids = {
            i: str(table.frame.at[i, "patient_id"])
            for i in table.scans
            if "patient_id" in table.frame and pd.notna(table.frame.at[i, "patient_id"])
        }
        positions = {i: int(table.frame.at[i, "_row"]) for i in table.scans}
        found = embedded_scans(table.source, table.scans, positions, ids, patients)
    if scans_path is not None:
        from_file = load_scans(scans_path, patients)
        found = from_file if found is None else found.merge(from_file)
    return found


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


def select_records(table: PreparedTable, ids: Sequence[str]) -> tuple[list[dict], list[Problem]]:
    """The valid records (all, or those of ``ids``) and the problems that concern them."""
    from reportgen.assess import records_from_frame

    frame = table.frame
    problems = list(table.problems)
    if ids:
        wanted = set(ids)
        present = set(frame["patient_id"].dropna()) if "patient_id" in frame else set()
        missing = sorted(wanted - present)
        problems += [
            Problem(table.source, 0, "patient_id", f"no patient with id {pid!r}") for pid in missing
        ]
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

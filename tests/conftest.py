"""Shared fixtures: paths to the sample and test inputs, the rule set, a CLI runner."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.rules import RuleSet, load_rules

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SAMPLE_CSV = ROOT / "input" / "case_series_2020.csv"
INDEX_JSON = ROOT / "input" / "index_case_2.json"

# The seed's Table 1 (Iio et al., J Med Cases 2022;13:47), typed in from the paper, not from
# the sample file: case -> (MgSO4 days, cumulative g, YAM %, fracture).
SEED_TABLE1 = {
    "1": (37, 1260, 62, False),
    "2": (85, 3756, 67, True),
    "3": (58, 2484, 73, False),
    "4": (36, 1464, 75, False),
    "5": (57, 2556, 84, False),
    "6": (13, 336, 87, False),
    "7": (14, 168, 89, False),
    "8": (11, 456, 91, False),
    "9": (31, 1488, 99, False),
}

MINIMAL_COLUMNS = [
    "patient_id",
    "age_years",
    "bmi_kg_m2",
    "mgso4_days",
    "mgso4_total_g",
    "yam_percent",
    "fracture",
]


@pytest.fixture(scope="session", autouse=True)
def _plate_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Chart plates are cached in a temporary directory, never in the user's (issue 19);
    subprocesses inherit it."""
    saved = os.environ.get("REPORTGEN_CACHE_DIR")
    os.environ["REPORTGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("reportgen-cache"))
    yield
    if saved is None:
        del os.environ["REPORTGEN_CACHE_DIR"]
    else:
        os.environ["REPORTGEN_CACHE_DIR"] = saved


@pytest.fixture
def runner() -> CliRunner:
    """A Click runner; ``result.stdout`` and ``result.stderr`` are kept apart (click 8.2+)."""
    return CliRunner()


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    """The shipped rule set (jos2012)."""
    return load_rules()


@pytest.fixture(scope="session")
def rules_jos2000() -> RuleSet:
    """The shipped rule set with the 2000 criteria (osteoporosis at YAM < 70 %)."""
    return load_rules(criteria="jos2000")


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write ``rows`` (lists of cells) under ``header`` to a CSV in tmp_path; returns its path."""

    def write(
        rows: list[list[object]], header: list[str] | None = None, name: str = "input.csv"
    ) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(header or MINIMAL_COLUMNS)
            writer.writerows(rows)
        return path

    return write


def base_record(**values: object) -> dict[str, object]:
    """A valid plain record (normal bone status, no flags fired) with ``values`` overriding."""
    record: dict[str, object] = {
        "patient_id": "t1",
        "age_years": 30,
        "bmi_kg_m2": 22.0,
        "mgso4_days": 3,
        "mgso4_total_g": 100.0,
        "yam_percent": 95.0,
        "fracture": False,
        "smoking": "never",
        "family_history": False,
    }
    record.update(values)
    return record

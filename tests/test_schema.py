"""The column table is the one source of which columns are required and which words mean
yes or no (issue 18: one definition of each fact)."""

from __future__ import annotations

import pandas as pd
import pytest

from reportgen.api import load_input
from reportgen.columns import COLUMNS, FALSE_WORDS, REQUIRED_COLUMNS, TRUE_WORDS
from reportgen.schema import parse_yes_no


def test_required_columns_are_the_tables():
    assert REQUIRED_COLUMNS == tuple(c.name for c in COLUMNS.values() if c.required)
    assert set(REQUIRED_COLUMNS) == {
        "patient_id",
        "age_years",
        "mgso4_days",
        "mgso4_total_g",
        "yam_percent",
        "fracture",
    }


@pytest.mark.parametrize("missing", REQUIRED_COLUMNS)
def test_validation_asks_for_each_required_column(tmp_path, missing):
    """A file without a required column (per Column.required) is refused, naming it."""
    header = [c for c in (*REQUIRED_COLUMNS, "bmi_kg_m2") if c != missing]
    values = {"patient_id": "a", "fracture": "no", "bmi_kg_m2": "21"}
    path = tmp_path / "in.csv"
    path.write_text(
        ",".join(header) + "\n" + ",".join(values.get(c, "30") for c in header) + "\n", "utf-8"
    )
    table = load_input(path)
    assert [p.column for p in table.errors if "required column missing" in p.message] == [missing]


def test_yes_no_words():
    words = pd.Series(
        [*sorted(TRUE_WORDS), *sorted(FALSE_WORDS), "ｙｅｓ", "\u2013", "maybe", None]
    )
    parsed = parse_yes_no(words).tolist()
    assert parsed == [True] * len(TRUE_WORDS) + [False] * len(FALSE_WORDS) + [
        True,
        False,
        pd.NA,
        pd.NA,
    ]

"""Fuzzing the loaders and the CLI with hypothesis (issue 7): whatever the bytes, the library
raises only ``ReportError`` subclasses and the CLI only exits 0, 1 or 2, never with a traceback.

Example counts are modest (the whole file runs in well under a minute; set
REPORTGEN_FUZZ_SCALE=N for N times as many). Two known escapes are
kept out of the generated inputs and pinned by strict xfails in test_hostile_inputs.py: JSON
nested deeper than Python's recursion limit, and XLSX archives with malformed XML parts.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import examples
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reportgen.api import validate_input
from reportgen.errors import ReportError
from reportgen.inputs import load_patient_input

COLUMNS = [
    "patient_id",
    "age_years",
    "bmi_kg_m2",
    "mgso4_days",
    "mgso4_total_g",
    "yam_percent",
    "fracture",
    "fracture_sites",
    "notes",
    "name",
    "smoking",
    "gravida",
    "para",
    "height_cm",
    "weight_kg",
    "dxa_date",
    "delivery_date",
    "dxa_site",
    "family_history",
    "vitamin_d_ng_ml",
    "ID",
    "Age",
    " YAM (%) ",
    "infusions",
]
TRICKY_CELLS = [
    "",
    " ",
    "1",
    "-1",
    "0",
    "-0",
    "1e309",
    "1e-400",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1,260",
    "1,2,3",
    "２０",
    "２０．５",
    "9" * 40,
    "yes",
    "no",
    "+",
    "-",
    "はい",
    "2020-01-01",
    "2020-02-30",
    "0000-00-00",
    "never",
    "Before pregnancy",
    '"',
    '""',
    "'",
    ",",
    ";",
    "\t",
    "\r",
    "\n",
    "\r\n",
    "\\",
    "=1+1",
    "<b>x</b>",
    "{{ 7*7 }}",
    "\u202e",
    "\ufeff",
    "\u00a0",
    "\u3000",
    "\x0b",
    "\x1b",
    "é",
    "T7;T12",
    "L1–L4",
]
SUFFIXES = [".csv", ".json", ".xlsx", ".txt", ""]
# REPORTGEN_FUZZ_SCALE=20 for a longer hunt by hand; CI runs the modest default.
SCALE = max(1, int(os.environ.get("REPORTGEN_FUZZ_SCALE", "1")))

FUZZ = settings(
    max_examples=examples(120 * SCALE),
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

cells = st.one_of(st.sampled_from(TRICKY_CELLS), st.text(max_size=12))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(TRICKY_CELLS),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(COLUMNS), st.text(max_size=6)), inner, max_size=6
        ),
    ),
    max_leaves=25,
)
infusions = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "start": st.one_of(
                st.sampled_from(
                    [
                        "2020-01-01T00:00:00",
                        "2020-01-01",
                        "x",
                        "9999-12-31T23:59:59",
                        "0001-01-01T00:00:00",
                        "2020-01-01T00:00:00+09:00",
                    ]
                ),
                json_scalars,
            ),
            "end": st.one_of(
                st.sampled_from(
                    [
                        "2020-01-02T00:00:00",
                        "2019-12-31T00:00:00",
                        "2020-01-03T00:00:00Z",
                        "9999-12-31T23:59:59",
                    ]
                ),
                json_scalars,
            ),
            "rate_g_per_h": st.one_of(st.floats(), st.integers(), json_scalars),
        },
    ),
    max_size=4,
)
patients = st.fixed_dictionaries(
    {"patient_id": st.one_of(st.text(max_size=6), st.integers(), st.floats())},
    optional={
        **{c: st.one_of(json_scalars, cells) for c in COLUMNS[1:20]},
        "infusions": st.one_of(infusions, json_values),
    },
)


@st.composite
def csv_texts(draw: st.DrawFn) -> bytes:
    header = draw(st.lists(st.sampled_from(COLUMNS), max_size=10))
    rows = draw(st.lists(st.lists(cells, max_size=12), max_size=6))
    separator = draw(st.sampled_from([",", ";", "\t", "|"]))
    quote = draw(st.booleans())

    def field(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if quote else value

    text = "\n".join(separator.join(field(v) for v in line) for line in [header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp932", "latin-1", "utf-16"]))
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


@st.composite
def json_documents(draw: st.DrawFn) -> bytes:
    document = draw(
        st.one_of(
            json_values,
            patients,
            st.lists(patients, max_size=4),
            st.fixed_dictionaries({"patients": st.lists(patients, max_size=3)}),
        )
    )
    return json.dumps(document, allow_nan=True).encode("utf-8")  # NaN/Infinity literals too


# Any finite float: openpyxl writes 1.7976931348623157e308 as "1.797693134862316e+308", which
# reads back as inf (found by this test; loaders now refuse such a workbook cleanly).
_xlsx_floats = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def workbooks(draw: st.DrawFn) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    header = draw(st.lists(st.sampled_from(COLUMNS), max_size=8))
    if header:
        sheet.append(header)
    for row in draw(
        st.lists(
            st.lists(
                st.one_of(
                    cells, st.integers(-(10**6), 10**6), _xlsx_floats, st.booleans(), st.none()
                ),
                max_size=9,
            ),
            max_size=5,
        )
    ):
        sheet.append([_xlsx_safe(v) for v in row])
    stream = io.BytesIO()
    book.save(stream)
    return stream.getvalue()


def _xlsx_safe(value: object) -> object:
    """openpyxl refuses control characters in cells (a file with them cannot exist)."""
    if isinstance(value, str):
        return "".join(c for c in value if c in "\t\n\r" or ord(c) >= 32)
    return value


any_input = st.one_of(st.binary(max_size=400), csv_texts(), json_documents())


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="reportgen-fuzz-") as directory:
        yield Path(directory)


def _write(directory: Path, data: bytes, suffix: str) -> Path:
    path = directory / f"input{suffix}"
    path.write_bytes(data)
    return path


def _only_report_errors(path: Path) -> None:
    try:
        problems = validate_input(path)
    except ReportError:
        return
    for problem in problems:  # located problems are well-formed
        assert problem.severity in ("error", "warning")
        assert problem.row >= 0
        assert "\n" not in str(problem).split(": ", 1)[0]


@FUZZ
@given(data=st.binary(max_size=600), suffix=st.sampled_from(SUFFIXES))
def test_validate_random_bytes(scratch, data, suffix):
    _only_report_errors(_write(scratch, data, suffix))


@FUZZ
@given(data=csv_texts(), suffix=st.sampled_from([".csv", ".txt", ".tsv"]))
def test_validate_csv_like_text(scratch, data, suffix):
    _only_report_errors(_write(scratch, data, suffix))


# Found in CI: 0 kg at 0 cm divided by zero when the BMI was derived.
ZERO_HEIGHT = b'{"patient_id": "", "weight_kg": 0, "height_cm": 0, "infusions": []}'
# Found while fixing it: an infusion in year 1 crashed pandas' datetime64 column.
YEAR_ONE = b'{"infusions": [{"start": "0001-01-01", "end": "0001-01-02", "rate_g_per_h": 1}]}'


@pytest.mark.slow
@FUZZ
@example(data=ZERO_HEIGHT)
@example(data=YEAR_ONE)
@given(data=json_documents())
def test_validate_json_values(scratch, data):
    _only_report_errors(_write(scratch, data, ".json"))


@FUZZ
@example(data=ZERO_HEIGHT)
@example(data=YEAR_ONE)
@given(data=json_documents())
def test_patient_json_records_only_report_errors(scratch, data):
    """The patient command's record-by-record path (a small JSON) fails only with ReportError."""
    try:
        prepared = load_patient_input(_write(scratch, data, ".json"))
    except ReportError:
        return
    for problem in prepared.problems:
        assert problem.severity in ("error", "warning")
        assert problem.row >= 0


@settings(
    max_examples=examples(40 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=workbooks())
def test_validate_xlsx_workbooks(scratch, data):
    _only_report_errors(_write(scratch, data, ".xlsx"))


@settings(
    max_examples=examples(60 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=any_input, suffix=st.sampled_from([".csv", ".json", ".xlsx"]))
def test_cli_validate_exits_cleanly(run_reportgen, scratch, data, suffix):
    run_reportgen("validate", _write(scratch, data, suffix))


@settings(
    max_examples=examples(40 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.one_of(csv_texts(), json_documents()), suffix=st.sampled_from([".csv", ".json"]))
def test_cli_patient_exits_cleanly(run_reportgen, scratch, data, suffix):
    outdir = scratch / "out"
    run_reportgen(
        "patient",
        _write(scratch, data, suffix),
        "-o",
        outdir,
        "--format",
        "json",
        "--workers",
        "1",
        "--overwrite",
    )
    for path in outdir.glob("patient-*.json"):  # whatever was made is complete
        json.loads(path.read_text("utf-8"))


@settings(
    max_examples=examples(25 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    args=st.lists(
        st.sampled_from(
            [
                "validate",
                "patient",
                "cohort",
                "rules",
                "--format",
                "pdf,doc",
                "--workers",
                "0",
                "-o",
                "--id",
                "--resume",
                "--overwrite",
                "--skip-invalid",
                "--criteria",
                "x",
                "--bogus",
                "",
                "-",
                "--help",
            ]
        ),
        max_size=6,
    )
)
def test_cli_arguments_exit_cleanly(run_reportgen, scratch, args):
    with contextlib.chdir(scratch):  # whatever the arguments name, it is under scratch
        run_reportgen(*args)  # fails on a traceback or an exit status but 0, 1, 2

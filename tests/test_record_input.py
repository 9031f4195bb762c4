"""The pandas-free record path (record_input) gives exactly what the frame path gives: the same
typed records (values and types), validity and problems, for any JSON patient list."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import examples
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reportgen.columns import COLUMNS, FALSE_WORDS, REQUIRED_COLUMNS, SMOKING_WORDS, TRUE_WORDS
from reportgen.frames import records_from_frame
from reportgen.inputs import load_patient_input, prepare_json, select_records
from reportgen.json_input import read_json
from reportgen.loaders import load_json_rows
from reportgen.record_input import MAX_RECORDS, PreparedRecords, prepare_records
from reportgen.records import prepare_table

TODAY = date.today()
SEED_PATIENT = json.loads((Path(__file__).parents[1] / "input" / "index_case_2.json").read_text())
AS_OF = datetime(2025, 3, 1, 12, 0)


def _both(data: bytes, as_of: datetime | None):
    frame_table = prepare_table(load_json_rows(read_json(data, "x.json", None)), as_of=as_of)
    record_table = prepare_records(read_json(data, "x.json", None), as_of=as_of)
    return frame_table, record_table


def _typed(record: dict) -> dict:
    return {k: (type(v).__name__, v) for k, v in record.items()}


def assert_same(data: bytes, as_of: datetime | None = None) -> PreparedRecords:
    frame_table, record_table = _both(data, as_of)
    assert record_table.problems == frame_table.problems
    assert record_table.valid == frame_table.valid.tolist()
    frame_records = records_from_frame(frame_table.frame)
    assert [_typed(r) for r in record_table.records] == [_typed(r) for r in frame_records]
    return record_table


# -- values: every kind's good, edge and bad cells, as JSON scalars ------------------------

_DAY = st.dates(date(1890, 1, 1), TODAY + timedelta(days=5 * 366 + 5))
_MOMENT = st.datetimes(datetime(1899, 12, 30), datetime.combine(TODAY, datetime.min.time()))
_NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(
        ["1,500", "1,5", "１２", "٣", "1_0", "−5", "–5", "＋3", " 7 ", "1e3", ".5", "5.", "+.5e1"]
    ),
    st.sampled_from(["inf", "nan", "Infinity", "0x10", "12\x00", "1 2", "", "  "]),
)


def _value_for(name: str) -> st.SearchStrategy:
    column = COLUMNS[name]
    junk = st.one_of(
        st.text(max_size=6), st.sampled_from(["\ud800", "a\x07b", "x" * 10_001, "\u3000"])
    )
    if column.kind in ("number", "integer"):
        lo, hi = column.low, column.high
        near = st.sampled_from([lo, hi, lo - 1, hi + 1, lo - 0.01, hi + 0.01, (lo + hi) / 2, 0])
        good = st.one_of(
            near,
            st.floats(lo - 5, hi + 5, allow_nan=False),
            st.integers(int(lo) - 3, int(hi) + 3),
        )
        return st.one_of(good, good.map(str), _NUMBER_TEXT, st.booleans(), junk)
    if column.kind == "boolean":
        words = sorted(TRUE_WORDS | FALSE_WORDS)
        return st.one_of(
            st.booleans(),
            st.sampled_from(words),
            st.sampled_from(words).map(str.upper),
            st.integers(-1, 2),
            junk,
        )
    if column.kind == "smoking":
        return st.one_of(
            st.sampled_from(sorted(SMOKING_WORDS)), st.sampled_from(["Before  Pregnancy"]), junk
        )
    if column.kind in ("date", "appointment"):
        return st.one_of(
            _DAY.map(date.isoformat),
            _MOMENT.map(lambda d: d.isoformat(sep=" ", timespec="minutes")),
            _MOMENT.map(lambda d: d.isoformat(timespec="microseconds") + "123"),
            st.sampled_from(["2020-02-30", "2020-05", "2020-01-01T24:00", "2020-01-01Z"]),
            junk,
        )
    if column.kind == "gestation":
        return st.one_of(
            st.builds("{}+{}".format, st.integers(10, 46), st.integers(0, 7)),
            st.sampled_from([" 23 + 4 ", "２３+４"]),
            junk,
        )
    if column.kind == "choice":
        return st.one_of(
            st.sampled_from(column.choices).map(str.upper), st.sampled_from(column.choices), junk
        )
    return st.one_of(st.text(max_size=8), st.integers(0, 50), junk)  # text


_NAMES = sorted(COLUMNS)
_INFUSION = st.fixed_dictionaries(
    {
        "start": st.sampled_from(["2025-02-20T08:00", "2025-02-27T23:30", "bad", "2025-03-02"]),
        "end": st.sampled_from(["2025-02-21T08:00", "2025-02-28T06:15", None, "2025-02-19"]),
        "rate_g_per_h": st.one_of(st.sampled_from([1, 1.5, 2.0, 0, 25]), st.just("2")),
    }
)


@st.composite
def patient(draw: st.DrawFn) -> dict:
    names = draw(st.lists(st.sampled_from(_NAMES), max_size=12, unique=True))
    required = draw(st.lists(st.sampled_from(REQUIRED_COLUMNS), unique=True))
    record: dict[str, object] = {}
    for name in dict.fromkeys([*required, *names]):
        record[name] = draw(st.one_of(st.none(), _value_for(name)))
    if draw(st.booleans()):
        record["patient_id"] = draw(st.sampled_from(["A", "B", "a", "Ａ", "B\u200b", "7"]))
    if draw(st.integers(0, 3)) == 0:
        record["infusions"] = draw(st.lists(_INFUSION, max_size=3))
    if draw(st.integers(0, 5)) == 0:
        record[draw(st.sampled_from(["YAM (%)", "age", "yam_pct", "unknown_thing"]))] = "70"
    return record


@st.composite
def seed_variant(draw: st.DrawFn) -> dict:
    """The sample patient with a few values changed: mostly valid records."""
    record = dict(SEED_PATIENT)
    for name in draw(st.lists(st.sampled_from(_NAMES), max_size=4, unique=True)):
        record[name] = draw(st.one_of(st.none(), _value_for(name)))
    record["patient_id"] = draw(st.sampled_from(["2", "3", "4", "５"]))
    if draw(st.booleans()):
        record["infusions"] = draw(st.lists(_INFUSION, max_size=3))
    return record


@settings(
    max_examples=examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    patients=st.lists(st.one_of(patient(), seed_variant()), min_size=1, max_size=4),
    running=st.booleans(),
)
def test_the_record_path_equals_the_frame_path(patients, running):
    data = json.dumps(patients if len(patients) > 1 else patients[0]).encode()
    assert_same(data, AS_OF if running else None)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"height_cm": "158", "weight_kg": 50.3, "bmi_kg_m2": None},  # derived BMI
        {"height_cm": 158, "weight_kg": "46.1", "bmi_kg_m2": "x"},  # bad BMI: derived
        {"mgso4_days": None, "mgso4_total_g": None},  # both from the infusions
        {"gravida": 1, "para": 2},
        {"yam_percent": "", "dxa_date": None},  # no DXA yet
        {"notes": "a\x00b\x1fc", "name": "\ud800"},
        {"delivery_date": (TODAY + timedelta(days=2)).isoformat()},
        {"delivery_date": (TODAY + timedelta(days=1)).isoformat()},
        {"follow_up_date": (TODAY + timedelta(days=5 * 366 - 1)).isoformat()},
        {"age_years": "12"},
        {"age_years": "11.99"},
        {"age_years": "60"},
        {"age_years": "60.01"},
        {"height_cm": 0, "weight_kg": 0, "bmi_kg_m2": None},  # no BMI from a height of 0
        {"admission_date": "2020-03-01", "discharge_date": "2020-02-29"},
        {"admission_date": "2020-03-01T10:00", "discharge_date": "2020-03-01T08:00"},
        {"height_cm": "-0", "weight_kg": 50, "bmi_kg_m2": None},
        {"height_cm": 1e-160, "weight_kg": "1e160", "bmi_kg_m2": None},
    ],
)
def test_the_paths_agree_on_the_sample_patient_and_its_edges(change):
    assert_same(json.dumps({**SEED_PATIENT, **change}).encode())


@example(ids=["A", "A", "a"])
@settings(max_examples=examples(50), deadline=None)
@given(ids=st.lists(st.sampled_from(["A", "a", "Ａ", "A\u0301", "\u00c1", " A", ""]), max_size=5))
def test_duplicate_and_lookalike_ids_agree(ids):
    patients = [{**SEED_PATIENT, "patient_id": pid} for pid in ids] or [{}]
    assert_same(json.dumps(patients).encode())


def test_a_large_json_takes_the_frame_path(tmp_path):
    rows = read_json(json.dumps([SEED_PATIENT] * (MAX_RECORDS + 1)).encode(), "x.json", None)
    assert not isinstance(prepare_json(rows), PreparedRecords)
    small = read_json(json.dumps([SEED_PATIENT] * MAX_RECORDS).encode(), "x.json", None)
    assert isinstance(prepare_json(small), PreparedRecords)


def test_embedded_scans_or_labs_take_the_frame_path(tmp_path):
    with_scans = {**SEED_PATIENT, "scans": []}
    assert not isinstance(
        prepare_json(read_json(json.dumps(with_scans).encode(), "x.json", None)), PreparedRecords
    )
    path = tmp_path / "p.json"
    path.write_text(json.dumps(SEED_PATIENT), "utf-8")
    assert isinstance(load_patient_input(path), PreparedRecords)
    labs = tmp_path / "labs.csv"
    labs.write_text("patient_id,date,test,value,unit\n2,2025-03-01,calcium,9.1,mg/dL\n", "utf-8")
    assert not isinstance(load_patient_input(path, labs=labs), PreparedRecords)


def test_selecting_ids_agrees(tmp_path):
    patients = [{**SEED_PATIENT, "patient_id": pid} for pid in ("2", "3", "3")]
    patients[0]["age_years"] = "x"
    data = json.dumps(patients).encode()
    frame_table, record_table = _both(data, None)
    for ids in ((), ("2",), ("3",), ("9", "3")):
        assert select_records(record_table, ids) == select_records(frame_table, ids)


def test_one_json_patient_report_never_imports_pandas(tmp_path):
    """The cold single report: what a clinician waits for (issue 19)."""
    code = (
        "import sys\n"
        "from reportgen.cli import cli\n"
        "try:\n"
        "    cli(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted(m for m in ('pandas', 'scipy', 'openpyxl') if m in sys.modules))\n"
    )
    path = tmp_path / "one.json"
    path.write_text(json.dumps(SEED_PATIENT), "utf-8")
    args = ["patient", str(path), "-o", str(tmp_path / "out"), "--format", "html,pdf,json"]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "patient-2.pdf").exists()

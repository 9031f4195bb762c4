"""Hostile and broken input II (issue 16), classes 2-9: no live formula in cohort-cases.csv,
nothing written outside OUTDIR, no silent change of clinical data, no traceback, rules that
cannot pass as the shipped ones, bounded settings, honest decoding, PDFs without HarfBuzz-subset.
(Class 1, memory, is tests/test_memory_limits.py; the small attack files are in
tests/hostile/corpus.py ``round_two`` and run through every command in test_hostile_inputs.)
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import time
import unicodedata
from pathlib import Path

import pytest
from conftest import examples
from hostile.corpus import VALID, to_csv, to_xlsx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportgen import api
from reportgen.cohort import _defuse_formula
from reportgen.decoding import DecodeRefused, decode_text
from reportgen.errors import RulesError
from reportgen.loaders import load_table
from reportgen.output import JOURNAL, MANIFEST
from reportgen.printable import unprintable
from reportgen.rules import load_rules

ENOUGH = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _row(**values: object) -> dict[str, object]:
    return {"patient_id": "p1", **VALID, **values}


def _csv(tmp_path: Path, records: list[dict], name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_text(to_csv(records), "utf-8")
    return path


def _problems(path: Path, **options: object) -> list[str]:
    return [str(p) for p in api.validate_input(path, **options)]


# --- class 2: no live formula in cohort-cases.csv -----------------------------------------------

_SEPARATORS = re.compile(r"[,;|\t\r\n]")
_FORMULA = ("=", "+", "-", "@")


def _live_cells(value: str) -> list[str]:
    """Cells a spreadsheet could make of ``value`` in any locale that start a formula."""
    return [
        cell
        for cell in _SEPARATORS.split(value)
        if cell.lstrip(" \"'\u00a0")[:1] in _FORMULA and not cell.lstrip(' "').startswith("'")
    ]


@ENOUGH
@given(st.text(alphabet=st.sampled_from(list("ab1 =+-@;,|\t\r\n\"'")), max_size=20))
def test_defused_text_has_no_live_formula_in_any_locale(value):
    defused = _defuse_formula(value)
    assert _live_cells(defused) == [], repr(defused)
    assert not re.search(r"[\x00-\x1f]", defused)


def test_cohort_csv_has_no_live_formula(run_reportgen, tmp_path):
    records = [
        _row(patient_id="x;=1+1", fracture_sites='T7;=HYPERLINK("http://x")', notes="ok"),
        _row(patient_id="p2", fracture_sites="L1,@SUM(1)", notes="=cmd"),
    ]
    outdir = tmp_path / "out"
    result = run_reportgen("cohort", _csv(tmp_path, records), "-o", outdir, "--format", "json")
    assert result.exit_code == 0, result.output
    text = (outdir / "cohort-cases.csv").read_text("utf-8")
    for delimiter in (",", ";"):  # the file as a comma or a semicolon locale reads it
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            for cell in row:
                assert cell.lstrip()[:1] not in _FORMULA, (delimiter, cell)


@pytest.mark.parametrize(
    "patient_id",
    [
        'a\r=HYPERLINK("http://x","y")',
        "a\nb",
        "tab\tid",
        "nul\x00byte",
        "bell\x07",
        "\u202eevil",
        "zero\u200bw",
        "line\u2028sep",
    ],
)
def test_hidden_characters_in_ids_are_located_errors(tmp_path, patient_id):
    path = tmp_path / "ids.json"
    path.write_text(json.dumps([_row(patient_id=patient_id)]), "utf-8")
    problems = _problems(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:1:patient_id: control or invisible character U+")


# --- class 3: nothing outside OUTDIR ------------------------------------------------------------


def _cohort_file(tmp_path: Path, count: int = 3) -> Path:
    return _csv(tmp_path, [_row(patient_id=f"r{i}") for i in range(count)], "cohort.csv")


@pytest.mark.slow
@pytest.mark.parametrize("planted", [JOURNAL, MANIFEST, "patient-r0.json"])
def test_planted_links_in_outdir_are_never_followed(run_reportgen, tmp_path, planted):
    source = _cohort_file(tmp_path)
    outdir = tmp_path / "out"
    assert (
        run_reportgen(
            "patient", source, "-o", outdir, "--format", "json", "--workers", "1"
        ).exit_code
        == 0
    )
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", "utf-8")
    (outdir / planted).unlink(missing_ok=True)
    (outdir / planted).symlink_to(victim)
    (outdir / "patient-r1.json").unlink()  # something left to do
    result = run_reportgen(
        "patient", source, "-o", outdir, "--format", "json", "--workers", "1", "--resume"
    )
    assert victim.read_text("utf-8") == "precious\n"
    assert result.exit_code in (0, 1)
    if planted == JOURNAL:  # refused before anything is written, with a clean message
        assert result.exit_code == 1
        assert "resume journal is not a regular file" in result.output
    else:  # the link itself is replaced by a regular file
        assert result.exit_code == 0, result.output
        assert not (outdir / planted).is_symlink()


@pytest.mark.slow
def test_manifest_entry_pointing_at_a_device_is_not_read(run_reportgen, tmp_path):
    source = _cohort_file(tmp_path)
    outdir = tmp_path / "out"
    assert (
        run_reportgen(
            "patient", source, "-o", outdir, "--format", "json", "--workers", "1"
        ).exit_code
        == 0
    )
    (outdir / "patient-r0.json").unlink()
    (outdir / "patient-r0.json").symlink_to("/dev/zero")
    started = time.monotonic()
    result = run_reportgen(
        "patient", source, "-o", outdir, "--format", "json", "--workers", "1", "--overwrite"
    )
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 60
    assert not (outdir / "patient-r0.json").is_symlink()


# --- class 4: no silent change of clinical data ------------------------------------------------


def test_duplicate_json_keys_are_located_errors(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text(
        '[{"patient_id": "d1", "age_years": 31, "bmi_kg_m2": 20.5, "mgso4_days": 12,'
        ' "mgso4_total_g": 400, "yam_percent": 95, "fracture": true, '
        '"yam_percent": 60, "infusions": [{"start": "2020-01-01T00:00:00", '
        '"end": "2020-01-02T00:00:00", "rate_g_per_h": 1, "rate_g_per_h": 9}]}]',
        "utf-8",
    )
    problems = _problems(path)
    assert f"{path}:1:yam_percent: duplicate key 'yam_percent'" in problems
    assert f"{path}:1:infusions[1]: duplicate key 'rate_g_per_h'" in problems


def test_xlsx_formula_without_a_saved_result_is_a_located_error(tmp_path):
    path = tmp_path / "formula.xlsx"
    path.write_bytes(to_xlsx([_row(yam_percent="=80+2"), _row(patient_id="p2")]))
    problems = _problems(path)
    assert problems[0].startswith(f"{path}:2:yam_percent: formula without a saved result")
    assert not any(":3:" in p for p in problems)


def test_an_out_of_range_date_serial_is_located_without_a_library_warning(tmp_path):
    """openpyxl warned "Cell ... is marked as a date but the serial value ... is outside the
    limits for dates" on stderr, without a file or row (warnings are errors in these tests)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    row = _row(dxa_date="")
    sheet.append(list(row))
    sheet.append(list(row.values()))
    column = list(row).index("dxa_date") + 1
    sheet.cell(2, column, 2958466).number_format = "yyyy-mm-dd"
    path = tmp_path / "serial.xlsx"
    book.save(path)
    problems = _problems(path)
    assert problems == [
        f"{path}:2:dxa_date: not a date from 1900-01-01 to today (use YYYY-MM-DD, no time zone): "
        "'#VALUE!'"
    ]


@pytest.mark.parametrize(
    ("literal", "shown"), [("NaN", "NaN"), ("1e2", "100.0"), ("1.5", "1.5"), ("true", "true")]
)
def test_json_ids_that_are_not_text_are_refused(tmp_path, literal, shown):
    path = tmp_path / "ids.json"
    path.write_text(json.dumps([_row()]).replace('"p1"', literal), "utf-8")
    assert _problems(path)[0] == f"{path}:1:patient_id: must be text or a whole number, not {shown}"


def test_json_integer_ids_are_exact(tmp_path):
    path = tmp_path / "ids.json"
    path.write_text(json.dumps([_row(patient_id=12345678901234567890)]), "utf-8")
    table = api.load_input(path)
    assert table.frame["patient_id"].tolist() == ["12345678901234567890"]


def test_xlsx_ids_rounded_by_the_spreadsheet_are_refused(tmp_path):
    path = tmp_path / "ids.xlsx"
    path.write_bytes(
        to_xlsx(
            [_row(patient_id=1.2345678901234567e19), _row(patient_id=100.0), _row(patient_id="007")]
        )
    )
    problems = _problems(path)
    assert len(problems) == 1
    assert re.fullmatch(
        re.escape(
            f"{path}:2:patient_id: id stored as a spreadsheet number, which keeps only 15 digits ("
        )
        + r"1\.23456789012345\d*e\+19"
        + re.escape("); format the id column as text"),
        problems[0],
    )
    assert api.load_input(path).frame["patient_id"].tolist()[1:] == ["100", "007"]


@pytest.mark.parametrize(
    "value",
    [
        "2020-05",
        "2020",
        "1600-01-01",
        "1899-12-31",
        "2099-01-01",
        "2020-02-30",
        "2020-01-01T10:00:00+09:00",
        "2020-01-01T10:00Z",
        "20200101",
        "01/02/2020",
        "2020-W01",
    ],
)
def test_dates_that_are_not_whole_plausible_dates_are_refused(tmp_path, value):
    path = _csv(tmp_path, [_row(dxa_date=value)])
    assert _problems(path) == [
        f"{path}:2:dxa_date: not a date from 1900-01-01 to today (use "
        f"YYYY-MM-DD, no time zone): {value!r}"
    ]


@ENOUGH
@given(st.dates(), st.sampled_from(["", "T10:00", " 23:59:59", "T00:00:00.5"]))
def test_dates_are_read_exactly_or_refused(tmp_path_factory, day, time_of_day):
    text = day.isoformat() + time_of_day
    path = _csv(tmp_path_factory.mktemp("d"), [_row(dxa_date=text)])
    table = api.load_input(path)
    problems = [p for p in table.problems if p.column == "dxa_date"]
    if 1900 <= day.year and day.isoformat() <= time.strftime("%Y-%m-%d"):
        assert not problems
        assert table.frame["dxa_date"][0].date() == day  # never another day
    else:
        assert len(problems) == 1


def test_mixed_time_zones_are_clean_errors_in_every_command(run_reportgen, tmp_path):
    records = [
        _row(patient_id="a", dxa_date="2020-01-01"),
        _row(patient_id="b", dxa_date="2020-01-02T10:00:00+09:00"),
    ]
    source = _csv(tmp_path, records)
    expected = f"{source}:3:dxa_date: not a date from 1900-01-01"
    for args in (
        ("validate", source),
        ("patient", source, "-o", tmp_path / "p", "--format", "json", "--workers", "1"),
        ("cohort", source, "-o", tmp_path / "c", "--format", "json"),
    ):
        result = run_reportgen(*args)
        assert result.exit_code == 1, result.output
        assert expected in result.output


@pytest.mark.parametrize(
    ("first", "second", "severity"),
    [
        ("Ren\u00e9e", "Rene\u0301e", "error"),  # NFC and NFD
        ("A12", "Ａ１２", "error"),  # full-width
        ("ﾊﾅｺ1", "ハナコ1", "error"),  # half-width katakana
        ("ab12", "AB12", "warning"),  # letter case only
    ],
)
def test_one_id_written_two_ways_is_not_two_patients_silently(tmp_path, first, second, severity):
    path = tmp_path / "ids.json"
    path.write_text(json.dumps([_row(patient_id=first), _row(patient_id=second)]), "utf-8")
    problems = api.load_input(path).problems
    assert [(p.row, p.column, p.severity) for p in problems] == [(2, "patient_id", severity)]


@ENOUGH
@given(st.text(min_size=1, max_size=12).filter(lambda t: t.strip() == t))
def test_ids_are_kept_exactly_or_refused(tmp_path_factory, patient_id):
    path = tmp_path_factory.mktemp("i") / "ids.json"
    path.write_text(json.dumps([_row(patient_id=patient_id)]), "utf-8")
    table = api.load_input(path)
    id_problems = [p for p in table.problems if p.column == "patient_id"]
    hidden = any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") for c in patient_id)
    assert bool(id_problems) == (hidden or unprintable(patient_id))  # no font for it: refused
    if not id_problems:
        assert table.frame["patient_id"].tolist() == [patient_id]


# --- class 5: no tracebacks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000),
        ("deep.json", '{"risk": ' * 50_000 + "1" + "}" * 50_000),
        ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000),
        ("deep.toml", "a = " + "{b = " * 50_000 + "1" + "}" * 50_000),
    ],
)
def test_deeply_nested_rules_are_clean_errors(run_reportgen, tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, "utf-8")
    result = run_reportgen("rules", "--rules", path)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}: ")


@pytest.mark.slow
def test_tmp_folders_and_the_users_own_tmp_files_survive_a_run(run_reportgen, tmp_path):
    source = _cohort_file(tmp_path)
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / ".tmp-folder").mkdir()
    (outdir / ".tmp-folder" / "x").write_text("x", "utf-8")
    (outdir / ".tmp-notes.txt").write_text("mine", "utf-8")
    (outdir / ".tmp-abcd1234.json").symlink_to(tmp_path / "cohort.csv")
    for extra in ((), ("--overwrite",)):
        result = run_reportgen(
            "patient", source, "-o", outdir, "--format", "json", "--workers", "1", *extra
        )
        assert result.exit_code == 0, result.output
        assert (outdir / ".tmp-folder" / "x").is_file()
        assert (outdir / ".tmp-notes.txt").read_text("utf-8") == "mine"
        assert (outdir / ".tmp-abcd1234.json").is_symlink()


@pytest.mark.parametrize("folder", ["patient-r0.json", MANIFEST, "cohort-cases.csv"])
def test_a_folder_where_a_file_goes_is_a_clean_error(run_reportgen, tmp_path, folder):
    outdir = tmp_path / "out"
    (outdir / folder / "inner").mkdir(parents=True)
    command = "cohort" if folder == "cohort-cases.csv" else "patient"
    result = run_reportgen(
        command, _cohort_file(tmp_path), "-o", outdir, "--format", "json", "--overwrite"
    )
    assert result.exit_code == 1
    assert f"{folder} is a folder where a report goes; nothing was written" in result.output
    assert sorted(p.name for p in outdir.iterdir()) == [folder]


# --- class 6: rules overrides -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[risk.smoking]\nthreshold = "Never"\n',
            "'risk.smoking.threshold' 'Never' is not a smoking status",
        ),
        ("[bone_status]\nyam_osteoporosis_max_pct = 1e-300\n", "need 20 <= bone_status."),
        ("[bone_status]\nyam_normal_min_pct = 1e300\n", "need 20 <= bone_status."),
        (
            "[iscd]\nz_below_expected_max = -1e300\n",
            "'iscd.z_below_expected_max' -1e+300 is outside -8–0",
        ),
        ("[data_quality]\nmgso4_loading_allowance_g = 1e9\n", "outside 0–100"),
        ("[risk.low_bmi]\nthreshold = 1e-300\n", "outside the plausible range of bmi_kg_m2"),
        ("[risk.mgso4_long_term]\nthreshold = 1e-300\n", "must be a whole number for mgso4_days"),
    ],
)
def test_absurd_rule_values_are_refused(tmp_path, text, message):
    path = tmp_path / "rules.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(RulesError, match=re.escape(message)):
        load_rules(path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("dup.json", '{"risk": {"low_bmi": {"threshold": 18.5, "threshold": 30}}}'),
        ("dup.json", '{"version": "1", "version": "2"}'),
        ("dup.toml", "[risk.low_bmi]\nthreshold = 18.5\nthreshold = 30\n"),
    ],
)
def test_duplicate_rule_keys_are_refused(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with pytest.raises(
        RulesError,
        match=r"duplicate key 'threshold'|duplicate key 'version'|"
        r"not valid TOML",
    ):
        load_rules(path)


@pytest.mark.parametrize(
    "extra", ["", 'name = "reportgen-plo-default"\n', 'name = "REPORTGEN-PLO-DEFAULT "\n']
)
def test_an_override_cannot_pass_as_the_shipped_rules(tmp_path, extra):
    shipped = load_rules()
    path = tmp_path / "rules.toml"
    path.write_text(
        f'version = "{shipped.version}"\n{extra}[bone_status]\nyam_normal_min_pct = 90\n', "utf-8"
    )
    custom = load_rules(path)
    assert custom.version != shipped.version
    assert re.fullmatch(re.escape(shipped.version) + r"\+local\.[0-9a-f]{8}", custom.version)
    assert custom.digest != shipped.digest


def test_an_override_that_changes_nothing_is_the_shipped_rules(tmp_path):
    shipped = load_rules()
    path = tmp_path / "rules.toml"
    path.write_text(
        f'version = "{shipped.version}"\n[bone_status]\nyam_normal_min_pct = 80.0\n', "utf-8"
    )
    assert load_rules(path).version == shipped.version


# --- class 7: settings and template folders ---------------------------------------------------


def _settings(tmp_path: Path, logo: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(f'[organisation]\nname = "H"\nlogo = "{logo}"\n', "utf-8")
    return path


def test_logo_linked_to_dev_zero_is_refused_without_reading_it(run_reportgen, tmp_path):
    (tmp_path / "logo.png").symlink_to("/dev/zero")
    result = run_reportgen(
        "patient",
        _cohort_file(tmp_path),
        "-o",
        tmp_path / "out",
        "--settings",
        _settings(tmp_path, "logo.png"),
    )
    assert result.exit_code == 1
    assert "cannot read logo" in result.output
    assert "not a regular file" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("what", ["logo", "settings", "rules"])
def test_fifos_are_refused_not_waited_on(run_reportgen, tmp_path, what):
    fifo = tmp_path / ("logo.png" if what == "logo" else f"{what}-fifo.toml")
    os.mkfifo(fifo)
    args = (
        ("--settings", _settings(tmp_path, "logo.png")) if what == "logo" else (f"--{what}", fifo)
    )
    started = time.monotonic()
    result = run_reportgen("cohort", _cohort_file(tmp_path), "-o", tmp_path / "out", *args)
    assert time.monotonic() - started < 30
    assert result.exit_code == 1
    assert "not a regular file" in result.output


def test_a_huge_template_dir_is_refused_quickly(run_reportgen, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    for i in range(api.MAX_TEMPLATE_FILES + 1):
        (folder / f"t{i}.html").write_text("x", "utf-8")
    started = time.monotonic()
    result = run_reportgen(
        "patient", _cohort_file(tmp_path), "-o", tmp_path / "out", "--template-dir", folder
    )
    assert time.monotonic() - started < 30
    assert result.exit_code == 1
    assert "--template-dir must be a folder of templates only" in result.output
    assert not (tmp_path / "out").exists()


# --- class 8: encodings and delimiters --------------------------------------------------------


def test_cp1252_is_refused_with_a_hint_and_read_with_encoding(run_reportgen, tmp_path):
    path = tmp_path / "western.csv"
    path.write_bytes(to_csv([_row(name="Renée Françoise")]).encode("cp1252"))
    result = run_reportgen("validate", path)
    assert result.exit_code == 1
    assert result.stdout.startswith(
        f"{path}:0:-: text is not UTF-8, and reading it as CP932 would garble it"
    )
    assert "--encoding" in result.stdout
    assert run_reportgen("validate", path, "--encoding", "cp1252").exit_code == 0
    table = load_table(path, encoding="cp1252")
    assert table.frame["name"].tolist() == ["Renée Françoise"]


@ENOUGH
@given(
    st.lists(
        st.tuples(
            st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6),
            st.sampled_from("àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßÀÉÖÜÑ"),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_western_names_are_never_garbled(tmp_path_factory, parts):
    name = "R" + "".join(a + b for a, b in parts)
    data = to_csv([_row(name=name)]).encode("cp1252")
    try:
        text, _ = decode_text(data)
    except DecodeRefused:
        return
    assert name in text


@pytest.mark.parametrize(
    "name", ["山田 花子", "ヤマダ ハナコ", "ﾔﾏﾀﾞ ﾊﾅｺ", "髙橋 美咲", "山田Hanako"]
)
def test_japanese_cp932_is_still_detected(name):
    text, encoding = decode_text(to_csv([_row(name=name)]).encode("cp932"))
    assert (encoding, name in text) == ("cp932", True)


def test_unknown_encoding_is_a_clean_error(run_reportgen, tmp_path):
    path = _csv(tmp_path, [_row()])
    result = run_reportgen("validate", path, "--encoding", "klingon")
    assert result.exit_code == 1
    assert "unknown encoding 'klingon'" in result.stdout


def _semicolon_file(tmp_path: Path, **values: str) -> Path:
    stream = io.StringIO()
    writer = csv.DictWriter(
        stream, fieldnames=list(_row(**values)), delimiter=";", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerow(_row(**values))
    path = tmp_path / "semi.csv"
    path.write_text(stream.getvalue(), "utf-8")
    return path


@pytest.mark.parametrize(
    "value", ["1,500", "1.500,5", "1,500,000", "1.500,000", "1.500", "19,999", "19.999"]
)
def test_ambiguous_numbers_in_semicolon_files_are_located_errors(tmp_path, value):
    path = _semicolon_file(tmp_path, mgso4_total_g=value)
    problems = _problems(path)
    assert len(problems) == 1
    assert problems[0].startswith(
        f"{path}:2:mgso4_total_g: ambiguous number in a ';'-separated file"
    )


@ENOUGH
@given(st.integers(0, 19_999), st.integers(0, 99))
def test_semicolon_numbers_mean_one_thing_or_are_refused(tmp_path_factory, whole, fraction):
    text = f"{whole},{fraction:02d}"  # a decimal comma: two decimals, never three
    path = _semicolon_file(tmp_path_factory.mktemp("s"), mgso4_total_g=text)
    table = api.load_input(path)
    assert not [p for p in table.problems if p.column == "mgso4_total_g"]
    assert float(table.frame["mgso4_total_g"][0]) == pytest.approx(whole + fraction / 100)


def test_a_comma_number_plausible_one_way_only_is_read_that_way(tmp_path):
    """-2,500 g: neither -2.5 nor -2500 is a dose, so it is read as -2.5 and refused by the
    range; 0,712 g/cm² is a BMD, never 712."""
    problems = _problems(_semicolon_file(tmp_path, mgso4_total_g="-2,500"))
    assert len(problems) == 1
    assert problems[0].endswith("mgso4_total_g: outside the plausible range 0–20000: '-2.500'")
    table = api.load_input(_semicolon_file(tmp_path, bmd_g_cm2="0,712"))
    assert [p for p in table.problems if p.column == "bmd_g_cm2"] == []
    assert float(table.frame["bmd_g_cm2"][0]) == 0.712


@pytest.mark.parametrize(
    ("column", "text", "value"),
    [
        ("mgso4_total_g", "1.5", 1.5),
        ("mgso4_total_g", "1500", 1500),
        ("mgso4_total_g", "20.001", None),  # 20,001 g is implausible: only 20.001 g is meant
        ("yam_percent", "72.500", 72.5),  # 72,500 % is no YAM
        ("bmi_kg_m2", "21.000", 21.0),
    ],
)
def test_a_dot_in_a_semicolon_file_is_refused_only_when_both_readings_are_plausible(
    tmp_path, column, text, value
):
    """ "1.500" g in a ';' file (European thousands, or a decimal point?) once became 1.5 g
    silently and lost the high-dose flag; it is refused when 1.5 and 1500 are both plausible."""
    table = api.load_input(_semicolon_file(tmp_path, **{column: text}))
    problems = [p for p in table.problems if p.column == column]
    assert problems == []
    assert float(table.frame[column][0]) == pytest.approx(value if value else float(text))


@pytest.mark.parametrize(
    ("text", "low", "high", "ambiguous"),
    [
        ("1.500", 0, 20_000, True),
        ("999.999", 0, 20_000, False),  # 999,999 g is implausible
        ("19.999", 0, 20_000, True),
        ("20.001", 0, 20_000, False),
        ("0.806", 0.2, 2.0, False),  # a BMD: never thousands
        ("1.005", 0.2, 2.0, False),
        ("1.5", 0, 20_000, False),
        ("1.5000", 0, 20_000, False),
        ("-1.500", -8, 6, False),
    ],
)
def test_dot_thousands_ambiguity_at_its_boundaries(text, low, high, ambiguous):
    from reportgen.cells import dot_thousands_ambiguous

    assert dot_thousands_ambiguous(text, low, high) is ambiguous


def test_delimiter_option(run_reportgen, tmp_path):
    path = tmp_path / "tabs.txt"
    path.write_text(to_csv([_row(notes="a;b;c;d")]).replace(",", "\t"), "utf-8")
    assert run_reportgen("validate", path, "--delimiter", "tab").exit_code == 0


# --- class 9: PDFs on a machine without HarfBuzz-subset ---------------------------------------


@pytest.mark.slow
def test_pdf_renders_with_the_fonttools_fallback(run_reportgen, tmp_path, monkeypatch, caplog):
    """Force WeasyPrint's path for a machine without libharfbuzz-subset0: its advisory is
    logged and the PDF is still made; a real problem (a refused resource) still fails."""
    import weasyprint.pdf.fonts

    monkeypatch.setattr(weasyprint.pdf.fonts, "harfbuzz_subset", None)
    outdir = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        result = run_reportgen(
            "patient", _cohort_file(tmp_path, 1), "-o", outdir, "--format", "pdf", "--workers", "1"
        )
    assert result.exit_code == 0, result.output
    assert (outdir / "patient-r0.pdf").read_bytes().startswith(b"%PDF-")
    assert any(
        "Using fontTools instead of HarfBuzz-Subset" in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize(
    ("column", "text"),
    [
        ("notes", "Mother happy \U0001f44d after weaning"),
        ("name", "김민지"),
        ("physician", "สมชาย"),
    ],
)
def test_text_no_report_font_can_print_is_a_located_error_that_does_not_quote_it(
    run_reportgen, tmp_path, column, text
):
    """Once: validate said OK, then the patient got no report at all ("report not made", no
    column) and the log quoted the characters of her name."""
    from reportgen.inputs import load_patient_input

    path = tmp_path / "p.json"
    path.write_text(json.dumps(_row(**{column: text})), "utf-8")
    for prepared in (api.load_input(path), load_patient_input(path)):
        (problem,) = [p for p in prepared.problems if p.column == column]
        assert str(problem) == (
            f"{path}:1:{column}: has characters the report fonts cannot print (such as emoji, "
            "Hangul or Thai): write them in Japanese or Latin letters"
        )
    log = tmp_path / "run.log"
    result = run_reportgen("--log-file", log, "patient", path, "-o", tmp_path / "out")
    assert result.exit_code == 1
    shown = result.output + log.read_text("utf-8")
    assert [c for c in text if not c.isascii() and c in shown] == []


@pytest.mark.parametrize(
    "text", ["山田 花子", "髙橋 美咲", "ﾔﾏﾀﾞ ﾊﾅｺ", "Françoise Müller", "a\u200bb"]
)
def test_japanese_and_accented_text_is_printable(text):
    assert not unprintable(text)


@pytest.mark.parametrize("name", ["서울병원", "A\\u0007B", "Clinic \U0001f3e5"])  # TOML escapes
def test_settings_text_the_fonts_cannot_print_is_refused(tmp_path, name):
    from reportgen.errors import ReportError
    from reportgen.settings import load_settings

    path = tmp_path / "s.toml"
    path.write_text(f'[organisation]\nname = "{name}"\n', "utf-8")
    with pytest.raises(ReportError, match="organisation.name has control characters or"):
        load_settings(path)


def test_a_missing_glyph_is_refused_without_quoting_it():
    """WeasyPrint quotes the characters it has no glyph for: patient data in a message."""
    import logging

    from reportgen.render import _COLLECTOR

    before = len(_COLLECTOR.messages)
    logging.getLogger("weasyprint").warning(
        '.notdef glyph rendered for Unicode string unsupported by fonts: "%s"', "김"
    )
    assert _COLLECTOR.messages[before:] == [
        "a character no report font has (not quoted: it may be patient data)"
    ]
    del _COLLECTOR.messages[before:]


@pytest.mark.parametrize("column", ["name", "notes", "physician"])
def test_directional_overrides_are_taken_out_of_printed_text(tmp_path, column):
    """ "Hanako \u202eAMADAY\u202c" printed as "Hanako YADAMA": another woman's name."""
    from reportgen.inputs import load_patient_input

    path = tmp_path / "p.json"
    path.write_text(json.dumps(_row(**{column: "Hanako \u202eAMADAY\u202c"})), "utf-8")
    for prepared in (api.load_input(path), load_patient_input(path)):
        value = next(iter(prepared.records if hasattr(prepared, "records") else []), None)
        if value is None:
            value = prepared.frame[column].iloc[0]
        else:
            value = value[column]
        assert value == "Hanako  AMADAY"

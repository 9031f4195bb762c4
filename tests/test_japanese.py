"""Japanese reports (issue #13): every message and rule text translated, the seed's nine and
the cohort in Japanese with no English label left, dates, ages and the era, --lang and the
settings checked, the Japanese font required."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pikepdf
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from conftest import ROOT, SAMPLE_CSV
from pypdf import PdfReader

from reportgen import api, charts, i18n, render
from reportgen import formatting as fmt
from reportgen.errors import RenderError
from reportgen.rules import TRANSLATED, load_rules

PO = ROOT / "reportgen" / "locale" / "ja" / "LC_MESSAGES" / "reportgen.po"
RULES = ROOT / "reportgen" / "rules" / "default.toml"

# What may stay in Latin letters in a Japanese report: the accepted abbreviations, units,
# machine ids (rule and column ids, file names, patient ids), lab and test abbreviations, the
# names of statistical tests, and the bibliographic references of the evidence (authors and
# journals are cited as published).
ACCEPTED = {"YAM", "DXA", "BMI", "MgSO4", "PLO", "T", "Z", "ISCD", "JOS"}
UNITS = {"g", "kg", "m", "cm", "mg", "dL", "mL", "ng", "h", "UTC", "n", "N", "p", "t"}
ABBREVIATIONS = {
    "ID",
    "PDF",
    "WHO",
    "FDA",
    "MRI",
    "ALP",
    "PTH",
    "Ca",
    "Cr",
    "P",
    "D",
    "OH",
    "II",
    "I-1",
    "L",
    "H",
    "X",
    "JSCC",
    "Payne",
    "Fisher",
    "Mann",
    "Whitney",
    "U",
    "Spearman",
    "scipy",
    "scipy.stats",
    "sha256",
    "reportgen",
    "reportgen-plo-default",
    "jos2012",
    "cohort-",
}
CITATIONS = {
    "Iio",
    "J",
    "Med",
    "Cases",
    "Carsote",
    "Diagnostics",
    "Kaneko",
    "BMC",
    "Pregnancy",
    "Childbirth",
    "Kovacs",
    "Levav",
    "Miyamoto",
    "Sci",
    "Rep",
    "PMC10152747",
}
ALLOWED = ACCEPTED | UNITS | ABBREVIATIONS | CITATIONS
_ID = re.compile(
    r"^(?:[a-z0-9]+(?:_[a-z0-9]+)+|[a-z0-9_-]+\.(?:json|csv)|[A-Z]?\d+(?:-L?\d+)?|"
    r"L\d-L\d|[TL]\d+|breastfeeding|fracture|glucocorticoid|gravida|heparin|"
    r"lactation|para|smoking)$"
)
_PLACEHOLDER = re.compile(r"\{\w*\}|%\(\w+\)s")


def _english_words(text: str) -> set[str]:
    words = set(re.findall(r"[A-Za-z][A-Za-z0-9_.\-]*", text))
    return {
        w.rstrip(".")
        for w in words
        if w.rstrip(".") not in ALLOWED and not _ID.match(w.rstrip("."))
    }


def _pages(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


# --- the catalogue and the rule file --------------------------------------------------------


def _messages() -> set[str]:
    method_map = [("reportgen/**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT,
        method_map,
        options,
        keywords={"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)},
    ):
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                found.add(text)
    return found


def test_every_message_has_a_japanese_translation():
    """Fails when a template or code string is added without its Japanese (pybabel update)."""
    with PO.open("rb") as handle:
        catalog = read_po(handle, locale="ja")
    messages = _messages()
    assert len(messages) > 300
    missing = sorted(
        m
        for m in messages
        if catalog.get(m) is None or not catalog.get(m).string or catalog.get(m).fuzzy
    )
    assert not missing, f"no Japanese for: {missing[:10]}"
    for message in messages:
        translated = catalog.get(message).string
        assert sorted(_PLACEHOLDER.findall(message)) == sorted(_PLACEHOLDER.findall(translated)), (
            message
        )


def test_every_rule_text_has_a_japanese_text():
    """Rule labels, evidence, caveats, recommendation texts and variants: each has its _ja."""
    document = tomllib.loads(RULES.read_text("utf-8"))
    tables = [("bone_status", document["bone_status"]), ("iscd", document["iscd"])]
    tables += [(f"risk.{k}", v) for k, v in document["risk"].items()]
    tables += [(f"recommendations.{k}", v) for k, v in document["recommendations"].items()]
    missing = []
    for where, table in tables:
        for key in ("label", "evidence", "evidence_jos2000", "caveat", "text"):
            for lang in TRANSLATED:
                if key in table and not table.get(f"{key}_{lang}"):
                    missing.append(f"{where}.{key}_{lang}")
        for index, variant in enumerate(table.get("variants", ())):
            if not variant.get("text_ja"):
                missing.append(f"{where}.variants[{index}].text_ja")
    assert not missing


def test_override_of_an_english_text_drops_the_stale_translation(tmp_path):
    override = tmp_path / "rules.toml"
    override.write_text(
        '[risk.low_bmi]\nlabel = "Underweight"\n'
        '[risk.heparin]\nlabel = "Heparin"\nlabel_ja = "ヘパリン使用"\n',
        "utf-8",
    )
    rules = load_rules(override)
    with i18n.using("ja"):
        assert rules.risk_rule("low_bmi").text("label") == "Underweight"  # not the old 低BMI
        assert rules.risk_rule("heparin").text("label") == "ヘパリン使用"
        assert rules.risk_rule("smoking").text("label") == "喫煙歴"
    assert rules.risk_rule("heparin").text("label") == "Heparin"
    assert rules.digest != load_rules().digest


def test_translations_leave_the_rules_digest_alone():
    """The digest (resume keys, manifest) covers the rules and their English words only."""
    rules = load_rules()
    assert rules.translations_digest
    assert rules.translations_digest != rules.digest


# --- formatting ------------------------------------------------------------------------------


def test_dates_ages_and_days_in_japanese():
    from datetime import date, datetime

    assert fmt.date_text(date(2025, 4, 1), "ja") == "2025年4月1日"
    assert fmt.date_text(datetime(2025, 3, 1, 14, 30), "ja") == "2025年3月1日 14:30"
    assert fmt.date_text("2025-04-01", "ja") == "2025年4月1日"
    assert fmt.date_text(date(2025, 4, 1)) == "2025-04-01"  # English outside a report
    assert fmt.age(32, "ja") == "32歳"
    assert fmt.age(32, "en") == "32 years"
    assert fmt.days(45, "ja") == "45日"
    assert fmt.days(45) == "45 days"
    with i18n.using("ja", "japanese"):
        assert fmt.date_text(date(2025, 4, 1)) == "令和7年4月1日"
        assert fmt.date_text(date(2019, 5, 1)) == "令和元年5月1日"
        assert fmt.date_text(date(2019, 4, 30)) == "平成31年4月30日"
        assert fmt.grams(3756) == "3,756"
        assert fmt.score(-3.0) == "−3.0"


def test_charts_draw_japanese_text_with_a_japanese_font():
    """A glyph missing from the chart fonts is a warning, and warnings fail the tests."""
    with i18n.using("ja"):
        png = charts.plot_status_counts({"normal": 5, "low_bone_mass": 2, "osteoporosis": 2})
    assert png.startswith(b"\x89PNG")


def test_missing_japanese_font_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(render, "JA_FONT_FILE", tmp_path / "absent.ttf")
    with i18n.using("ja"), pytest.raises(RenderError, match="fonts-ipaexfont-gothic"):
        render.HtmlPdfRenderer().html("patient.html", {})


# --- the seed's nine and the cohort in Japanese ----------------------------------------------


@pytest.fixture(scope="module")
def japanese(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ja")
    result = api.build_patient_reports(
        SAMPLE_CSV, out, formats=("html", "pdf", "json", "fhir"), workers=1, lang="ja"
    )
    assert result.ok
    result = api.build_cohort_report(SAMPLE_CSV, out / "cohort", lang="ja")
    assert result.ok
    return out


@pytest.fixture(scope="module")
def english(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("en")
    api.build_patient_reports(SAMPLE_CSV, out, formats=("pdf",), workers=1)
    api.build_cohort_report(SAMPLE_CSV, out / "cohort", formats=("pdf",))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("case", "status"), [("2", "骨粗鬆症"), ("3", "骨量減少"), ("8", "正常")])
def test_page1_says_the_japanese_class(japanese, case, status):
    page1 = _pages(japanese / f"patient-{case}.pdf")[0]
    assert re.search(rf"骨の状態（JOS 2012）\s*{status}", page1)  # the class follows its heading
    assert ("妊娠・授乳関連骨粗鬆症（PLO）" in page1) == (status == "骨粗鬆症")


@pytest.mark.slow
def test_no_english_label_left_in_any_japanese_pdf(japanese):
    pdfs = sorted(japanese.glob("patient-*.pdf")) + [japanese / "cohort" / "cohort-summary.pdf"]
    assert len(pdfs) == 10
    for pdf in pdfs:
        left = _english_words("\n".join(_pages(pdf)))
        assert not left, f"{pdf.name}: {sorted(left)}"


@pytest.mark.slow
def test_same_page_count_as_english(japanese, english):
    for name in [f"patient-{i}.pdf" for i in range(1, 10)] + ["cohort/cohort-summary.pdf"]:
        assert len(PdfReader(japanese / name).pages) == len(PdfReader(english / name).pages), name


@pytest.mark.slow
def test_japanese_json_keeps_ids_and_carries_japanese_texts(japanese):
    document = json.loads((japanese / "patient-2.json").read_text("utf-8"))
    assert document["classification"] == "osteoporosis"
    assert document["classification_label"] == "骨粗鬆症"
    assert "osteoporosis" not in document["classification_reason"]
    assert all(isinstance(r, str) and r.isascii() for r in document["recommendations"])
    assert document["recommendation_texts"][0]["text"].startswith("骨の専門医")
    assert {r["id"] for r in document["rule_results"]} >= {"mgso4_long_term", "heparin"}
    cohort = json.loads((japanese / "cohort" / "cohort-summary.json").read_text("utf-8"))
    assert any("偶然の可能性" in a["sentence"] for a in cohort["associations"])


@pytest.mark.slow
def test_japanese_language_tags(japanese):
    assert '<html lang="ja">' in (japanese / "patient-2.html").read_text("utf-8")
    with pikepdf.open(japanese / "patient-2.pdf") as pdf:
        assert str(pdf.Root.Lang) == "ja"
        assert "/StructTreeRoot" in pdf.Root  # tagged, as in English
    fhir = json.loads((japanese / "patient-2.fhir.json").read_text("utf-8"))
    assert fhir["content"][0]["attachment"]["language"] == "ja"
    assert "ページ 1 / 2" in _pages(japanese / "patient-2.pdf")[0]


# --- the language: --lang and the settings ---------------------------------------------------


def test_lang_option_refuses_other_languages(run_reportgen, tmp_path):
    result = run_reportgen("patient", SAMPLE_CSV, "-o", tmp_path, "--lang", "fr")
    assert result.exit_code == 2
    assert "'fr' is not one of 'en', 'ja'" in result.stderr


def test_settings_language_is_checked(run_reportgen, tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text('[organisation]\nname = "A"\nlanguage = "fr"\n', "utf-8")
    result = run_reportgen("patient", SAMPLE_CSV, "-o", tmp_path / "o", "--settings", settings)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {settings}: ")  # wording: test_settings.py


def test_settings_language_and_era_make_a_japanese_report(run_reportgen, tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text(
        '[organisation]\nname = "周産期センター"\nlanguage = "ja-JP"\ncalendar = "japanese"\n',
        "utf-8",
    )
    result = run_reportgen(
        "patient",
        ROOT / "input" / "discharge_no_dxa.csv",
        "-o",
        tmp_path / "o",
        "--settings",
        settings,
        "--format",
        "html",
    )
    assert result.exit_code == 0, result.stderr
    html = (tmp_path / "o" / "patient-D-101.html").read_text("utf-8")
    assert '<html lang="ja-JP">' in html
    assert "令和7年" in html
    assert "硫酸マグネシウム" in html
    result = run_reportgen(
        "patient",
        ROOT / "input" / "discharge_no_dxa.csv",
        "-o",
        tmp_path / "en",
        "--settings",
        settings,
        "--format",
        "html",
        "--lang",
        "en",
    )
    html = (tmp_path / "en" / "patient-D-101.html").read_text("utf-8")
    assert '<html lang="en">' in html
    assert "MgSO4 exposure" in html


_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


@pytest.mark.slow
def test_english_sample_reports_have_no_japanese_text(english):
    """Every heading goes through the catalogue (the follow-up table once hard-coded 同年齢比較);
    the sample's own data is all in English."""
    pdfs = sorted(english.glob("patient-*.pdf")) + [english / "cohort" / "cohort-summary.pdf"]
    assert len(pdfs) == 10
    for pdf in pdfs:
        assert _JAPANESE.findall(" ".join(_pages(pdf))) == [], pdf.name


def test_the_follow_up_table_heads_are_translated(tmp_path):
    scans = tmp_path / "scans.csv"
    scans.write_text(
        "patient_id,scan_date,site,bmd_g_cm2,yam_percent,age_matched_percent\n"
        "5,2020-06-10,L1-L4,0.900,84,88\n",
        "utf-8",
    )
    for lang, head in (("ja", "同年齢比較 %"), ("en", "Age-matched %")):
        out = tmp_path / lang
        result = api.build_patient_reports(
            SAMPLE_CSV, out, formats=("html",), workers=1, lang=lang, scans_path=scans, ids=["5"]
        )
        assert result.ok
        html = (out / "patient-5.html").read_text("utf-8")
        assert f'<th class="num">{head}</th>' in html


def test_discharge_choices_are_words_of_the_report_language(tmp_path):
    """The Japanese header printed "caesarean" and "breast" (the input's codes)."""
    from reportgen.inputs import load_input

    source = ROOT / "input" / "discharge_no_dxa.csv"
    for lang, words in (("ja", ("帝王切開", "授乳")), ("en", ("caesarean", "breastfeeding"))):
        out = tmp_path / lang
        result = api.build_patient_reports(source, out, formats=("html",), workers=1, lang=lang)
        assert result.ok
        html = (out / "patient-D-101.html").read_text("utf-8")
        for word in words:
            assert f"<td>{word}</td>" in html or f">{word}<" in html, word
    assert load_input(source).frame["feeding_plan"].tolist() == ["breast"]  # the code stays

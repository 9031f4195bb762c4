"""PDF/A-3u, tagging, metadata and the embedded JSON of patient 2 and the seed cohort summary.

Each document is rendered once per module through the CLI (in this process, so a warning fails
the test) with a fixed ``SOURCE_DATE_EPOCH``. pikepdf objects are only read inside
``with pikepdf.open(...)``: reading attachments of a ``Pdf`` that is not kept alive segfaults
(engineering notes §6).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
import pypdf
import pytest
from conftest import EPOCH, Reportgen

from reportgen.settings import Organisation

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "input" / "case_series_2020.csv"
EPOCH_TIME = datetime.fromtimestamp(int(EPOCH), UTC)
DEFAULT_ORG = Organisation()
DOCUMENTS = ("patient-2", "cohort-summary")
# The cohort PDF costs seconds: its checks run in the full run only (``pytest -m slow``).
DOCUMENT_PARAMS = [DOCUMENTS[0], pytest.param(DOCUMENTS[1], marks=pytest.mark.slow)]
BUNDLED_FONT = re.compile(r"/[A-Z]{6}\+Liberation-Sans(-Bold)?(-Italic)?")


def render(run_reportgen: Reportgen, outdir: Path, *args: str | Path) -> Path:
    """``reportgen ARGS -o OUTDIR`` in this process (so warnings fail the test)."""
    result = run_reportgen(*args, "-o", outdir)
    assert result.exit_code == 0, result.stderr
    return outdir


@pytest.fixture(scope="module")
def patient_dir(run_reportgen, tmp_path_factory) -> Path:
    """Patient 2 of the seed (html, pdf, json), rendered once."""
    return render(
        run_reportgen,
        tmp_path_factory.mktemp("patient"),
        "patient",
        SEED,
        "--id",
        "2",
        "--format",
        "html,pdf,json",
    )


@pytest.fixture(scope="module")
def cohort_dir(run_reportgen, tmp_path_factory) -> Path:
    """The seed cohort summary (html, pdf, json), rendered once."""
    return render(
        run_reportgen,
        tmp_path_factory.mktemp("cohort"),
        "cohort",
        SEED,
        "--format",
        "html,pdf,json",
    )


@pytest.fixture
def outdirs(request) -> dict[str, Callable[[], Path]]:
    """Only the output directories a test asks for are rendered."""
    return {
        "patient-2": lambda: request.getfixturevalue("patient_dir"),
        "cohort-summary": lambda: request.getfixturevalue("cohort_dir"),
    }


@pytest.fixture(params=DOCUMENT_PARAMS)
def doc(request, outdirs) -> dict[str, Path]:
    """Paths of one rendered document: its PDF, the JSON beside it and its HTML."""
    outdir = outdirs[request.param]()
    return {name: outdir / f"{request.param}.{name}" for name in ("pdf", "json", "html")}


def html_title(path: Path) -> str:
    match = re.search(r"<title>(.*?)</title>", path.read_text("utf-8"), re.S)
    assert match, f"{path.name} has no <title>"
    return html.unescape(match.group(1)).strip()


def walk(obj, found: list) -> None:
    """Collect every dictionary (streams included) reachable from ``obj`` without following
    indirect references; callers start from each indirect object of the file."""
    if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
        found.append(obj)
        children = obj.stream_dict.values() if isinstance(obj, pikepdf.Stream) else obj.values()
    elif isinstance(obj, pikepdf.Array):
        children = list(obj)
    else:
        return
    for child in children:
        if isinstance(child, pikepdf.Object) and not child.is_indirect:
            walk(child, found)


def all_dicts(pdf: pikepdf.Pdf) -> list:
    found: list = []
    walk(pdf.trailer, found)
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream | pikepdf.Array):
            walk(obj, found)
    return found


def fonts_of(resources, out: list) -> None:
    """(name, font dict) of every font in ``resources`` and in its form XObjects."""
    for name, font in resources.get("/Font", {}).items():
        out.append((name, font))
    for xobject in resources.get("/XObject", {}).values():
        if xobject.get("/Subtype") == "/Form" and "/Resources" in xobject:
            fonts_of(xobject.Resources, out)


def page_fonts(pdf: pikepdf.Pdf) -> list:
    found: list = []
    for page in pdf.pages:
        fonts_of(page.Resources, found)
    return found


def test_pdfa_identification_in_xmp(doc):
    with pikepdf.open(doc["pdf"]) as pdf:
        assert pdf.pdf_version == "1.7"
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
            assert meta.pdfa_status == "3U"
            assert meta["pdfaid:part"] == "3"
            assert meta["pdfaid:conformance"] == "U"


def test_output_intent_is_srgb_for_pdfa(doc):
    with pikepdf.open(doc["pdf"]) as pdf:
        intents = pdf.Root.OutputIntents
        assert len(intents) >= 1
        intent = intents[0]
        assert intent.S == "/GTS_PDFA1"
        assert isinstance(intent.DestOutputProfile, pikepdf.Stream)
        assert len(intent.DestOutputProfile.read_bytes()) > 0


def test_every_font_is_embedded(doc):
    with pikepdf.open(doc["pdf"]) as pdf:
        fonts = page_fonts(pdf)
        assert fonts, "no fonts found"
        for name, font in fonts:
            if font.Subtype == "/Type3":  # glyphs are content streams in the file itself
                continue
            described = list(font.DescendantFonts) if font.Subtype == "/Type0" else [font]
            assert described, f"{name}: Type0 font without descendant fonts"
            for part in described:
                keys = set(part.FontDescriptor.keys())
                assert keys & {"/FontFile", "/FontFile2", "/FontFile3"}, (
                    f"{name} ({part.get('/BaseFont')}) is not embedded"
                )


@pytest.mark.parametrize("name", DOCUMENT_PARAMS)
def test_only_bundled_fonts_are_used(outdirs, name):
    """Bundled fonts only (engineering notes §8.5): system fallbacks make bytes machine-bound."""
    with pikepdf.open(outdirs[name]() / f"{name}.pdf") as pdf:
        names = {str(font.BaseFont) for _, font in page_fonts(pdf)}
    assert names
    assert all(BUNDLED_FONT.fullmatch(n) for n in names), sorted(names)


def test_no_encryption_javascript_or_additional_actions(doc):
    with pikepdf.open(doc["pdf"]) as pdf:
        assert not pdf.is_encrypted
        assert "/Encrypt" not in pdf.trailer
        assert "/JavaScript" not in pdf.Root.get("/Names", {})
        assert "/OpenAction" not in pdf.Root
        for dictionary in all_dicts(pdf):
            assert "/AA" not in dictionary
            assert "/JS" not in dictionary
            assert dictionary.get("/S") != "/JavaScript"


def test_images_are_not_interpolated(doc):
    """PDF/A (ISO 19005-2/3 §6.2.8): an image's /Interpolate must be absent or false."""
    with pikepdf.open(doc["pdf"]) as pdf:
        images = [d for d in all_dicts(pdf) if d.get("/Subtype") == "/Image"]
        assert images, "the charts should be images"
        assert not [i for i in images if bool(i.get("/Interpolate", False))]


def test_tagged_with_structure_tree_and_language(doc):
    with pikepdf.open(doc["pdf"]) as pdf:
        root = pdf.Root
        assert "/StructTreeRoot" in root
        assert "/K" in root.StructTreeRoot
        assert "/ParentTree" in root.StructTreeRoot
        assert root.MarkInfo.Marked is True
        assert str(root.Lang) == DEFAULT_ORG.language == "en"
        assert all("/StructParents" in page for page in pdf.pages)
    assert f'<html lang="{DEFAULT_ORG.language}">' in doc["html"].read_text("utf-8")


def test_info_and_xmp_metadata_agree(doc):
    title = html_title(doc["html"])
    with pikepdf.open(doc["pdf"]) as pdf:
        info = {key: str(value) for key, value in pdf.docinfo.items()}
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
            xmp = {
                "title": meta["dc:title"],
                "creator": meta["dc:creator"],
                "description": meta["dc:description"],
                "keywords": meta["pdf:Keywords"],
            }
    assert info["/Title"] == xmp["title"] == title
    assert info["/Author"] == DEFAULT_ORG.name
    assert xmp["creator"] == [DEFAULT_ORG.name]
    assert info["/Subject"].strip()
    assert info["/Subject"] == xmp["description"]
    assert info["/Keywords"].strip()
    assert info["/Keywords"] == xmp["keywords"]
    assert pypdf.PdfReader(doc["pdf"]).metadata.title == title


def test_creation_date_is_source_date_epoch(doc):
    reader = pypdf.PdfReader(doc["pdf"])
    assert reader.metadata.creation_date == EPOCH_TIME
    with pikepdf.open(doc["pdf"]) as pdf:
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
            created = meta["xmp:CreateDate"]
    assert datetime.fromisoformat(created) == EPOCH_TIME


def test_json_attachment_equals_json_beside_pdf(doc):
    expected = doc["json"].read_bytes()
    with pikepdf.open(doc["pdf"]) as pdf:
        attachments = pdf.attachments
        assert len(attachments) == 1
        (spec,) = attachments.values()
        assert spec.obj.AFRelationship == "/Data"
        embedded = spec.get_file()
        assert embedded.mime_type == "application/json"
        data = embedded.read_bytes()
        # The catalog's /AF names exactly this file spec (WeasyPrint 70 lists it twice).
        assert {entry.objgen for entry in pdf.Root.AF} == {spec.obj.objgen}
        assert embedded.obj.Params.Size == len(expected)
    assert data == expected


def test_patient_pdf_text_has_the_patient_id(patient_dir):
    reader = pypdf.PdfReader(patient_dir / "patient-2.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Patient ID 2" in text
    assert "Patient 2 ·" in text  # the running footer


def test_patient_pdf_fits_on_two_pages(patient_dir):
    pages = len(pypdf.PdfReader(patient_dir / "patient-2.pdf").pages)
    assert 1 <= pages <= 2


@pytest.mark.slow
def test_cohort_pdf_is_byte_deterministic(run_reportgen, cohort_dir, tmp_path):
    """A second run into another directory gives the same bytes (SOURCE_DATE_EPOCH set)."""
    render(run_reportgen, tmp_path, "cohort", SEED, "--format", "pdf,json")
    for name in ("cohort-summary.pdf", "cohort-summary.json"):
        assert (tmp_path / name).read_bytes() == (cohort_dir / name).read_bytes()


@pytest.mark.skipif(shutil.which("verapdf") is None, reason="veraPDF is not installed")
def test_verapdf_validates_pdfa_3u(doc):
    result = subprocess.run(
        ["verapdf", "--flavour", "3u", "--format", "text", str(doc["pdf"])],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.lstrip().startswith("PASS"), result.stdout

"""Organisation settings: the report header, the logo, the language, and clear errors."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pikepdf
import pypdf
import pytest

from reportgen.errors import ReportError
from reportgen.settings import Organisation, load_settings

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "input" / "case_series_2020.csv"
SETTINGS_DIR = Path(__file__).resolve().parent / "data" / "settings"
SETTINGS = SETTINGS_DIR / "settings.toml"
LOGO = SETTINGS_DIR / "logo.png"
EXAMPLE = ROOT / "input" / "settings.example.toml"
NAME = "Northfield University Hospital"
DEPARTMENT = "Department of Obstetrics, Bone Health Clinic"
ADDRESS = "1 Example Road, Northfield NF1 2AB"
SYSTEM = "https://northfield.example.org/fhir/sid/mrn"


@pytest.fixture(scope="module")
def rendered(run_reportgen, tmp_path_factory) -> Path:
    """Patient 2 rendered once (in this process) with tests/data/settings/settings.toml."""
    outdir = tmp_path_factory.mktemp("settings")
    result = run_reportgen(
        "patient",
        SEED,
        "--id",
        "2",
        "--format",
        "html,pdf",
        "--settings",
        SETTINGS,
        "-o",
        outdir,
    )
    assert result.exit_code == 0, result.stderr
    return outdir


@pytest.fixture
def write_settings(tmp_path):
    """Write a settings TOML (and optionally a logo file beside it); returns its path."""

    def write(text: str, logo: tuple[str, bytes] | None = None) -> Path:
        if logo is not None:
            (tmp_path / logo[0]).write_bytes(logo[1])
        path = tmp_path / "settings.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def masthead(page_html: str) -> str:
    match = re.search(r'<header class="masthead">(.*?)</header>', page_html, re.S)
    assert match, "no masthead in the HTML"
    return match.group(1)


# --- the rendered report --------------------------------------------------------------------


def test_settings_header_in_html(rendered):
    header = masthead((rendered / "patient-2.html").read_text("utf-8"))
    text = html.unescape(re.sub(r"<[^>]+>", " ", header))
    for value in (NAME, DEPARTMENT, ADDRESS):
        assert value in text


def test_settings_header_in_pdf_text(rendered):
    first_page = pypdf.PdfReader(rendered / "patient-2.pdf").pages[0].extract_text()
    for value in (NAME, DEPARTMENT, ADDRESS):
        assert value in first_page
    assert "organisation not configured" not in first_page


def test_settings_logo_is_data_uri_in_html(rendered):
    header = masthead((rendered / "patient-2.html").read_text("utf-8"))
    match = re.search(r'<img class="logo" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', header)
    assert match, "no data: URI logo in the header"
    assert base64.b64decode(match.group(1)) == LOGO.read_bytes()


def test_settings_logo_is_image_xobject_in_pdf(rendered):
    with pikepdf.open(rendered / "patient-2.pdf") as pdf:
        xobjects = pdf.pages[0].Resources.XObject
        logos = [
            x
            for x in xobjects.values()
            if x.Subtype == "/Image" and (int(x.Width), int(x.Height)) == (96, 48)
        ]
    assert len(logos) == 1


def test_settings_logo_is_not_interpolated(rendered):
    with pikepdf.open(rendered / "patient-2.pdf") as pdf:
        flags = [
            bool(x.get("/Interpolate", False))
            for x in pdf.pages[0].Resources.XObject.values()
            if x.Subtype == "/Image"
        ]
    assert flags
    assert not any(flags)


def test_settings_name_is_author_and_language_is_lang(rendered):
    with pikepdf.open(rendered / "patient-2.pdf") as pdf:
        assert str(pdf.docinfo.Author) == NAME
        assert str(pdf.Root.Lang) == "en-GB"
    assert '<html lang="en-GB">' in (rendered / "patient-2.html").read_text("utf-8")


# --- load_settings --------------------------------------------------------------------------


def test_load_settings_defaults_without_a_file():
    org = load_settings(None)
    assert org == Organisation()
    assert org.identifier_system == "urn:reportgen:patient-id"
    assert org.language == "en"
    assert org.logo == ""


def test_load_settings_reads_every_key_and_embeds_the_logo():
    org = load_settings(SETTINGS)
    assert (org.name, org.department, org.address) == (NAME, DEPARTMENT, ADDRESS)
    assert org.identifier_system == SYSTEM
    assert org.language == "en-GB"
    assert org.logo == "data:image/png;base64," + base64.b64encode(LOGO.read_bytes()).decode()


def test_load_settings_example_file_is_valid():
    org = load_settings(EXAMPLE)
    assert org.name != Organisation().name
    assert org.department
    assert org.address
    assert org.logo.startswith("data:image/png;base64,")
    assert org.identifier_system.startswith("https://")


def test_load_settings_logo_path_is_relative_to_the_settings_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the settings file's directory
    assert load_settings(SETTINGS).logo.startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[organisation]\nname = "X"\ncolour = "red"\n', "unknown settings key(s): colour"),
        ('[organization]\nname = "X"\n', "unknown settings table(s) or key(s): organization"),
        ('name = "X"\n', "unknown settings table(s) or key(s): name"),
        ("# empty\n", "no [organisation] table"),
        ("[organisation]\nname = 5\n", "organisation.name must be a string, not int"),
        ('[organisation]\nname = ""\n', "organisation.name must not be empty"),
        ('[organisation]\nidentifier_system = "hospital mrn"\n', "must be an absolute URI"),
        ('[organisation]\nlanguage = "English"\n', "language must be one of en, ja"),
        ('[organisation]\nlanguage = "fr"\n', "language must be one of en, ja"),
        ('[organisation]\ncalendar = "showa"\n', "calendar must be one of gregorian, japanese"),
        ('[organisation]\nname = "X\n', "cannot read settings"),
        ('[organisation]\nlogo = "missing.png"\n', "cannot read logo"),
        ('[organisation]\nlogo = "logo.gif"\n', "logo must be PNG or JPEG"),
    ],
)
def test_load_settings_rejects_mistakes(write_settings, text, message):
    path = write_settings(text)
    with pytest.raises(ReportError, match=re.escape(message)) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)


def test_load_settings_missing_logo_names_the_file_and_the_reason(write_settings, tmp_path):
    path = write_settings('[organisation]\nlogo = "nope.png"\n')
    with pytest.raises(ReportError) as caught:
        load_settings(path)
    assert str(caught.value) == (
        f"{path}: cannot read logo {tmp_path / 'nope.png'} (No such file or directory)"
    )


def test_load_settings_rejects_a_logo_that_is_not_a_png(write_settings):
    path = write_settings('[organisation]\nlogo = "logo.png"\n', logo=("logo.png", b"GIF89a"))
    with pytest.raises(ReportError, match="is not a image/png file"):
        load_settings(path)


def test_load_settings_rejects_a_huge_logo(write_settings):
    path = write_settings(
        '[organisation]\nlogo = "big.png"\n',
        logo=("big.png", LOGO.read_bytes() + bytes(600 * 1024)),
    )
    with pytest.raises(ReportError, match="logo larger than 512 KiB"):
        load_settings(path)


def _png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (LOGO.read_bytes()[:60] + b"garbage" * 10, "is damaged (cannot be decoded)"),
        ("bomb", "has too many pixels; at most 4,000 × 4,000"),  # 20,000 × 20,000 in 48 KB
        ("big", "is 4001 × 4000 pixels; at most 4,000 × 4,000"),
    ],
)
def test_load_settings_decodes_the_logo_once(write_settings, data, message):
    """A damaged or a bomb logo once failed every patient's PDF, each blamed on her row."""
    data = {"bomb": lambda: _png(20_000, 20_000), "big": lambda: _png(4001, 4000)}.get(
        data, lambda: data
    )()
    path = write_settings('[organisation]\nlogo = "l.png"\n', logo=("l.png", data))
    with pytest.raises(ReportError, match=re.escape(message)):
        load_settings(path)


def test_load_settings_accepts_a_logo_at_the_pixel_limit(write_settings):
    path = write_settings('[organisation]\nlogo = "l.png"\n', logo=("l.png", _png(4000, 4000)))
    assert load_settings(path).logo.startswith("data:image/png;base64,")


def test_one_site_given_twice_in_the_precision_table_is_refused(tmp_path):
    from reportgen.settings import load_dxa_settings

    path = tmp_path / "s.toml"
    path.write_text('[dxa.precision_percent]\n"L1-L4" = 1.0\n"L1–L4" = 2.0\n', "utf-8")
    with pytest.raises(ReportError, match="precision_percent gives L1-L4 twice"):
        load_dxa_settings(path)


# --- the CLI: the library's message, one line, exit 1 (wording pinned above) ------------------


def _refusal(path: Path) -> str:
    with pytest.raises(ReportError) as refused:
        load_settings(path)
    return f"Error: {refused.value}\n"


@pytest.mark.parametrize("command", ["patient", "cohort"])
@pytest.mark.parametrize(
    "text",
    [
        '[organisation]\nname = "X"\ncolour = "red"\n',
        '[organisation]\nname = "X"\nlogo = "nope.png"\n',
    ],
    ids=["unknown-key", "no-logo"],
)
def test_cli_settings_mistake_is_a_clear_error(
    run_reportgen, write_settings, tmp_path, command, text
):
    settings = write_settings(text)
    outdir = tmp_path / "out"
    selection = ["--id", "2"] if command == "patient" else []
    result = run_reportgen(command, SEED, *selection, "--settings", settings, "-o", outdir)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a ClickException, not a crash
    assert result.stderr.startswith(f"Error: {settings}: ")
    assert result.stderr == _refusal(settings)
    assert not list(outdir.glob("*.pdf"))
    assert not list(outdir.glob("*.html"))


@pytest.mark.slow
def test_cli_settings_mistake_prints_no_traceback_in_a_real_process(
    run_reportgen, write_settings, tmp_path
):
    settings = write_settings('[organisation]\nlogo = "nope.png"\n')
    result = run_reportgen.subprocess(
        "patient", SEED, "--id", "2", "--settings", settings, "-o", tmp_path / "o", timeout=300
    )
    assert result.returncode == 1
    assert result.stderr == _refusal(settings)

"""Output paths (issue 7): whatever the patient id, every file lands inside OUTDIR under a
sanitised name, no file overwrites another, and the manifest maps each id to its own files."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Reportgen, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportgen.output import MANIFEST, assign_stems, sanitise_id

VALID = {
    "age_years": 30,
    "bmi_kg_m2": 21.0,
    "mgso4_days": 4,
    "mgso4_total_g": 120,
    "yam_percent": 93,
    "fracture": False,
}
SAFE_NAME = re.compile(r"^patient-[\w.-]+\.(html|pdf|json|fhir\.json)$")
RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


# Every kind of hostile id; some pairs sanitise to the same text and must not collide.
# Ids with control or invisible characters ("new\nline", "\u202eevil") and ids equal to
# another after NFKC ("e\u0301" and "é", "Ａ" and "A") are refused since issue 16
# (tests/test_hostile_inputs_2.py); their file names are still tested through assign_stems.
HOSTILE_IDS = [
    "../../x",
    "../../../../../../tmp/escaped",
    "/etc/passwd",
    "a/b",
    "a_b",
    "a\\b",
    "a:b",
    f"a_b-{_digest('a/b')}",  # the literal name "a/b" would get
    "..",
    ".",
    "...",
    "./.",
    "NUL",
    "nul",
    "con",
    "CON.txt",
    "COM1",
    "lpt9.log",
    "x" * 300,
    "患" * 300,
    "患者①",
    "é",
    "A",
    "a",
    "ß",
    "ss",
    "*",
    "?",
    "~",
    ".hidden",
    "-rf",
    "$HOME",
    "%2e%2e%2f",
    "C:\\Windows\\x",
    "\\\\server\\share",
    "a" * 80,
    "a" * 81,
]
# The ids the charts can draw with the bundled font (the rest: see test_hostile_inputs).
RENDERABLE_IDS = [
    "../../x",
    "/etc/passwd",
    "a/b",
    "a_b",
    "..",
    ".",
    "NUL",
    "con",
    "COM1",
    "x" * 300,
    "é",
    "A",
    "a",
]


@pytest.fixture(autouse=True, scope="module")
def _collect() -> Iterator[None]:
    """Leaked files are collected before the next module (whose filters may differ)."""
    yield
    gc.collect()


def _input(tmp_path: Path, ids: list[str]) -> Path:
    path = tmp_path / "input" / "ids.json"
    path.parent.mkdir()
    path.write_text(json.dumps([{"patient_id": i, **VALID} for i in ids]), "utf-8")
    return path


def _tree(root: Path) -> set[Path]:
    return {Path(d, f) for d, _, files in os.walk(root) for f in files} | {
        Path(d, s) for d, subdirs, _ in os.walk(root) for s in subdirs
    }


def _run(
    run_reportgen: Reportgen, tmp_path: Path, ids: list[str], formats: str
) -> tuple[Path, dict]:
    source = _input(tmp_path, ids)
    outdir = tmp_path / "deep" / "er" / "out"  # "../../x" would land in tmp_path/deep
    before = _tree(tmp_path)
    result = run_reportgen("patient", source, "-o", outdir, "--format", formats, "--workers", "1")
    assert result.exception is None, result.output
    assert result.exit_code == 0, result.output
    created = _tree(tmp_path) - before
    outside = sorted(
        str(p)
        for p in created
        if p.parent != outdir and p not in (outdir, outdir.parent, outdir.parent.parent)
    )
    assert outside == [], "written outside OUTDIR (or into a sub-directory of it)"
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "deep" / "x").exists()
    manifest = json.loads((outdir / MANIFEST).read_text("utf-8"))
    return outdir, manifest


def _check(outdir: Path, manifest: dict, ids: list[str], formats: list[str]) -> None:
    files = [p for p in outdir.iterdir() if p.name.startswith("patient-")]
    assert len(files) == len(ids) * len(formats)  # nothing overwrote anything
    entries = manifest["files"]
    assert len(entries) == len(files)
    assert len({e["path"] for e in entries}) == len(entries)
    assert len({e["path"].casefold() for e in entries}) == len(entries)  # case-insensitive FS
    by_id: dict[str, list[dict]] = {}
    for entry in entries:
        by_id.setdefault(entry["patient_id"], []).append(entry)
    assert sorted(by_id) == sorted(ids)
    for patient_id, own in by_id.items():
        assert sorted(e["format"] for e in own) == sorted(formats), patient_id
        stems = {e["path"].split(".", 1)[0] for e in own}
        assert len(stems) == 1, own  # one stem per id, shared by its formats
        for entry in own:
            name = entry["path"]
            path = outdir / name
            assert path.parent == outdir
            assert path.is_file()
            assert not path.is_symlink()
            assert SAFE_NAME.match(name), name
            assert len(name.encode("utf-8")) <= 255
            assert name == unicodedata.normalize("NFC", name)
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
            if entry["format"] == "json":  # the file is this patient's, id intact
                assert json.loads(path.read_text("utf-8"))["patient_id"] == patient_id


def test_hostile_ids_stay_inside_outdir_json(run_reportgen, tmp_path):
    outdir, manifest = _run(run_reportgen, tmp_path, HOSTILE_IDS, "json")
    _check(outdir, manifest, HOSTILE_IDS, ["json"])


@pytest.mark.slow
def test_hostile_ids_stay_inside_outdir_every_format(run_reportgen, tmp_path):
    outdir, manifest = _run(run_reportgen, tmp_path, RENDERABLE_IDS, "html,pdf,json,fhir")
    _check(outdir, manifest, RENDERABLE_IDS, ["html", "pdf", "json", "fhir"])


def test_colliding_ids_get_distinct_names():
    stems = assign_stems(
        [
            "a/b",
            "a_b",
            "A",
            "a",
            "ß",
            "ss",
            "NUL",
            "nul",
            "é",
            "e\u0301",
            "new\nline",
            "nul\x00byte",
            f"a_b-{_digest('a/b')}",
        ]
    )
    assert stems["a_b"] == "a_b"  # a safe id keeps its own name
    assert stems["a/b"] == f"a_b-{_digest('a/b')}"
    assert len({s.casefold() for s in stems.values()}) == len(stems)


@pytest.mark.parametrize(
    "patient_id",
    [".", "..", "", "/", "NUL", "con", "Com1", "LPT1.txt", "aux.tar.gz", "\x00", "\u202e", "._."],
)
def test_sanitise_never_gives_a_dot_name_or_a_reserved_name(patient_id):
    stem = sanitise_id(patient_id)
    assert stem not in ("", ".", "..")
    assert not stem.startswith(".")
    assert re.fullmatch(r"[\w.-]+", stem)
    if patient_id.lower().split(".")[0] in RESERVED:
        assert stem != patient_id  # hashed, although "patient-" already makes it safe
    assert f"patient-{stem}".lower().split(".")[0] not in RESERVED


def test_long_multibyte_ids_fit_a_file_name(tmp_path):
    """300 CJK characters: the name must stay under 255 bytes (was 269: OSError, traceback)."""
    for patient_id in ("患" * 300, "😀" * 300, "é" * 300, "x" * 300):
        name = f"patient-{sanitise_id(patient_id)}.fhir.json"
        assert len(name.encode("utf-8")) <= 255
        (tmp_path / name).write_bytes(b"{}")


def test_planted_symlinks_are_replaced_not_followed(run_reportgen, tmp_path):
    """A symlink in OUTDIR with a planned name never makes a write land outside OUTDIR."""
    source = _input(tmp_path, ["s1", "s2"])
    outdir = tmp_path / "out"
    outdir.mkdir()
    victim = tmp_path / "victim.json"
    victim.write_text("precious", "utf-8")
    (outdir / "patient-s1.json").symlink_to(victim)
    dangling = tmp_path / "nowhere" / "created.json"
    (outdir / "patient-s2.json").symlink_to(dangling)

    refused = run_reportgen("patient", source, "-o", outdir, "--format", "json")
    assert refused.exit_code == 1  # patient-s1.json "exists"
    assert "already exist" in refused.stderr
    assert victim.read_text("utf-8") == "precious"

    result = run_reportgen("patient", source, "-o", outdir, "--format", "json", "--overwrite")
    assert result.exit_code == 0, result.output
    assert victim.read_text("utf-8") == "precious"
    assert not dangling.exists()
    assert not dangling.parent.exists()
    for name in ("patient-s1.json", "patient-s2.json"):
        assert not (outdir / name).is_symlink()
        assert json.loads((outdir / name).read_text("utf-8"))["patient_id"] == name[8:10]


_ids = st.lists(
    st.text(min_size=1, max_size=120).filter(lambda t: t == t.strip()),
    min_size=1,
    max_size=12,
    unique=True,
)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ids)
def test_any_ids_get_unique_safe_names(ids):
    stems = assign_stems(ids)
    names = [f"patient-{stems[i]}.{fmt}" for i in ids for fmt in ("html", "fhir.json")]
    assert len({n.casefold() for n in names}) == len(names)
    for name in names:
        assert SAFE_NAME.match(name), name
        assert len(name.encode("utf-8", "surrogatepass")) <= 255
        assert Path(name).name == name

"""The disk cache of plate backgrounds (issue 19): same bytes cold, warm and off; files that
cannot be trusted are ignored; no cohort data on disk."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from reportgen import cache_dir, charts, i18n
from reportgen.charts import plate_store

ROOT = Path(__file__).resolve().parent.parent
DOSES = [1260, 3756, 2484, 1464, 2556, 336, 168, 456, 1488]
YAMS = [62, 67, 73, 75, 84, 87, 89, 91, 99]
FRACTURES = [False, True, False, False, False, False, False, False, False]
EVENTS = [
    ("Hospital stay", date(2024, 1, 10), date(2024, 4, 5)),
    ("Delivery", date(2024, 3, 30), None),
    ("DXA", date(2024, 5, 20), None),
]


def _patient_charts() -> list[bytes]:
    """The three plate-based charts of a patient report."""
    return [
        charts.plot_yam_zones(67),
        charts.plot_dose_vs_yam(DOSES, YAMS, FRACTURES, highlight=(2484, 73)),
        charts.plot_timeline(EVENTS) or b"",
    ]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty cache directory for this test; the in-memory plates are dropped around it."""
    monkeypatch.setenv(cache_dir.ENV_VAR, str(tmp_path / "cache"))
    charts.clear_cache()
    yield tmp_path / "cache" / "plates"
    charts.clear_cache()


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.plate"))


def _loads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, for every plate built, whether its background came from disk."""
    found: list[bool] = []
    load = plate_store.load

    def spy(*args: object) -> np.ndarray | None:
        pixels = load(*args)  # type: ignore[arg-type]
        found.append(pixels is not None)
        return pixels

    monkeypatch.setattr(plate_store, "load", spy)
    return found


def test_cold_warm_and_off_give_the_same_bytes(cache: Path, monkeypatch) -> None:
    loads = _loads(monkeypatch)
    cold = _patient_charts()
    assert loads == [False, False, False]
    assert len(_files(cache)) == 3
    charts.clear_cache()
    warm = _patient_charts()
    assert loads[3:] == [True, True, True]
    charts.clear_cache()
    monkeypatch.setenv(cache_dir.ENV_VAR, "")
    off = _patient_charts()
    assert loads[6:] == [False, False, False]
    assert cold == warm == off
    with i18n.using("ja"):  # another language: other plates, other files
        charts.clear_cache()
        monkeypatch.setenv(cache_dir.ENV_VAR, str(cache.parent))
        japanese = _patient_charts()
        charts.clear_cache()
        assert _patient_charts() == japanese
    assert len(_files(cache)) == 6
    assert japanese != cold


@pytest.mark.slow  # a fresh interpreter
def test_a_fresh_process_with_a_warm_cache_gives_the_same_bytes(cache: Path) -> None:
    script = (
        "import hashlib, json\n"
        "from tests.test_chart_cache import _patient_charts\n"
        "print(json.dumps([hashlib.sha256(png).hexdigest() for png in _patient_charts()]))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }

    def run() -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return json.loads(out.stdout)

    cold = run()
    written = {path.name: path.stat().st_size for path in _files(cache)}
    assert len(written) == 3
    assert run() == cold  # from the files
    assert {path.name: path.stat().st_size for path in _files(cache)} == written
    env[cache_dir.ENV_VAR] = ""
    assert run() == cold
    assert cold == [hashlib.sha256(png).hexdigest() for png in _patient_charts()]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1],  # truncated
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one pixel changed
        lambda data: b"XXPLATE1" + data[8:],  # not our file
        lambda data: data[:8] + (1).to_bytes(4, "big") + data[12:],  # other dimensions
        lambda data: b"",
    ],
)
def test_a_damaged_file_is_ignored_and_rewritten(
    cache: Path, monkeypatch: pytest.MonkeyPatch, damage: Callable[[bytes], bytes]
) -> None:
    expected = charts.plot_yam_zones(67)
    (path,) = _files(cache)
    good = path.read_bytes()
    path.write_bytes(damage(good))
    charts.clear_cache()
    loads = _loads(monkeypatch)
    assert charts.plot_yam_zones(67) == expected
    assert loads == [False]
    assert path.read_bytes() == good


def test_a_file_of_another_shape_is_not_used(cache: Path) -> None:
    expected = charts.plot_yam_zones(67)
    (path,) = _files(cache)
    assert plate_store.load(path.name, (10, 10, 4)) is None  # another canvas size
    assert plate_store.load(path.name, (path.stat().st_size, 1, 0)) is None
    charts.clear_cache()
    assert charts.plot_yam_zones(67) == expected


def test_an_unwritable_cache_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(cache_dir.ENV_VAR, str(blocker))
    charts.clear_cache()
    try:
        with_blocker = _patient_charts()
    finally:
        charts.clear_cache()
    monkeypatch.setenv(cache_dir.ENV_VAR, "")
    assert with_blocker == _patient_charts()
    assert blocker.read_text() == "not a directory"


def test_cohort_charts_are_not_written(cache: Path) -> None:
    """A cohort report's scatters show the user's cohort: they stay in memory only."""
    charts.plot_dose_vs_yam(DOSES, YAMS, FRACTURES, title="Cohort")
    charts.plot_days_vs_yam([37, 85, 58, 36, 57, 13, 14, 11, 31], YAMS, FRACTURES)
    charts.plot_status_counts({"normal": 1})
    assert _files(cache) == []


def test_the_name_depends_on_the_key_and_the_language() -> None:
    name = plate_store.name("yam_zones", (70.0, 80.0, True, "en"))
    assert name == plate_store.name("yam_zones", (70.0, 80.0, True, "en"))
    assert name != plate_store.name("yam_zones", (70.0, 80.0, False, "en"))
    assert name != plate_store.name("yam_zones", (65.0, 80.0, True, "en"))
    with i18n.using("ja"):
        assert name != plate_store.name("yam_zones", (70.0, 80.0, True, "en"))


def test_where_the_cache_lives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(cache_dir.ENV_VAR, str(tmp_path))
    assert plate_store.directory() == tmp_path / "plates"
    monkeypatch.setenv(cache_dir.ENV_VAR, "")
    assert plate_store.directory() is None
    monkeypatch.delenv(cache_dir.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert plate_store.directory() == tmp_path / "xdg" / "reportgen" / "plates"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert plate_store.directory() == tmp_path / "home" / ".cache" / "reportgen" / "plates"


def test_old_files_are_pruned(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache.mkdir(parents=True)
    old, new = cache / ".killed-writer.tmp", cache / ".writing-now.tmp"
    for path in (old, new):
        path.write_bytes(b"partial")
    os.utime(old, (0, 0))
    monkeypatch.setattr(plate_store, "_MAX_FILES", 2)
    _patient_charts()
    assert len(_files(cache)) == 2
    assert not old.exists()
    assert new.exists()

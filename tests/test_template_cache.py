"""Compiled templates on disk (render._TemplateCache, issue 19): the same reports with or
without them, a damaged or unwritable cache is skipped, REPORTGEN_CACHE_DIR="" writes none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

INPUT = Path(__file__).parents[1] / "input" / "index_case_2.json"


def _report(run_reportgen, out: Path, cache: str) -> dict[str, bytes]:
    done = run_reportgen.subprocess(
        "patient", INPUT, "-o", out, "--format", "html,pdf", REPORTGEN_CACHE_DIR=cache
    )
    assert done.returncode == 0, done.stderr
    return {p.name: p.read_bytes() for p in sorted(out.glob("patient-*"))}


@pytest.mark.slow
def test_cached_templates_give_the_same_bytes(run_reportgen, tmp_path):
    cache = tmp_path / "cache"
    plain = _report(run_reportgen, tmp_path / "plain", "")
    first = _report(run_reportgen, tmp_path / "first", str(cache))  # compiles and stores
    stored = sorted((cache / "templates").iterdir())
    assert stored, "no compiled template was stored"
    assert all(p.stat().st_mode & 0o077 == 0 for p in [cache / "templates"])
    second = _report(run_reportgen, tmp_path / "second", str(cache))  # loads them
    assert plain == first == second
    for path in stored:  # damaged files are compiled afresh
        path.write_bytes(b"j2" + os.urandom(64))
    assert _report(run_reportgen, tmp_path / "damaged", str(cache)) == plain


@pytest.mark.slow
def test_an_unwritable_cache_or_none_at_all(run_reportgen, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", "utf-8")
    plain = _report(run_reportgen, tmp_path / "plain", "")
    assert _report(run_reportgen, tmp_path / "blocked", str(blocker)) == plain
    home = tmp_path / "home"
    home.mkdir()
    done = run_reportgen.subprocess(
        "patient",
        INPUT,
        "-o",
        tmp_path / "off",
        REPORTGEN_CACHE_DIR="",
        HOME=str(home),
        XDG_CACHE_HOME=str(home / "xdg"),
    )
    assert done.returncode == 0, done.stderr
    assert [p for p in home.rglob("*") if "reportgen" in p.name] == []  # (matplotlib's own
    # font list cache may appear under XDG_CACHE_HOME: not ours)

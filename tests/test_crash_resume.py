"""Crash safety (issue 7): a batch killed with SIGKILL leaves only complete files under final
names, ``--resume`` finishes the job without redoing complete reports, and a re-run into a
full OUTDIR without --overwrite changes no byte."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from reportgen import api, batch, patient_run
from reportgen.output import JOURNAL, LOCK, MANIFEST, Journal, atomic_write

EPOCH = "1704067200"
COUNT = 60
COLUMNS = [
    "patient_id",
    "age_years",
    "bmi_kg_m2",
    "mgso4_days",
    "mgso4_total_g",
    "yam_percent",
    "fracture",
    "notes",
]
FINAL_NAME = re.compile(r"^patient-P\d{3}\.(pdf|json)$")


def _cohort(path: Path, count: int = COUNT) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COLUMNS)
        for i in range(count):
            writer.writerow(
                [
                    f"P{i:03d}",
                    20 + i % 20,
                    f"{18 + i % 7}.5",
                    5 + i % 50,
                    100 + 37 * i,
                    60 + i % 40,
                    "yes" if i % 9 == 0 else "no",
                    f"note {i}",
                ]
            )
    return path


def _command(*args: object) -> list[str]:
    script = Path(sys.executable).with_name("reportgen")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "reportgen"]
    return [*command, *map(str, args)]


def _env() -> dict[str, str]:
    return {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(outdir: Path) -> dict[str, tuple[int, int, str]]:
    """name -> (inode, mtime_ns, sha256) of every file, hidden ones included."""
    return {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns, _sha(p))
        for p in sorted(outdir.iterdir())
        if p.is_file()
    }


def _assert_complete(path: Path) -> None:
    data = path.read_bytes()
    if path.suffix == ".pdf":
        assert data.startswith(b"%PDF-"), path.name
        assert data.rstrip().endswith(b"%%EOF"), path.name
        assert len(PdfReader(path).pages) >= 1
    else:
        assert json.loads(data)["patient_id"] == path.stem.removeprefix("patient-")


def _group_alive(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes in process group ``pgid``."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


@pytest.mark.slow
def test_kill_9_mid_batch_leaves_complete_files_and_resume_finishes(tmp_path):
    source = _cohort(tmp_path / "cohort.csv")
    outdir = tmp_path / "out"
    journal = outdir / JOURNAL
    args = ("patient", source, "-o", outdir, "--format", "pdf,json", "--workers", "2")
    with (tmp_path / "killed.stderr").open("wb") as stderr:
        process = subprocess.Popen(
            _command(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=_env(),
            start_new_session=True,
        )  # its own group: parent + workers
        try:
            deadline = time.monotonic() + 600
            # Kill once the first reports are journaled (complete), mid-batch.
            while not (journal.exists() and journal.read_bytes().count(b"\n") >= 1):
                assert process.poll() is None, "the batch ended before it could be killed"
                assert time.monotonic() < deadline, "no report completed in 10 minutes"
                time.sleep(0.01)
            # Then, for a few seconds, try to kill in the middle of a write (a .tmp-* exists).
            until = time.monotonic() + 10
            while time.monotonic() < until and process.poll() is None:
                with os.scandir(outdir) as entries:
                    if any(entry.name.startswith(".tmp-") for entry in entries):
                        break
                time.sleep(0.0005)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # only the group this test started
            process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group_alive(process.pid) == [], "a worker survived the kill"

    # 1. What the kill left: complete files under final names, temporaries under .tmp-*.
    left = sorted(p.name for p in outdir.iterdir())
    finals = [name for name in left if FINAL_NAME.match(name)]
    others = [
        name
        for name in left
        if not FINAL_NAME.match(name) and name not in (JOURNAL, MANIFEST, LOCK)
    ]
    assert all(name.startswith(".tmp-") for name in others), others
    assert len(finals) < 2 * COUNT, "the batch was not killed mid-way"
    for name in finals:
        _assert_complete(outdir / name)
    done = Journal(outdir).read()
    assert done, "the kill came before any report was journaled"
    for entry in done.values():  # the journal lists only complete files, with their hashes
        for file in entry["files"]:
            assert _sha(outdir / file["path"]) == file["sha256"]
    keys = set(done)
    if (outdir / MANIFEST).exists():  # a periodic manifest: complete files only
        for file in json.loads((outdir / MANIFEST).read_text("utf-8"))["files"]:
            assert _sha(outdir / file["path"]) == file["sha256"]
            keys.add(file.get("input_sha256"))
    keys.discard(None)
    complete = {
        file["path"]: (outdir / file["path"]).stat()
        for entry in done.values()
        for file in entry["files"]
    }

    # 2. --resume: skips the journaled reports (same inode and mtime), makes the rest.
    resumed = subprocess.run(
        _command(*args, "--resume"),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=900,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert f"({len(keys)} report(s) already complete)" in resumed.stderr
    for name, before in complete.items():
        after = (outdir / name).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), name
    assert [p.name for p in outdir.glob(".tmp-*")] == []  # the resumed run cleaned them up
    manifest = json.loads((outdir / MANIFEST).read_text("utf-8"))
    assert len(manifest["files"]) == 2 * COUNT
    assert {f["patient_id"] for f in manifest["files"]} == {f"P{i:03d}" for i in range(COUNT)}
    for file in manifest["files"]:
        assert _sha(outdir / file["path"]) == file["sha256"], file["path"]
        _assert_complete(outdir / file["path"])
    assert sorted(f["path"] for f in manifest["files"]) == sorted(
        p.name for p in outdir.iterdir() if FINAL_NAME.match(p.name)
    )

    # 3. A plain re-run into the full OUTDIR refuses and changes no byte.
    before = _snapshot(outdir)
    time.sleep(0.05)  # a rewrite would show in mtime_ns
    again = subprocess.run(
        _command(*args), capture_output=True, text=True, env=_env(), timeout=300, check=False
    )
    assert again.returncode == 1
    assert "already exist" in again.stderr
    assert "Traceback" not in again.stderr
    assert _snapshot(outdir) == before


# --- the same guarantees, deterministic and in-process ----------------------------------------


def test_atomic_write_failure_leaves_no_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "patient-x.pdf"

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"%PDF-1.7 ... %%EOF")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_the_old_file_until_the_new_one_is_complete(tmp_path, monkeypatch):
    target = tmp_path / "patient-x.json"
    target.write_bytes(b'{"old": true}')

    def crash(*args: object) -> None:
        raise KeyboardInterrupt  # a Ctrl-C between write and rename

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b'{"new": true}')
    assert target.read_bytes() == b'{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["patient-x.json"]


def _build(source: Path, outdir: Path, **options: object) -> api.RunResult:
    return api.build_patient_reports(source, outdir, formats=("json",), workers=1, **options)


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Make the run stop (KeyboardInterrupt) after ``count`` complete reports, as a kill."""
    make = patient_run.make_patient_files
    calls: list[batch.Job] = []

    def interrupted(run: patient_run.PatientRun, job: batch.Job) -> list[dict]:
        calls.append(job)
        if len(calls) > count:
            raise KeyboardInterrupt
        return make(run, job)

    monkeypatch.setattr(patient_run, "make_patient_files", interrupted)


def test_resume_redoes_exactly_what_is_not_complete(tmp_path, monkeypatch):
    """After an interrupted run: a torn journal line, a report whose file was damaged after it
    was journaled, and leftover temporaries. --resume redoes those, keeps the rest, and
    removes the temporaries."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    source = _cohort(tmp_path / "cohort.csv", count=12)
    outdir = tmp_path / "out"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 6)
        with pytest.raises(KeyboardInterrupt):
            _build(source, outdir)
    lines = (outdir / JOURNAL).read_text("utf-8").splitlines(keepends=True)
    assert len(lines) == 6
    # The interrupted run listed its 6 complete reports (issue 17); remove that manifest to
    # test the journal alone, as a kill -9 leaves it.
    listed = json.loads((outdir / MANIFEST).read_text("utf-8"))
    assert listed["last_run"]["status"] == "interrupted"
    assert len(listed["files"]) == 6
    (outdir / MANIFEST).unlink()
    (outdir / JOURNAL).write_text("".join(lines[:5]) + lines[5][: len(lines[5]) // 2], "utf-8")
    (outdir / "patient-P002.json").write_bytes(b'{"patient_id": "P0')  # damaged
    (outdir / ".tmp-abc123.json").write_bytes(b"partial")
    kept = {
        name: (outdir / name).stat().st_ino
        for name in (
            "patient-P000.json",
            "patient-P001.json",
            "patient-P003.json",
            "patient-P004.json",
        )
    }

    result = _build(source, outdir, resume=True)
    assert result.ok
    assert result.skipped == 4  # 5 intact journal lines, minus the damaged P002
    assert {name: (outdir / name).stat().st_ino for name in kept} == kept
    assert list(outdir.glob(".tmp-*")) == []
    manifest = json.loads((outdir / MANIFEST).read_text("utf-8"))
    assert len(manifest["files"]) == 12
    for file in manifest["files"]:
        assert _sha(outdir / file["path"]) == file["sha256"]
        _assert_complete(outdir / file["path"])


def test_resume_redoes_reports_whose_input_changed(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    source = _cohort(tmp_path / "cohort.csv", count=10)
    outdir = tmp_path / "out"
    assert _build(source, outdir).ok
    text = source.read_text("utf-8").replace("note 3\n", "note 3 amended\n")
    source.write_text(text, "utf-8")
    result = _build(source, outdir, resume=True)
    assert result.skipped == 9
    assert json.loads((outdir / "patient-P003.json").read_text("utf-8"))["patient_id"] == "P003"


def test_interrupted_overwrite_never_leaves_a_manifest_with_wrong_hashes(tmp_path, monkeypatch):
    source = _cohort(tmp_path / "cohort.csv", count=10)
    outdir = tmp_path / "out"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert _build(source, outdir).ok
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")  # new bytes for every report
    _interrupt_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        _build(source, outdir, overwrite=True)
    if (outdir / MANIFEST).exists():
        for file in json.loads((outdir / MANIFEST).read_text("utf-8"))["files"]:
            assert _sha(outdir / file["path"]) == file["sha256"], file["path"]

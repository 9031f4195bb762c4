"""Operability drills (issue 17): a full disk and other write errors, SIGTERM and SIGINT, a
parent killed outright, two runs into one OUTDIR, a manifest mixing rule sets, and the CLI
around them (exit codes, no traceback, nothing created for an unknown --id).

Every drill ends with the same check: the manifest lists exactly the reports on disk, each
with its sha256 and the rule set that made it, and no temporary file or process is left."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EPOCH, Reportgen, group_alive, write_cohort

from reportgen import api, ledger
from reportgen.output import JOURNAL, LOCK, MANIFEST

ROOT = Path(__file__).resolve().parent.parent
SEED_CSV = ROOT / "input" / "case_series_2020.csv"
BOOKKEEPING = {MANIFEST, JOURNAL, LOCK}
STOP_WITHIN_S = 5.0  # "exit within a few seconds"


def _manifest(outdir: Path) -> dict:
    return json.loads((outdir / MANIFEST).read_text("utf-8"))


def assert_manifest_is_the_truth(outdir: Path) -> dict:
    """The manifest lists exactly the report files on disk, with their sha256; no temporary
    file is left."""
    manifest = _manifest(outdir)
    on_disk = sorted(p.name for p in outdir.iterdir() if p.name not in BOOKKEEPING)
    assert [n for n in on_disk if n.startswith(".tmp-")] == []
    assert sorted(e["path"] for e in manifest["files"]) == on_disk
    for entry in manifest["files"]:
        data = (outdir / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
    return manifest


def _wait_group_gone(pgid: int, within_s: float) -> list[int]:
    deadline = time.monotonic() + within_s
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return group_alive(pgid)


@contextlib.contextmanager
def _started(run_reportgen: Reportgen, *args: object, stderr: Path) -> Iterator[subprocess.Popen]:
    """A run in its own process group (parent + workers); whatever happens, the group is
    killed and reaped before the test ends."""
    with stderr.open("wb") as stream:
        process = run_reportgen.popen(
            *args,
            stdout=subprocess.DEVNULL,
            stderr=stream,
            start_new_session=True,  # its own group: parent + workers
            preexec_fn=_default_sigint,
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # only the group this test started
            process.wait(timeout=60)


def _default_sigint() -> None:
    """As under a terminal: a shell starts background jobs with SIGINT ignored, and Python
    (rightly) keeps ignoring it; this test may itself run in the background."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_first_report(process: subprocess.Popen, outdir: Path) -> None:
    deadline = time.monotonic() + 300
    journal = outdir / JOURNAL
    while not (journal.exists() and journal.read_bytes().count(b"\n") >= 2):
        assert process.poll() is None, "the run ended before it could be stopped"
        assert time.monotonic() < deadline, "no report completed in 5 minutes"
        time.sleep(0.02)


@contextlib.contextmanager
def small_filesystem(path: Path, size_kib: int) -> Iterator[Path]:
    """A real tmpfs of ``size_kib`` at ``path`` (root only); skips the test elsewhere."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            "cannot mount a small tmpfs here (needs root); the in-process fault "
            "tests cover the same code"
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


# ---------------------------------------------------------------------------------------------
# Full disk and other write errors


@pytest.mark.slow
def test_full_disk_lists_every_patient_and_keeps_a_true_manifest(run_reportgen, tmp_path):
    source = write_cohort(tmp_path / "cohort.csv", 16)
    with small_filesystem(tmp_path / "fs", 512) as fs:
        outdir = fs / "out"
        done = run_reportgen.subprocess(
            "patient", source, "-o", outdir, "--format", "pdf,json", "--workers", "2"
        )
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert "No space left on device" in done.stderr
        manifest = assert_manifest_is_the_truth(outdir)
        made = {e["patient_id"] for e in manifest["files"]}
        listed = {int(e["row"]) for e in manifest["errors"]}
        assert made, "the disk was too small for any report: the drill tests nothing"
        # every patient is either complete (both files) or listed as not made
        assert len(made) + len(listed) == 16
        for pid in made:
            assert {e["format"] for e in manifest["files"] if e["patient_id"] == pid} == {
                "pdf",
                "json",
            }
        assert manifest["last_run"]["status"] == "stopped"
        assert all("report not" in e["message"] for e in manifest["errors"])


@pytest.mark.slow
def test_cohort_overwrite_on_a_full_disk_leaves_the_old_files_whole(run_reportgen, tmp_path):
    with small_filesystem(tmp_path / "fs", 1024) as fs:
        outdir = fs / "out"
        first = run_reportgen.subprocess("cohort", SEED_CSV, "-o", outdir)
        assert first.returncode == 0, first.stderr
        before = {p.name: p.read_bytes() for p in outdir.iterdir()}
        free = os.statvfs(fs).f_bavail * os.statvfs(fs).f_frsize
        (fs / "filler").write_bytes(b"\0" * (free - 60_000))  # room for CSV/JSON, not HTML/PDF
        again = run_reportgen.subprocess(
            "cohort", SEED_CSV, "-o", outdir, "--overwrite", SOURCE_DATE_EPOCH="1804067200"
        )  # different bytes if it were written
        assert again.returncode == 1
        assert "Traceback" not in again.stderr
        assert "No space left on device" in again.stderr
        assert {p.name: p.read_bytes() for p in outdir.iterdir()} == before  # all old
        assert_manifest_is_the_truth(outdir)


@pytest.mark.slow
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EIO])
def test_a_write_error_stops_the_run_cleanly(tmp_path, monkeypatch, code):
    """In-process (no root needed): the third report's file cannot be written."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    source = write_cohort(tmp_path / "cohort.csv", 6)
    from reportgen import patient_run

    real = patient_run.write_temp
    calls = []

    def failing(path: Path, data: bytes, run_id: str) -> Path:
        calls.append(path.name)
        if len(calls) == 5:  # the first file of the third patient
            raise OSError(code, os.strerror(code), str(path))
        return real(path, data, run_id)

    monkeypatch.setattr(patient_run, "write_temp", failing)
    outdir = tmp_path / "out"
    result = api.build_patient_reports(source, outdir, formats=("json", "html"), workers=1)
    assert not result.ok
    messages = [str(p) for p in result.errors]
    assert (
        f"cohort.csv:4:-: report not written: cannot write patient-P002.json "
        f"({os.strerror(code)})" in messages
    )
    assert sum("the run stopped early" in m for m in messages) == 3
    manifest = assert_manifest_is_the_truth(outdir)
    assert {e["patient_id"] for e in manifest["files"]} == {"P000", "P001"}
    assert len(manifest["errors"]) == 4


@pytest.mark.slow
def test_a_failing_rename_keeps_the_patient_whole(tmp_path, monkeypatch):
    """EROFS at commit time: no half-committed patient, the temps are removed."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    source = write_cohort(tmp_path / "cohort.csv", 3)
    real = ledger.commit_temps
    calls = []

    def failing(moves):
        calls.append(moves)
        if len(calls) == 2:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(moves[0][1]))
        real(moves)

    monkeypatch.setattr(ledger, "commit_temps", failing)
    result = api.build_patient_reports(
        source, tmp_path / "out", formats=("json", "html"), workers=1
    )
    assert [p.message for p in result.errors][0].startswith("report not written: cannot write")
    manifest = assert_manifest_is_the_truth(tmp_path / "out")
    assert {e["patient_id"] for e in manifest["files"]} == {"P000"}


def test_manifest_that_cannot_be_written_is_removed_not_left_wrong(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    source = write_cohort(tmp_path / "cohort.csv", 2)
    outdir = tmp_path / "out"
    api.build_patient_reports(source, outdir, formats=("json",), workers=1)
    assert (outdir / MANIFEST).exists()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ledger, "write_manifest", full)
    with pytest.raises(api.ReportError, match="manifest.json could not be written"):
        api.build_patient_reports(source, outdir, formats=("json",), workers=1, overwrite=True)
    assert not (outdir / MANIFEST).exists()


# ---------------------------------------------------------------------------------------------
# Signals


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "to_group", "status"),
    [(signal.SIGTERM, False, 143), (signal.SIGTERM, True, 143), (signal.SIGINT, True, 130)],
    ids=["SIGTERM-to-parent", "SIGTERM-to-group(systemd)", "SIGINT-to-group(Ctrl-C)"],
)
def test_signal_stops_workers_flushes_manifest_and_exits(
    run_reportgen, tmp_path, signum, to_group, status
):
    source = write_cohort(tmp_path / "cohort.csv", 40)
    outdir = tmp_path / "out"
    with _started(
        run_reportgen,
        "patient",
        source,
        "-o",
        outdir,
        "--format",
        "pdf,json",
        "--workers",
        "2",
        stderr=tmp_path / "stderr",
    ) as process:
        _wait_for_first_report(process, outdir)
        sent = time.monotonic()
        if to_group:
            os.killpg(process.pid, signum)  # what a terminal's Ctrl-C does
        else:
            os.kill(process.pid, signum)  # what kill, systemd and cron do
        process.wait(timeout=60)
        took = time.monotonic() - sent
        left = _wait_group_gone(process.pid, STOP_WITHIN_S)
    stderr = (tmp_path / "stderr").read_text("utf-8")
    assert process.returncode == status, stderr
    assert took < STOP_WITHIN_S, f"exit took {took:.1f} s"
    assert left == [], "a worker or the resource tracker outlived the run"
    assert "Traceback" not in stderr
    assert "Aborted!" not in stderr
    assert f"interrupted by {signal.Signals(signum).name}" in stderr
    manifest = assert_manifest_is_the_truth(outdir)
    assert manifest["last_run"]["status"] == "interrupted"
    assert 0 < len(manifest["files"]) < 80


@pytest.mark.slow
def test_workers_exit_when_the_parent_is_killed(run_reportgen, tmp_path):
    """SIGKILL to the parent alone (OOM killer, kill -9): no worker goes on writing."""
    source = write_cohort(tmp_path / "cohort.csv", 40)
    outdir = tmp_path / "out"
    with _started(
        run_reportgen,
        "patient",
        source,
        "-o",
        outdir,
        "--format",
        "pdf,json",
        "--workers",
        "2",
        stderr=tmp_path / "stderr",
    ) as process:
        _wait_for_first_report(process, outdir)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        left = _wait_group_gone(process.pid, STOP_WITHIN_S)
    assert left == [], "workers outlived a killed parent"


# ---------------------------------------------------------------------------------------------
# Two runs into one OUTDIR


@pytest.mark.slow
def test_a_second_run_refuses_or_waits_and_both_are_in_the_manifest(run_reportgen, tmp_path):
    source = write_cohort(tmp_path / "cohort.csv", 24)
    outdir = tmp_path / "out"
    with _started(
        run_reportgen,
        "patient",
        source,
        "-o",
        outdir,
        "--format",
        "pdf,json",
        "--workers",
        "1",
        stderr=tmp_path / "first.stderr",
    ) as first:
        _wait_for_first_report(first, outdir)
        refused = run_reportgen.subprocess("cohort", SEED_CSV, "-o", outdir, "--format", "json")
        assert refused.returncode == 1
        assert "another reportgen run is writing to this directory" in refused.stderr
        assert "Traceback" not in refused.stderr
        waited = run_reportgen.subprocess(
            "--wait", "600", "cohort", SEED_CSV, "-o", outdir, "--format", "json"
        )
        assert first.wait(timeout=600) == 0, (tmp_path / "first.stderr").read_text()
    assert waited.returncode == 0, waited.stderr
    manifest = assert_manifest_is_the_truth(outdir)
    kinds = sorted({e["kind"] for e in manifest["files"]})
    assert kinds == ["cohort", "patient"]
    assert len([e for e in manifest["files"] if e["kind"] == "patient"]) == 48
    assert manifest["last_run"]["command"] == "cohort"


@pytest.mark.slow
def test_temp_files_of_a_live_run_are_not_removed(tmp_path, monkeypatch):
    """Each run cleans only its own temporaries (and those of runs whose process is gone)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    outdir = tmp_path / "out"
    outdir.mkdir()
    live = outdir / f".tmp-{os.getppid()}-abcdef01-x.pdf"  # pytest's parent: alive
    dead = outdir / ".tmp-999999999-abcdef01-y.pdf"
    live.write_bytes(b"in flight")
    dead.write_bytes(b"left by a killed run")
    api.build_patient_reports(
        write_cohort(tmp_path / "c.csv", 2), outdir, formats=("json",), workers=1
    )
    assert live.exists()
    assert not dead.exists()
    live.unlink()


# ---------------------------------------------------------------------------------------------
# Manifest truth


@pytest.mark.slow
def test_mixed_rules_manifest_names_each_files_rule_set(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    override = tmp_path / "thresholds.toml"
    override.write_text("[risk.mgso4_high_cumulative_dose]\nthreshold = 1500\n", "utf-8")
    outdir = tmp_path / "out"
    custom, default = api.load_rules(override), api.load_rules()
    assert custom.version != default.version
    api.build_patient_reports(
        SEED_CSV, outdir, formats=("json", "html"), workers=1, rules_path=override
    )
    api.build_cohort_report(SEED_CSV, outdir, formats=("json",))
    manifest = assert_manifest_is_the_truth(outdir)
    for entry in manifest["files"]:
        rules = custom if entry["kind"] == "patient" else default
        assert (
            entry["rules_name"],
            entry["rules_version"],
            entry["rules_digest"],
            entry["criteria"],
        ) == (rules.name, rules.version, rules.digest, rules.criteria)
        if entry["format"] == "json" and entry["kind"] == "patient":
            document = json.loads((outdir / entry["path"]).read_text("utf-8"))
            assert document["rules_version"] == entry["rules_version"]
    assert manifest["last_run"]["command"] == "cohort"
    assert manifest["last_run"]["rules_version"] == default.version
    assert manifest["last_run"]["status"] == "complete"
    assert manifest["last_run"]["files_written"] == 2  # cohort-summary.json, cohort-cases.csv


# ---------------------------------------------------------------------------------------------
# The CLI around it


def test_unknown_id_creates_nothing(run_reportgen, tmp_path):
    outdir = tmp_path / "out"
    result = run_reportgen("patient", SEED_CSV, "-o", outdir, "--id", "nobody")
    assert result.exit_code == 1
    assert "no patient with id 'nobody'" in result.stderr
    assert not outdir.exists()
    assert result.stdout == ""


@pytest.mark.slow
def test_quiet_verbose_and_log_file(run_reportgen, tmp_path):
    source = tmp_path / "input.csv"
    source.write_text(
        SEED_CSV.read_text("utf-8")
        .replace("\n1,", "\nSECRET-ID,", 1)
        .replace(",62,", ",SECRETVALUE,", 1),
        "utf-8",
    )
    log = tmp_path / "run.log"
    loud = run_reportgen(
        "--log-file", log, "patient", source, "-o", tmp_path / "a", "--format", "json"
    )
    assert loud.exit_code == 1
    assert "not a number: 'SECRETVALUE'" in loud.stderr  # the user's own terminal
    assert "file(s) in" in loud.stderr
    logged = log.read_text("utf-8")
    assert "not a number" in logged
    assert "SECRETVALUE" not in logged
    assert "file(s) in" in logged
    assert logged.splitlines()[0][:4].isdigit()  # time-stamped
    quiet = run_reportgen("-q", "patient", source, "-o", tmp_path / "b", "--format", "json")
    assert quiet.exit_code == 1
    assert "file(s) in" not in quiet.stderr  # no summary, no progress
    assert "not a number" in quiet.stderr  # errors still shown
    assert run_reportgen("-q", "-v", "rules").exit_code == 2


def test_an_internal_error_is_one_line_unless_verbose(run_reportgen, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("patient SECRET-ID broke it")

    monkeypatch.setattr(api, "validate_input", broken)
    plain = run_reportgen("validate", SEED_CSV)
    assert plain.exit_code == 1
    assert "internal error (ValueError at test_operability.py:" in plain.stderr
    assert "SECRET-ID" not in plain.stderr
    assert "Traceback" not in plain.stderr
    verbose = run_reportgen("-v", "validate", SEED_CSV, traceback_expected=True)
    assert verbose.exit_code == 1
    assert "Traceback" in verbose.stderr


def test_near_miss_headers_and_sheet_names(run_reportgen, tmp_path, write_csv):
    path = write_csv(
        [["1", "30", "22", "3", "100", "90", "no"]],
        header=[
            "patient_id",
            "age_years",
            "bmi_kg_m2",
            "mgso4_days",
            "mgso4_total_g",
            "yam_pct",
            "fracture",
        ],
    )
    result = run_reportgen("validate", path)
    assert result.exit_code == 1
    assert (
        f"{path}:1:yam_percent: required column missing (is 'yam_pct' meant to be "
        "yam_percent?)" in result.stdout
    )
    assert (
        f"{path}:1:yam_pct: warning: unknown column, ignored; did you mean "
        "'yam_percent'?" in result.stdout
    )
    workbook = ROOT / "tests" / "data" / "case_series_2020.xlsx"
    result = run_reportgen("validate", workbook, "--sheet", "Nope")
    assert result.exit_code == 1
    assert "no sheet named 'Nope' (sheets: '" in result.stdout


@pytest.mark.parametrize("kind", ["input", "settings", "scans"])
def test_template_prints_a_blank_commented_template(run_reportgen, tmp_path, kind):
    result = run_reportgen("template", kind)
    assert result.exit_code == 0
    assert result.stdout.startswith("#")
    if kind == "input":
        header = result.stdout.splitlines()[-1].split(",")
        values = {
            "patient_id": "A1",
            "age_years": "31",
            "bmi_kg_m2": "22",
            "mgso4_days": "3",
            "mgso4_total_g": "100",
            "yam_percent": "88",
            "fracture": "no",
        }
        path = tmp_path / "new.csv"
        path.write_text(result.stdout + ",".join(values.get(h, "") for h in header) + "\n", "utf-8")
        checked = run_reportgen("validate", path)
        assert checked.exit_code == 0, checked.stdout
        lines = result.stdout.splitlines()
        assert all(line.startswith("#") for line in lines[:-1])
        assert lines[-1].startswith("patient_id,name,age_years,")
    elif kind == "settings":
        path = tmp_path / "settings.toml"
        path.write_text(result.stdout, "utf-8")
        from reportgen.settings import load_settings

        assert load_settings(path).name == load_settings(None).name
    else:
        assert result.stdout.splitlines()[-1].startswith("patient_id,scan_date,site,")


def test_signals_are_held_until_a_commit_ends():
    """Nested holds (cohort: commit inside commit-and-manifest) deliver once, at the end."""
    from reportgen.output import signals_deferred

    steps = []

    def commit() -> None:
        with signals_deferred():
            with signals_deferred():
                os.kill(os.getpid(), signal.SIGINT)
                steps.append("files renamed")
            steps.append("manifest written")

    with pytest.raises(KeyboardInterrupt):
        commit()
    assert steps == ["files renamed", "manifest written"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_send_does_not_rewrite_the_manifest_under_a_running_run(tmp_path):
    """``reportgen send`` records answers in manifest.json: it takes OUTDIR's lock too."""
    from reportgen.output import locked_output_dir
    from reportgen.send import SendOptions, send_outdir

    with locked_output_dir(tmp_path), pytest.raises(api.ReportError, match="another reportgen run"):
        send_outdir(tmp_path, SendOptions(base_url="https://ehr.example.org/fhir"))


def test_a_reader_leaving_early_ends_the_run_quietly(run_reportgen, tmp_path):
    """`reportgen validate f | head`: the closed pipe is the shell's SIGPIPE status (141), not
    an internal error."""
    bad = {"start": "0001-01-01", "end": "0001-01-02", "rate_g_per_h": 1}
    path = tmp_path / "many.json"
    path.write_text(json.dumps({"patient_id": "A", "infusions": [bad] * 900}), "utf-8")
    process = run_reportgen.popen("validate", path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    first = process.stdout.readline()
    process.stdout.close()  # more than a pipe's 64 KiB is still to come
    _, stderr = process.communicate(timeout=60)
    assert first.endswith(b"many.json:1:age_years: required value missing\n")
    assert process.returncode == 128 + signal.SIGPIPE
    assert stderr == b""


def test_a_bug_in_one_patient_does_not_lose_the_others(tmp_path, monkeypatch):
    """An unexpected exception while rendering one patient (once: a discharge before the
    admission broke the timeline) makes that patient "not made" without its message, which
    may quote patient data; the other patients and a true manifest are written."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    source = write_cohort(tmp_path / "cohort.csv", 4)
    from reportgen import patient_run

    real = patient_run.render_record

    def buggy(record, *args, **kwargs):
        if record["patient_id"] == "P001":
            raise ValueError("a message quoting P001's data")
        return real(record, *args, **kwargs)

    monkeypatch.setattr(patient_run, "render_record", buggy)
    outdir = tmp_path / "out"
    result = api.build_patient_reports(source, outdir, formats=("json",), workers=1)
    assert not result.ok
    (error,) = [str(p) for p in result.errors]
    assert error.startswith("cohort.csv:3:-: report not made: internal error (ValueError at ")
    assert "P001's data" not in error
    manifest = assert_manifest_is_the_truth(outdir)
    assert {e["patient_id"] for e in manifest["files"]} == {"P000", "P002", "P003"}
    assert manifest["last_run"]["reports_not_made"] == 1  # was 0: it counted finished jobs

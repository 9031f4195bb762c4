"""The scale-out seam (issue 19): ``build_patient_reports(executor=...)`` runs the batch on any
``concurrent.futures.Executor`` (Dask's ``Client.get_executor()``, Ray's, a thread pool) and
writes the same files as the default path."""

from __future__ import annotations

import gc
import json
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from reportgen import gc_policy, patient_report
from reportgen.api import build_patient_reports
from reportgen.settings import Organisation

ROOT = Path(__file__).resolve().parent.parent
SEED_CSV = ROOT / "input" / "case_series_2020.csv"
IDS = ("1", "2", "5", "8", "9")  # more than one chunk (batch.TASKS_PER_CHUNK = 4)


class InProcessExecutor(Executor):
    """Runs each task at submission, in this thread, and counts them."""

    def __init__(self) -> None:
        self.tasks = 0

    def submit(self, fn, /, *args, **kwargs) -> Future:
        self.tasks += 1
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed back through the future
            future.set_exception(exc)
        return future


def _files(outdir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(outdir.glob("patient-*"))}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("default")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", "1704067200")
        build_patient_reports(SEED_CSV, outdir, ids=IDS, workers=1, formats=("html", "pdf", "json"))
    return outdir


@pytest.fixture(autouse=True)
def _epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1704067200")


def test_executor_in_process_writes_the_same_files(default_run, tmp_path):
    executor = InProcessExecutor()
    result = build_patient_reports(
        SEED_CSV, tmp_path, ids=IDS, workers=2, executor=executor, formats=("html", "pdf", "json")
    )
    assert result.ok
    assert executor.tasks == 2  # 5 reports in chunks of 4
    assert _files(tmp_path) == _files(default_run)
    manifest = json.loads((tmp_path / "manifest.json").read_text("utf-8"))
    assert len(manifest["files"]) == 3 * len(IDS)


def test_executor_thread_pool_one_maker_per_thread(default_run, tmp_path):
    with ThreadPoolExecutor(1) as executor:
        result = build_patient_reports(
            SEED_CSV,
            tmp_path,
            ids=IDS,
            workers=1,
            executor=executor,
            formats=("html", "pdf", "json"),
        )
    assert result.ok
    assert _files(tmp_path) == _files(default_run)


def test_executor_worker_reuses_its_renderer_per_thread_and_organisation():
    """Each thread of a caller's executor builds the heavy renderer once per template folder
    and organisation (the rule set and settings come with the work, not from paths)."""
    first = patient_report._renderer(None, Organisation())
    assert patient_report._renderer(None, Organisation()) is first
    assert patient_report._renderer(None, Organisation(name="Other")) is not first
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(patient_report._renderer, None, Organisation()).result()
    assert other is not first


def test_gc_policy_report_loop_restores_the_callers_collector():
    before = gc.get_threshold(), gc.isenabled()
    with gc_policy.report_loop() as settled:
        settled()
        assert gc.get_threshold() == gc_policy.WORKER_THRESHOLDS
        assert gc.get_freeze_count() > 0
    assert (gc.get_threshold(), gc.isenabled()) == before
    assert gc.get_freeze_count() == 0


def test_gc_policy_one_shot_restores_collection():
    assert gc.isenabled()
    with gc_policy.one_shot():
        assert not gc.isenabled()
    assert gc.isenabled()

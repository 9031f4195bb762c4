"""One run's bookkeeping in OUTDIR: commit finished files, journal them, write the manifest."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen import __version__
from reportgen.errors import OutputError
from reportgen.output import (
    Journal,
    commit_temps,
    remove_manifest,
    remove_temps,
    rules_fields,
    signals_deferred,
    write_manifest,
)

if TYPE_CHECKING:
    from reportgen.rules import RuleSet

INTERIM_MANIFEST_EVERY_S = 20.0  # interim manifest (complete files only) at most this often


class RunStopped(Exception):
    """A write error (full disk, read-only or failing device) ended the run early."""


class Ledger:
    """What this run has put in OUTDIR. Files enter it only once renamed into place, so the
    manifest lists exactly what is on disk; entries of other runs (``carried``) are kept."""

    def __init__(
        self,
        outdir: Path,
        *,
        command: str,
        rules: RuleSet,
        run_id: str,
        generated_at: str,
        carried: list[dict],
        journal: Journal | None = None,
    ):
        self.outdir = outdir
        self.run_id = run_id
        self.carried = carried
        self.journal = journal
        self.files: list[dict] = []  # this run's, and those --resume found complete
        self.written = 0  # files this run put in place
        self._last_run = {
            "command": command,
            "status": "running",
            "generated_at": generated_at,
            "tool_version": __version__,
            **rules_fields(rules),
        }
        self._flushed = time.monotonic()

    def commit(self, entries: list[dict], key: str | None = None) -> None:
        """Rename the entries' temporary files into place (one unit) and record them."""
        moves = [(Path(e["temp"]), self.outdir / e["path"]) for e in entries]
        done = [{k: v for k, v in e.items() if k != "temp"} for e in entries]
        with signals_deferred():
            try:
                commit_temps(moves)
            except OSError:
                remove_temps([temp for temp, _ in moves])
                raise
            self.files.extend(done)
            self.written += len(done)
            if self.journal is not None and key is not None:
                try:
                    self.journal.append({"key": key, "files": done})
                except OSError as exc:  # the files are in place (and listed): stop here
                    raise RunStopped(
                        f"cannot write {self.journal.path.name} ({exc.strerror})"
                    ) from None

    def flush_now_and_then(self, errors: list[dict]) -> None:
        """An interim manifest (complete files only), at most every 20 s: not per report,
        which would be O(N²) for N reports."""
        if time.monotonic() - self._flushed > INTERIM_MANIFEST_EVERY_S:
            self.flush(errors, "running")

    def flush(self, errors: list[dict], status: str, not_made: int = 0) -> Path:
        """Write ``manifest.json``; when even that fails, remove it rather than leave one that
        no longer matches the files (and say so)."""
        self._flushed = time.monotonic()
        last_run = {
            **self._last_run,
            "status": status,
            "files_written": self.written,
            "reports_not_made": not_made,
        }
        try:
            with signals_deferred():
                return write_manifest(
                    self.outdir,
                    self.files + self.carried,
                    errors,
                    last_run=last_run,
                    run_id=self.run_id,
                )
        except OSError as exc:
            remove_manifest(self.outdir)
            raise OutputError(
                f"{self.outdir}: manifest.json could not be written ({exc.strerror}); it was "
                "removed rather than left wrong. Free space, then run again (--resume for "
                "patient reports)"
            ) from None

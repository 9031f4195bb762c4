"""Safe output: sanitised file names, atomic writes, no silent overwrite, the manifest."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import signal
import stat
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen.errors import OutputError

if TYPE_CHECKING:
    from reportgen.rules import RuleSet

logger = logging.getLogger(__name__)
MANIFEST = "manifest.json"
JOURNAL = ".reportgen-journal.jsonl"  # one line per completed report, for --resume
LOCK = ".reportgen.lock"  # advisory flock: one run at a time per OUTDIR
TEMP_PREFIX = ".tmp-"
# ".tmp-<pid of the run's parent process>-<random>-<mkstemp suffix>"
_RUN_TEMP = re.compile(r"^\.tmp-(\d+)-[0-9a-f]+-")
_LOCK_POLL_S = 0.2
_HELD = (signal.SIGINT, signal.SIGTERM)
SCHEMA_VERSION = "1"
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_MAX_STEM_CHARS = 80
# Bytes, not characters: 80 CJK characters are 240 bytes, and "patient-<stem>-<hash>.fhir.json"
# must stay below the usual 255-byte file-name limit (ext4, APFS, NTFS).
_MAX_STEM_BYTES = 120
_WINDOWS_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}


# Output file suffix of each patient --format value (the manifest's "format" is the key).
SUFFIXES = {
    "html": "html",
    "pdf": "pdf",
    "json": "json",
    "fhir": "fhir.json",
    "fhir-bundle": "bundle.json",
}


def patient_file_name(stem: str, fmt: str) -> str:
    """``patient-<stem>.<suffix>``: the one place a patient file is named."""
    return f"patient-{stem}.{SUFFIXES[fmt]}"


def sanitise_id(patient_id: str) -> str:
    """A file-name-safe stem for ``patient_id``; unsafe ids get a hash suffix, so two
    different ids never map to the same name."""
    text = unicodedata.normalize("NFC", patient_id)
    safe = re.sub(r"[^\w.-]+", "_", text, flags=re.UNICODE).strip("._")[:_MAX_STEM_CHARS]
    while len(safe.encode("utf-8", "surrogatepass")) > _MAX_STEM_BYTES:
        safe = safe[:-1]
    if safe != patient_id or not safe or safe.lower().split(".")[0] in _WINDOWS_RESERVED:
        digest = hashlib.sha256(patient_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        safe = f"{safe or 'id'}-{digest}"
    return safe


# Every file reportgen opens in OUTDIR is opened with O_NOFOLLOW: a planted symlink (say
# ``.reportgen-journal.jsonl`` -> ``~/.bashrc``) must never be appended to or read (issue 16).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_MAX_READ_BYTES = 1 << 30
# Names as atomic_write makes them (mkstemp: 8 characters from tempfile's alphabet).
_OUR_TEMP = re.compile(r"\.tmp-[a-z0-9_]{6,12}\.(html|pdf|json|csv)")


def open_in_outdir(path: Path, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """A descriptor for the regular file ``path`` in OUTDIR, never through a symlink; reads
    do not block on a planted FIFO. Raises OSError (ELOOP for a link) otherwise."""
    fd = os.open(path, flags | _NOFOLLOW | (os.O_NONBLOCK if flags == os.O_RDONLY else 0), mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name}: not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_in_outdir(path: Path) -> bytes | None:
    """The bytes of a regular file in OUTDIR; None when absent, a link or not a file."""
    try:
        fd = open_in_outdir(path)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as stream:
        data = stream.read(_MAX_READ_BYTES + 1)
    return data if len(data) <= _MAX_READ_BYTES else None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_run_id() -> str:
    """A run's temp-file tag: the parent's pid (to tell dead runs' temps) and a random part."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def write_temp(path: Path, data: bytes, run_id: str) -> Path:
    """Write ``data`` to a fsynced temporary file beside ``path``, named for this run; the
    caller renames it into place with :func:`commit_temps` (or removes it)."""
    handle, temp = tempfile.mkstemp(
        dir=path.parent, prefix=f"{TEMP_PREFIX}{run_id}-", suffix=path.suffix
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, 0o666 & ~_UMASK)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # write/fsync name no file
            exc.filename = str(path)
        raise
    return Path(temp)


def commit_temps(moves: list[tuple[Path, Path]]) -> None:
    """Rename each ``(temp, final)`` into place, with SIGINT/SIGTERM held until all are done,
    so a signal never leaves a unit (one patient, one cohort) half replaced."""
    with signals_deferred():
        for temp, final in moves:
            os.replace(temp, final)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then act on the first one caught.

    Handlers are swapped rather than the signal mask changed: the pool's threads would still
    take a process-directed signal. Outside the main thread this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda signum, frame: caught.append(signum))
        for signum in _HELD
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if caught:
            signal.raise_signal(caught[0])


def atomic_write(path: Path, data: bytes, run_id: str | None = None) -> None:
    """Write via a temporary file in the same directory, fsync, then rename."""
    temp = write_temp(path, data, run_id or new_run_id())
    try:
        commit_temps([(temp, path)])
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def remove_temps(temps: list[Path]) -> None:
    for temp in temps:
        temp.unlink(missing_ok=True)


def create_output_dir(outdir: Path) -> None:
    """Create OUTDIR (and parents); an :class:`OutputError` when that is impossible."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{outdir}: cannot create output directory ({exc.strerror})") from None
    if not os.access(outdir, os.W_OK):
        raise OutputError(f"{outdir}: output directory is not writable")


@contextlib.contextmanager
def locked_output_dir(outdir: Path, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``OUTDIR/.reportgen.lock`` for one run; wait up to
    ``wait_s`` for another run to finish, then refuse with an :class:`OutputError`.

    The kernel releases the lock when the process dies (kill -9 included): no stale locks."""
    try:
        fd = os.open(
            outdir / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666 & ~_UMASK
        )
    except OSError as exc:
        raise OutputError(f"{outdir}: cannot open the lock file {LOCK} ({exc.strerror})") from None
    try:
        _acquire(fd, outdir, time.monotonic() + max(0.0, wait_s))
        yield
    finally:
        os.close(fd)  # releases the lock


def _acquire(fd: int, outdir: Path, deadline: float) -> None:
    waiting = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not waiting and time.monotonic() < deadline:
                waiting = True
                logger.info(
                    "%s: another reportgen run is writing here; waiting up to %.0f s",
                    outdir,
                    deadline - time.monotonic(),
                )
            if time.monotonic() >= deadline:
                raise OutputError(
                    f"{outdir}: another reportgen run is writing to this directory; "
                    "nothing was written (try again when it ends, or use --wait SECONDS)"
                ) from None
            time.sleep(_LOCK_POLL_S)


def prepare_output_dir(
    outdir: Path,
    planned: list[str],
    *,
    overwrite: bool,
    resume: bool = False,
    resumable: bool = True,
) -> None:
    """Create OUTDIR; refuse, before anything is written, if a planned file exists."""
    create_output_dir(outdir)
    check_planned(outdir, planned, overwrite=overwrite, resume=resume, resumable=resumable)


def check_planned(
    outdir: Path,
    planned: list[str],
    *,
    overwrite: bool,
    resume: bool = False,
    resumable: bool = True,
) -> None:
    """Refuse unsafe names, and planned files that exist (unless ``overwrite``/``resume``).
    Called before OUTDIR is touched (a refused run changes nothing) and again under the lock.
    """
    for name in planned:
        if Path(name).name != name or name in ("", ".", ".."):
            raise OutputError(f"refusing unsafe output name {name!r}")
    folders = [
        name
        for name in [*planned, MANIFEST]
        if (outdir / name).is_dir() and not (outdir / name).is_symlink()
    ]
    if folders:
        raise OutputError(
            f"{outdir}: {folders[0]} is a folder where a report goes; nothing was "
            "written (move it away)"
        )
    if overwrite or resume or not outdir.is_dir():
        return
    existing = [name for name in planned if os.path.lexists(outdir / name)]
    if existing:
        shown = ", ".join(existing[:3]) + (
            f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        )
        hint = "--overwrite to replace" + (", or --resume to finish a run" if resumable else "")
        raise OutputError(f"{outdir}: {shown} already exist; nothing was written (use {hint})")


def manifest_entries(outdir: Path) -> list[dict]:
    """The file entries of an existing ``manifest.json``; none when absent or unreadable."""
    data = read_in_outdir(outdir / MANIFEST)
    if data is None:
        return []
    try:
        manifest = json.loads(data.decode("utf-8"))
        return [e for e in manifest["files"] if isinstance(e, dict)]
    except (AttributeError, ValueError, KeyError, TypeError, RecursionError):
        return []


def carried_entries(outdir: Path, replaced: set[str]) -> list[dict]:
    """Entries of an existing manifest that this run leaves in place (other kinds of report,
    other patients), kept only while their file still has the recorded sha256."""
    kept = []
    for entry in manifest_entries(outdir):
        path = entry.get("path")
        if not isinstance(path, str) or path in replaced or Path(path).name != path:
            continue
        data = read_in_outdir(outdir / path)
        if data is not None and sha256_bytes(data) == entry.get("sha256"):
            kept.append(entry)
    return kept


def remove_run_temps(outdir: Path, run_id: str) -> None:
    """Remove this run's temporary files (never another run's)."""
    for temp in outdir.glob(f"{TEMP_PREFIX}{run_id}-*"):
        temp.unlink(missing_ok=True)


def remove_stale_temps(outdir: Path) -> None:
    """Remove temporary files left by killed runs: those whose run's process is gone (and the
    untagged ones of older versions). Call with the lock held."""
    for temp in outdir.glob(f"{TEMP_PREFIX}*"):
        tagged = _RUN_TEMP.match(temp.name)
        ours = (
            not _process_alive(int(tagged.group(1)))
            if tagged is not None
            else bool(_OUR_TEMP.fullmatch(temp.name))
        )  # an older version's temp
        try:  # only regular files: a user's .tmp-* folder or link is left alone
            if ours and stat.S_ISREG(temp.lstat().st_mode):
                temp.unlink()
        except OSError:
            continue


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def rules_fields(rules: RuleSet) -> dict[str, str]:
    """What a file entry records of the rule set that made it: name, version, digest, criteria."""
    return {
        "rules_name": rules.name,
        "rules_version": rules.version,
        "rules_digest": rules.digest,
        "criteria": rules.criteria,
    }


def write_manifest(
    outdir: Path,
    entries: list[dict],
    errors: list[dict],
    *,
    last_run: dict,
    run_id: str | None = None,
) -> Path:
    """``manifest.json``: every complete file with its sha256 and rule set, the last run's
    problems, and ``last_run`` (command, status, tool and rule set of that run only).

    ``tool_version``, ``rules_name`` and ``rules_version`` at the top level are kept for the
    contract (v2 §3) and also describe the last run only; each file names its own rule set."""
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "tool_version": last_run["tool_version"],
        "rules_name": last_run["rules_name"],
        "rules_version": last_run["rules_version"],
        "last_run": last_run,
        "files": sorted(entries, key=lambda e: e["path"]),
        "errors": errors,
    }
    path = outdir / MANIFEST
    atomic_write(path, dump_json(manifest), run_id)
    return path


def remove_manifest(outdir: Path) -> None:
    """No manifest rather than a wrong one (when it cannot be rewritten: a full disk)."""
    (outdir / MANIFEST).unlink(missing_ok=True)


def dump_json(data: object) -> bytes:
    """Stable JSON bytes: sorted keys would reorder the contract, so keep insertion order.

    Text that UTF-8 cannot encode (lone surrogates, e.g. from a JSON input's ``"\\ud800"``)
    is written as JSON ``\\uXXXX`` escapes instead of crashing."""
    text = json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(data, ensure_ascii=True, indent=2, allow_nan=False) + "\n").encode()


class Journal:
    """Append-only record of completed reports, fsynced line by line (crash-safe resume)."""

    def __init__(self, outdir: Path):
        self.path = outdir / JOURNAL

    def read(self) -> dict[str, dict]:
        """``{input_key: entry}`` for every complete line; a torn last line is ignored."""
        data = read_in_outdir(self.path)
        if data is None:
            if os.path.lexists(self.path):
                raise OutputError(
                    f"{self.path}: the resume journal is not a regular file (a "
                    "link?); remove it, nothing was written"
                )
            return {}
        done = {}
        for line in data.decode("utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                continue
            if isinstance(entry, dict) and "key" in entry:
                done[entry["key"]] = entry
        return done

    def append(self, entry: dict) -> None:
        # ASCII escapes: any str can be written, lone surrogates from a JSON input included
        line = json.dumps(entry, ensure_ascii=True, sort_keys=True) + "\n"
        try:
            fd = open_in_outdir(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        except OSError as exc:
            raise OutputError(
                f"{self.path}: cannot write the resume journal "
                f"({exc.strerror or exc}); remove it if it is a link"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(line)
            stream.flush()
            os.fsync(stream.fileno())

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)


def assign_stems(patient_ids: list[str]) -> dict[str, str]:
    """File stems for ids, unique even on case-insensitive file systems."""
    stems = {pid: sanitise_id(pid) for pid in patient_ids}
    folded: dict[str, list[str]] = {}
    for pid, stem in stems.items():
        folded.setdefault(stem.casefold(), []).append(pid)
    for pids in folded.values():
        if len(pids) > 1:
            for pid in pids:
                digest = hashlib.sha256(pid.encode("utf-8", "surrogatepass")).hexdigest()[:10]
                if not stems[pid].endswith(digest):
                    stems[pid] = f"{stems[pid]}-{digest}"
    if len(set(s.casefold() for s in stems.values())) != len(stems):
        raise OutputError("two patient ids map to the same file name; rename one of them")
    return stems

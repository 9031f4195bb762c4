"""Safe output: sanitised file names, atomic writes, no silent overwrite, the manifest."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
import unicodedata
from pathlib import Path

from reportgen.errors import OutputError

MANIFEST = "manifest.json"
JOURNAL = ".reportgen-journal.jsonl"  # one line per completed report, for --resume
SCHEMA_VERSION = "1"
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_MAX_STEM_CHARS = 80
# Bytes, not characters: 80 CJK characters are 240 bytes, and "patient-<stem>-<hash>.fhir.json"
# must stay below the usual 255-byte file-name limit (ext4, APFS, NTFS).
_MAX_STEM_BYTES = 120
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                     *(f"lpt{i}" for i in range(10))}


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
    fd = os.open(path, flags | _NOFOLLOW | (os.O_NONBLOCK if flags == os.O_RDONLY else 0),
                 mode)
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


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory, fsync, then rename."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, 0o666 & ~_UMASK)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def prepare_output_dir(outdir: Path, planned: list[str], *, overwrite: bool,
                       resume: bool = False, resumable: bool = True) -> None:
    """Create OUTDIR; refuse, before anything is written, if a planned file exists."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{outdir}: cannot create output directory ({exc.strerror})") from None
    if not os.access(outdir, os.W_OK):
        raise OutputError(f"{outdir}: output directory is not writable")
    for name in planned:
        if Path(name).name != name or name in ("", ".", ".."):
            raise OutputError(f"refusing unsafe output name {name!r}")
    folders = [name for name in [*planned, MANIFEST]
               if (outdir / name).is_dir() and not (outdir / name).is_symlink()]
    if folders:
        raise OutputError(f"{outdir}: {folders[0]} is a folder where a report goes; nothing was "
                          "written (move it away)")
    if overwrite or resume:
        return
    existing = [name for name in planned if os.path.lexists(outdir / name)]
    if existing:
        shown = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3
                                           else "")
        hint = "--overwrite to replace" + (", or --resume to finish a run" if resumable else "")
        raise OutputError(f"{outdir}: {shown} already exist; nothing was written (use {hint})")


def manifest_entries(outdir: Path) -> list[dict]:
    """The file entries of an existing ``manifest.json``; none when absent or unreadable."""
    data = read_in_outdir(outdir / MANIFEST)
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


def remove_stale_temps(outdir: Path) -> None:
    """Remove temporary files left by a killed run (they never hold a complete report):
    only regular files named as ``atomic_write`` names them; a user's ``.tmp-notes`` file,
    a ``.tmp-*`` folder or link is left alone."""
    for temp in outdir.glob(".tmp-*"):
        try:
            if _OUR_TEMP.fullmatch(temp.name) and stat.S_ISREG(temp.lstat().st_mode):
                temp.unlink()
        except OSError:
            continue


def write_manifest(outdir: Path, entries: list[dict], errors: list[dict], *, tool_version: str,
                   rules_version: str, rules_name: str) -> Path:
    """``manifest.json``: every complete file with its sha256, and every problem."""
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "tool_version": tool_version,
        "rules_name": rules_name,
        "rules_version": rules_version,
        "files": sorted(entries, key=lambda e: e["path"]),
        "errors": errors,
    }
    path = outdir / MANIFEST
    atomic_write(path, dump_json(manifest))
    return path


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
                raise OutputError(f"{self.path}: the resume journal is not a regular file (a "
                                  "link?); remove it, nothing was written")
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
            raise OutputError(f"{self.path}: cannot write the resume journal "
                              f"({exc.strerror or exc}); remove it if it is a link") from None
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

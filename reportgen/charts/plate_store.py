"""Plate backgrounds on disk, so that a new process need not draw them again (issue 19).

A file holds the RGBA pixels of one plate's static part. Its name is a hash of the plate's key
(kind, thresholds, words, data digest, language) and of everything else that decides those
pixels: the sources of `reportgen.charts` and `reportgen.i18n`, the language's catalogue, the
chart font files, and the matplotlib, FreeType and NumPy versions. Any change gives new names;
old files are pruned (at most `_MAX_FILES` are kept, least recently used first).

Where: ``$REPORTGEN_CACHE_DIR/plates`` (``REPORTGEN_CACHE_DIR=""`` turns the cache off), else
``$XDG_CACHE_HOME/reportgen/plates`` or ``~/.cache/reportgen/plates``. Files are written to a
temporary name and renamed (readers never see half a file); a file whose header, size or
checksum is wrong is ignored and rewritten; a directory that cannot be written is skipped. The
output is the same with or without the cache (tested byte for byte).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import time
from collections.abc import Hashable
from importlib import resources
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib import ft2font

from reportgen import i18n, models
from reportgen.cache_dir import cache_root
from reportgen.charts.style import font_files

_MAGIC = b"RGPLATE1"
_HEADER = len(_MAGIC) + 8 + 16  # magic, height and width (u32 big-endian), blake2b-128
_MAX_FILES = 64  # ~2-4 MB each
# models: the bone-status labels the zones print (models.STATUS_LABELS)
_SOURCES = (
    Path(__file__).resolve().parent,
    Path(i18n.__file__).resolve(),
    Path(models.__file__).resolve(),
)


def directory() -> Path | None:
    """The plate cache directory (not created here), or None when the cache is off."""
    root = cache_root()
    return None if root is None else root / "plates"


@functools.cache
def _environment(lang: str) -> bytes:
    """A digest of everything besides the plate's key that decides its pixels."""
    h = hashlib.blake2b(digest_size=16)
    versions = (mpl.__version__, ft2font.__freetype_version__, np.__version__)
    h.update(repr(versions).encode())
    sources = sorted(
        path
        for source in _SOURCES
        for path in (source.glob("*.py") if source.is_dir() else [source])
    )
    if len(sources) < 2:  # installed without sources: code changes could not be seen
        raise OSError("no sources of reportgen.charts to hash")
    fonts = [Path(path) for path in font_files()]
    for path in [*sources, *fonts]:
        h.update(f"\0{path.name}\0".encode())
        h.update(path.read_bytes())
    catalogue = resources.files("reportgen").joinpath(f"locale/{lang}/LC_MESSAGES/reportgen.po")
    if catalogue.is_file():
        h.update(catalogue.read_bytes())
    return h.digest()


def name(kind: str, key: tuple[Hashable, ...]) -> str | None:
    """The file name of a plate (`key` ends with the language), or None if it cannot be named
    (a font or the sources unreadable: then nothing is cached)."""
    try:
        environment = _environment(i18n.current())
    except OSError:
        return None
    digest = hashlib.blake2b(environment + repr((kind, key)).encode(), digest_size=16)
    return f"{kind}-{digest.hexdigest()}.plate"


def load(filename: str | None, shape: tuple[int, int, int]) -> np.ndarray | None:
    """The stored pixels of that shape, or None (no cache, no file, or a file not to trust)."""
    folder = directory()
    if folder is None or filename is None:
        return None
    path = folder / filename
    try:
        data = path.read_bytes()
    except OSError:
        return None
    height, width, depth = shape
    pixels = memoryview(data)[_HEADER:]
    if (
        len(pixels) != height * width * depth
        or data[: len(_MAGIC)] != _MAGIC
        or data[len(_MAGIC) : _HEADER - 16] != _dimensions(height, width)
        or data[_HEADER - 16 : _HEADER] != _checksum(pixels)
    ):
        return None
    try:
        os.utime(path)  # recently used: kept by `_prune`
    except OSError:
        pass
    return np.frombuffer(pixels, dtype=np.uint8).reshape(shape)


def save(filename: str | None, pixels: np.ndarray) -> None:
    """Store a plate's pixels atomically; any error (read-only, full disk) is ignored."""
    folder = directory()
    if folder is None or filename is None:
        return
    height, width = pixels.shape[:2]
    body = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(_MAGIC + _dimensions(height, width) + _checksum(body) + body)
            os.replace(temporary, folder / filename)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _prune(folder)
    except OSError:
        return


def _dimensions(height: int, width: int) -> bytes:
    return height.to_bytes(4, "big") + width.to_bytes(4, "big")


def _checksum(pixels: bytes | memoryview) -> bytes:
    return hashlib.blake2b(pixels, digest_size=16).digest()


def _prune(folder: Path) -> None:
    """Keep the `_MAX_FILES` most recently used plates; drop temporaries older than an hour
    (left by a process killed while writing)."""
    stale = time.time() - 3600
    for path in folder.glob(".*.tmp"):
        if path.stat().st_mtime < stale:
            path.unlink(missing_ok=True)
    files = list(folder.glob("*.plate"))
    if len(files) <= _MAX_FILES:
        return
    files.sort(key=lambda path: path.stat().st_mtime_ns)
    for path in files[: len(files) - _MAX_FILES]:
        path.unlink(missing_ok=True)

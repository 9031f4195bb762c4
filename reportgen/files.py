"""Reading a user-named file safely: a regular file only, never more than a limit.

``Path.read_bytes()`` on ``/dev/zero`` reads until memory runs out and on a FIFO waits for a
writer forever (issue 16, class 7): the file is opened without blocking, checked with fstat,
and read up to ``max_bytes + 1`` bytes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class FileRefused(Exception):
    """The file cannot be read safely; ``str(e)`` is the reason (no path)."""


def read_limited(path: Path | str, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``; refused when larger than ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileRefused(exc.strerror or type(exc).__name__) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused("not a regular file")
        if info.st_size > max_bytes:
            raise FileRefused(f"{info.st_size:,} bytes; the limit is {max_bytes:,}")
        chunks, size = [], 0
        while chunk := os.read(fd, min(max_bytes + 1 - size, 1 << 20) or 1):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:  # grew while being read
                raise FileRefused(f"more than {max_bytes:,} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise FileRefused(exc.strerror or type(exc).__name__) from None
    finally:
        os.close(fd)

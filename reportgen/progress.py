"""Progress of a long run: a redrawn line on a terminal, a log line every few seconds off one.

The rate is measured from the first completion on, over the last :data:`WINDOW_S` seconds, so
the ETA follows what the run does now: not the start-up (spawning workers, importing
WeasyPrint), not a burst of chunks."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

WINDOW_S = 30.0
MIN_SPAN_S = 3.0  # no rate from a single burst (workers report chunks of several patients)
TERMINAL_REDRAW_S = 0.25
LOG_EVERY_S = 5.0
logger = logging.getLogger("reportgen.progress")


class Progress:
    """Call with ``(done, total)``; ``close()`` ends a terminal line."""

    def __init__(
        self,
        stream: TextIO,
        *,
        terminal: bool,
        label: str = "reports",
        every_s: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream = stream
        self.terminal = terminal
        self.label = label
        self.every_s = TERMINAL_REDRAW_S if terminal else every_s
        self.clock = clock
        self._samples: deque[tuple[float, int]] = deque()
        self._shown_at: float | None = None
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if done > 0:  # start-up time is not part of the rate
            self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] > WINDOW_S:
            self._samples.popleft()
        if self._shown_at is None:
            self._shown_at = now  # off a terminal, the first line only after every_s:
            if not self.terminal:  # short runs stay quiet
                return
        elif done < total and now - self._shown_at < self.every_s:
            return
        if done == total and not self.terminal:
            return  # the result line says it
        self._shown_at = now
        self._show(describe(done, total, self.rate(), self.label))

    def rate(self) -> float | None:
        """Reports per second over the window; None until completions span MIN_SPAN_S."""
        if not self._samples:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if d1 - d0 <= 0 or t1 - t0 < MIN_SPAN_S:
            return None
        return (d1 - d0) / (t1 - t0)

    def close(self) -> None:
        if self.terminal and self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def _show(self, text: str) -> None:
        if self.terminal:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()
            self._drawn = True
        else:
            logger.info("progress: %s", text)


def describe(done: int, total: int, rate: float | None, label: str = "reports") -> str:
    """``37/200 reports (18%), 2.1/s, ETA 1m18s``."""
    percent = 100 * done // total if total else 100
    text = f"{done}/{total} {label} ({percent}%)"
    if rate:
        text += f", {rate:.1f}/s, ETA {format_seconds((total - done) / rate)}"
    return text


def format_seconds(seconds: float) -> str:
    """``45s``, ``3m05s``, ``2h04m``."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"

"""Garbage-collector settings for processes that make reports (issue 19).

A report allocates hundreds of thousands of short-lived objects (WeasyPrint boxes, styles,
Pango wrappers); with CPython's default thresholds (700, 10, 10) the collector keeps walking the
long-lived objects of the imports, fonts, templates and chart plates as well.
After the first report those are frozen (``gc.freeze``: never scanned again) and the young
generation is collected less often. Measured: -11 ms per warm report (0.94x), RSS flat
(docs/decisions.md, Performance II).
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

WORKER_THRESHOLDS = (50_000, 20, 100)  # gen0 allocations, gen1 and gen2 collection ratios


def settle() -> None:
    """Collect once, freeze the survivors, raise the thresholds, (re-)enable collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*WORKER_THRESHOLDS)
    gc.enable()


def skip_exit_collection() -> None:
    """Freeze the heap at interpreter exit: CPython's final collection would walk every
    object of pandas, matplotlib and WeasyPrint only to free memory the OS takes back anyway
    (~0.28 s CPU of a one-patient run). Registered once per process."""
    if not _EXIT_HOOK:
        _EXIT_HOOK.append(atexit.register(gc.freeze))


_EXIT_HOOK: list = []


@contextmanager
def one_shot() -> Iterator[None]:
    """A command that makes a report and exits: no collections meanwhile (imports and the
    first report; a batch settles after its first report), none at exit. The previous state
    comes back at the end of the block."""
    enabled = gc.isenabled()
    gc.disable()
    skip_exit_collection()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def start_worker() -> None:
    """A pool worker: no collection during its imports and first report (it settles after),
    none at its exit."""
    gc.disable()
    skip_exit_collection()


@contextmanager
def report_loop() -> Iterator[Callable[[], None]]:
    """Reports made in the caller's process: ``settled()`` after the first report applies
    :func:`settle`; the caller's collector settings come back at the end."""
    thresholds, enabled, frozen = gc.get_threshold(), gc.isenabled(), gc.get_freeze_count()
    done = [False]

    def settled() -> None:
        if not done[0]:
            done[0] = True
            settle()

    try:
        yield settled
    finally:
        if done[0]:
            if not frozen:  # (a caller's own frozen objects stay frozen, and so do ours)
                gc.unfreeze()
            gc.set_threshold(*thresholds)
            (gc.enable if enabled else gc.disable)()

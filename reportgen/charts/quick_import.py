"""matplotlib's import without its docstring building: 60 ms of a cold report's 1.4 s.

At import, matplotlib writes the property list of every Artist subclass into the docstring of
its ``set()`` (``Artist.__init_subclass__`` -> ``kwdoc``), parsing the docstrings of some 4,500
setters: about 60 ms of CPU (paired, `benchmarks/levers.py`), for text only ``help()`` shows.
Replacing ``matplotlib.artist.kwdoc`` by an empty list before ``matplotlib.figure`` is
imported skips it; drawing does not read docstrings, so every chart keeps its bytes (golden
chart hashes, tests/test_golden.py). Only on the matplotlib versions it was checked on (3.11);
on any other, or when matplotlib's artists were already built, nothing changes. Imported first
by :mod:`reportgen.charts`."""

from __future__ import annotations

import sys

CHECKED_VERSIONS = ("3.11.",)


def _no_property_list(artist: object) -> str:
    return ""


def install() -> bool:
    """Skip the property lists if it is still possible and safe; whether it was done."""
    if "matplotlib.figure" in sys.modules:  # the artists exist: too late, and harmless
        return False
    import matplotlib
    import matplotlib.artist

    if not matplotlib.__version__.startswith(CHECKED_VERSIONS):
        return False
    if not callable(getattr(matplotlib.artist, "kwdoc", None)):
        return False
    matplotlib.artist.kwdoc = _no_property_list
    return True


INSTALLED = install()

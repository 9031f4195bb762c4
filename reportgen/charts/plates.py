"""The figure cache: "plates" whose static part is drawn once and whose few dynamic artists
(the patient's marker and label, a timeline's bars) are drawn over a copy of it per call.

Per process: up to `_CACHE_SIZE` plates per chart kind (keyed by everything static: reference
data digest, thresholds, axis range, labels, language), LRU. A plate holds ~7 MB for a
scatter, ~2 MB for the band or the timeline. A plate's background can also come from disk
(`reportgen.charts.plate_store`): the same pixels, without drawing them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.figure import Figure

from reportgen import i18n
from reportgen.charts import plate_store
from reportgen.charts.png import encode_png
from reportgen.charts.style import LOCK, canvas

_CACHE_SIZE = 6  # cached plates per chart kind
_PNG_CACHE_SIZE = 512  # finished PNGs kept by `memo_png`


class Plate:
    """A figure whose static part is rendered once; only `dynamic` artists are redrawn.

    `update(*args)` moves the dynamic artists for one call. The dynamic artists are drawn
    over the same background pixels whether the plate is warm, new or read from disk, so equal
    arguments give byte-identical PNGs.
    """

    def __init__(self, fig: Figure, dynamic: Sequence[Artist], update: Callable[..., None]) -> None:
        self.fig = fig
        self.canvas = canvas(fig)
        self.dynamic = list(dynamic)
        self.update = update
        for artist in self.dynamic:
            artist.set_animated(True)  # excluded from canvas.draw()

    def paint(self, stored: np.ndarray | None = None) -> np.ndarray:
        """Draw the static part, or paste `stored` pixels of it; returns the (H, W, 4) pixels."""
        if stored is None:
            self.canvas.draw()
        else:
            np.asarray(self.canvas.get_renderer().buffer_rgba())[...] = stored
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        return np.asarray(self.canvas.buffer_rgba())

    def shape(self) -> tuple[int, int, int]:
        """The (height, width, 4) shape of the canvas' RGBA pixels."""
        width, height = self.canvas.get_width_height(physical=True)
        return height, width, 4

    def render(self, *args: object) -> bytes:
        """The PNG for one set of dynamic arguments."""
        self.canvas.restore_region(self.background)
        self.update(*args)
        for artist in self.dynamic:
            if artist.get_visible():
                self.fig.draw_artist(artist)
        return encode_png(self.canvas)


_CACHES: dict[str, OrderedDict[tuple[Hashable, ...], Plate]] = {}
_PNGS: OrderedDict[tuple[Hashable, ...], bytes] = OrderedDict()


def plate(
    kind: str, key: tuple[Hashable, ...], build: Callable[[], Plate], *, persist: bool = False
) -> Plate:
    """The cached plate of `kind` for `key` in the current language, built if needed (call
    under `LOCK` and `style()`). `persist`: its background may be read from and written to the
    disk cache (only for backgrounds without patient data; see `plate_store`)."""
    cache = _CACHES.setdefault(kind, OrderedDict())
    key = (*key, i18n.current())  # the plate's static words are in the report's language
    found = cache.get(key)
    if found is not None:
        cache.move_to_end(key)
        return found
    new = build()
    if persist:
        name = plate_store.name(kind, key)
        stored = plate_store.load(name, new.shape())
        pixels = new.paint(stored)
        if stored is None:
            plate_store.save(name, pixels)
    else:
        new.paint()
    cache[key] = new
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return new


def memo_png(key: tuple[Hashable, ...], make: Callable[[], bytes]) -> bytes:
    """A finished PNG by `key` (+ language), made once while it stays among the recent ones."""
    key = (*key, i18n.current())
    png = _PNGS.get(key)
    if png is None:
        png = _PNGS[key] = make()
        if len(_PNGS) > _PNG_CACHE_SIZE:
            _PNGS.popitem(last=False)
    else:
        _PNGS.move_to_end(key)
    return png


def render_once(fig: Figure) -> bytes:
    """Draw a whole (uncached) figure and encode it."""
    agg = canvas(fig)
    agg.draw()
    return encode_png(agg)


def clear_cache() -> None:
    """Drop all cached figures and PNGs of this process (frees memory; results are unaffected)."""
    with LOCK:
        _CACHES.clear()
        _PNGS.clear()

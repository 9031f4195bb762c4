"""Two small, version-guarded speed-ups inside WeasyPrint 70 / pydyf 0.13 (issue 19).

1. PNG pass-through: WeasyPrint decodes every PNG it embeds and encodes it again as PNG, only
   to copy the IDAT chunks into a ``/FlateDecode`` stream with the PNG predictor. An 8-bit
   RGB, non-interlaced PNG (what ``reportgen.charts`` writes) already *is* that stream: its
   IDAT chunks are copied as they are. The decoded pixels are identical (tests/test_pdf_tuning).
2. Stream compression level 6 instead of pydyf's hard-coded 9 (the zlib default: about 3x
   faster on our content streams for ~1 % more bytes).

Neither exists as a WeasyPrint option (70.0 has ``optimize_images``, ``jpeg_quality``,
``dpi`` and ``uncompressed_pdf``, none of which does this). Both are installed once per
process by :func:`install` and only on the versions they were written against; anything else
keeps the normal path. Both keep the output byte-deterministic.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

STREAM_LEVEL = 6  # zlib level for PDF streams (pydyf uses 9; 6 is zlib's own default)
_WEASYPRINT_MAJOR = "70."
_PYDYF_MINOR = "0.13."
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_installed: dict[str, bool] = {}
_ORIGINAL: dict[str, Callable] = {}  # the replaced functions (benchmarks/levers.py: A/B)


def install() -> dict[str, bool]:
    """Install both speed-ups where the library versions match; returns what is active."""
    if not _installed:
        import pydyf
        import weasyprint

        _installed["png_passthrough"] = (
            weasyprint.__version__.startswith(_WEASYPRINT_MAJOR) and _patch_png()
        )
        _installed["stream_level"] = getattr(pydyf, "__version__", "").startswith(
            _PYDYF_MINOR
        ) and _patch_level(pydyf)
    return dict(_installed)


def png_idat(data: bytes) -> bytes | None:
    """The concatenated IDAT data of an 8-bit RGB, non-interlaced PNG; None for any other."""
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    _, _, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if (depth, colour, interlace) != (8, 2, 0):
        return None
    chunks, offset = [], 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        elif kind in (b"tRNS", b"IEND"):  # transparency: WeasyPrint makes it RGBA instead
            break
        offset += 12 + length
    return b"".join(chunks) if chunks and kind == b"IEND" else None


def _patch_png() -> bool:
    from weasyprint.images import RasterImage

    original: Callable = RasterImage._get_png_data
    _ORIGINAL["png"] = original

    def get_png_data(pillow_image) -> bytes:
        # Called with a freshly opened, not yet decoded PNG (``Image.open(BytesIO(data))``);
        # a converted image (alpha split, palette) has no source bytes and takes the normal way.
        source = getattr(pillow_image, "fp", None)
        if isinstance(source, io.BytesIO) and getattr(pillow_image, "format", None) == "PNG":
            idat = png_idat(source.getvalue())
            if idat is not None and pillow_image.mode == "RGB":
                return idat
        return original(pillow_image)

    RasterImage._get_png_data = staticmethod(get_png_data)
    return True


class _Level6Zlib:
    """pydyf's view of ``zlib``: the same module, with level-9 compressors made level 6."""

    def __getattr__(self, name: str):
        return getattr(zlib, name)

    @staticmethod
    def compressobj(level: int = -1, *args, **kwargs):
        return zlib.compressobj(STREAM_LEVEL if level == 9 else level, *args, **kwargs)


def _patch_level(pydyf) -> bool:
    if getattr(pydyf, "zlib", None) is not zlib:
        return isinstance(getattr(pydyf, "zlib", None), _Level6Zlib)
    pydyf.zlib = _Level6Zlib()
    return True

"""The cohort's display bands of the cumulative MgSO4 dose (``reportgen cohort --dose-bands``):
the default edges and their check. Light on purpose: the CLI reads the default for ``--help``."""

from __future__ import annotations

import math
from collections.abc import Sequence

from reportgen.errors import ReportError

# The rule's threshold is always added as an edge (``summary.dose.sorted_band_edges``).
DEFAULT_DOSE_BAND_EDGES_G = (500.0, 1000.0)
MAX_DOSE_BAND_EDGES = 20  # a table of bands, not a histogram
MAX_DOSE_BAND_EDGE_G = 20_000.0  # the cumulative dose's plausible range (columns.py)


def check_dose_band_edges(edges: Sequence[float]) -> tuple[float, ...]:
    """Increasing, positive grams up to 20,000 with at most one decimal (1 to
    ``MAX_DOSE_BAND_EDGES`` of them), else a :class:`ReportError` saying what is wrong."""
    values = tuple(float(e) for e in edges)
    if not values or len(values) > MAX_DOSE_BAND_EDGES:
        raise ReportError(f"dose bands: give 1 to {MAX_DOSE_BAND_EDGES} edges in grams")
    if not all(math.isfinite(e) and e > 0 for e in values) or list(values) != sorted(set(values)):
        raise ReportError("dose bands: increasing positive grams, e.g. 500,1000")
    if any(e > MAX_DOSE_BAND_EDGE_G or round(e, 1) != e for e in values):
        # 999.9999 and 1000.0001 were both labelled "1,000 g"
        raise ReportError(
            f"dose bands: grams up to {MAX_DOSE_BAND_EDGE_G:,.0f} with at most one decimal"
        )
    return values

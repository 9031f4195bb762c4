"""Deterministic PNG charts for the reports (the project's only matplotlib user).

The engine: `style` (print size, colours, fonts, rcParams), `plates` (the figure cache; a
plate's static part is drawn once, the patient's marks per call), `plate_store` (plate
backgrounds on disk, for a cold start) and `png` (the encoder). The charts: `patient` (YAM
band, timeline, exposure so far), `scatter` (dose or days vs YAM, both reports), `cohort`
(status counts) and `followup` (BMD trend, outcomes per site). Every chart returns PNG bytes
at `DPI`; the same arguments give the same bytes, warm, cold or from the disk cache.
"""

from reportgen.charts import quick_import  # noqa: F401, I001  (first: before matplotlib.figure)
from reportgen.charts.cohort import plot_status_counts
from reportgen.charts.followup import SiteSeries, plot_bmd_trend, plot_follow_up_outcomes
from reportgen.charts.patient import plot_cumulative_dose, plot_timeline, plot_yam_zones
from reportgen.charts.plates import clear_cache
from reportgen.charts.scatter import plot_days_vs_yam, plot_dose_vs_yam
from reportgen.charts.style import DPI, FONT_FAMILY, ZONE_COLORS

__all__ = [
    "DPI",
    "FONT_FAMILY",
    "ZONE_COLORS",
    "SiteSeries",
    "clear_cache",
    "plot_bmd_trend",
    "plot_cumulative_dose",
    "plot_days_vs_yam",
    "plot_dose_vs_yam",
    "plot_follow_up_outcomes",
    "plot_status_counts",
    "plot_timeline",
    "plot_yam_zones",
]

"""charts.quick_import: matplotlib imported without its docstring building draws the same
charts, byte for byte, as matplotlib imported whole."""

from __future__ import annotations

import hashlib
import subprocess
import sys

_DRAW = """
import hashlib, sys
if sys.argv[1] == "whole":
    import matplotlib.figure  # the artists are built first: the shortcut must stand down
from reportgen import charts
from reportgen.charts import quick_import
png = charts.plot_yam_zones(68.5) + charts.plot_dose_vs_yam(
    [300.0, 1500.0], [90.0, 65.0], [False, True], highlight=(1200.0, 68.5)
)
print(quick_import.INSTALLED, hashlib.sha256(png).hexdigest())
"""


def _draw(mode: str, tmp_path) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _DRAW, mode],
        capture_output=True,
        text=True,
        check=True,
        env={"REPORTGEN_CACHE_DIR": "", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    installed, digest = done.stdout.split()
    return installed, digest


def test_the_shortcut_changes_no_chart_byte(tmp_path):
    import matplotlib

    quick, whole = _draw("quick", tmp_path), _draw("whole", tmp_path)
    assert whole[0] == "False"
    assert quick[0] == str(matplotlib.__version__.startswith("3.11."))
    assert quick[1] == whole[1]
    assert len(quick[1]) == len(hashlib.sha256(b"").hexdigest())

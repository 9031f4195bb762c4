"""Tests for reportgen.charts: valid, deterministic PNGs; caching; edge cases."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import subprocess
import sys
import warnings
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from reportgen import charts, i18n
from reportgen.charts.followup import legend_label
from reportgen.charts.png import encode_png
from reportgen.charts.scales import date_ticks, day, fmt_num, tick_texts
from reportgen.charts.scatter import HIGHLIGHT
from reportgen.charts.style import canvas, new_figure, style

pytestmark = pytest.mark.filterwarnings("error")

ROOT = Path(__file__).resolve().parent.parent
# Seed Table 1: cumulative MgSO4 dose (g), YAM (%), fracture; MgSO4 days.
DOSES = [1260, 3756, 2484, 1464, 2556, 336, 168, 456, 1488]
YAMS = [62, 67, 73, 75, 84, 87, 89, 91, 99]
FRACTURES = [False, True, False, False, False, False, False, False, False]
DAYS = [37, 85, 58, 36, 57, 13, 14, 11, 31]
EVENTS = [
    ("Hospital stay", date(2024, 1, 10), date(2024, 4, 5)),
    ("MgSO4", date(2024, 1, 12), date(2024, 3, 28)),
    ("Delivery", date(2024, 3, 30), None),
    ("DXA", date(2024, 5, 20), None),
]


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _image(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.convert("RGB")


def _px(cm: float) -> int:
    return round(cm / 2.54 * charts.DPI)


def _size_is(image: Image.Image, width_cm: float, height_cm: float) -> bool:
    """Pixel size matches the print size at charts.DPI (matplotlib truncates: allow 1 px)."""
    return abs(image.width - _px(width_cm)) <= 1 and abs(image.height - _px(height_cm)) <= 1


def _dose(**kwargs: object) -> bytes:
    return charts.plot_dose_vs_yam(DOSES, YAMS, FRACTURES, **kwargs)


# Every public chart, for the generic checks: name -> (call, expected size in cm).
CALLS = {
    "yam_zones": (lambda: charts.plot_yam_zones(67), (17.0, 3.0)),
    "dose": (lambda: _dose(highlight=(3756, 67)), (17.0, 9.0)),
    "dose_title": (lambda: _dose(title="Reference cohort"), (17.0, 9.5)),
    "days": (lambda: charts.plot_days_vs_yam(DAYS, YAMS, FRACTURES), (17.0, 9.0)),
    "status": (
        lambda: charts.plot_status_counts({"normal": 5, "low_bone_mass": 2, "osteoporosis": 2}),
        (12.0, 6.5),
    ),
    "timeline": (lambda: charts.plot_timeline(EVENTS), (17.0, 1.2 + 0.6 * len(EVENTS))),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_png_signature_size_and_content(name: str) -> None:
    call, (width_cm, height_cm) = CALLS[name]
    png = call()
    image = _image(png)
    assert _size_is(image, width_cm, height_cm)
    assert Image.open(io.BytesIO(png)).info.get("dpi") is not None
    colours = image.getcolors(1 << 16)
    assert colours is not None
    assert len(colours) > 10
    # white background, including the corners
    assert image.getpixel((1, 1)) == (255, 255, 255)
    assert image.getpixel((image.width - 2, image.height - 2)) == (255, 255, 255)
    assert 2_000 < len(png) < 60_000


@pytest.mark.parametrize("name", sorted(CALLS))
def test_same_call_twice_gives_same_bytes(name: str) -> None:
    call, _ = CALLS[name]
    assert call() == call()


def _chunk_types(png: bytes) -> list[bytes]:
    types, pos = [], 8
    while pos < len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        types.append(png[pos + 4 : pos + 8])
        pos += 12 + length
    return types


def test_png_has_no_timestamps_or_software_text() -> None:
    for call, _ in CALLS.values():
        types = _chunk_types(call())
        assert types[0] == b"IHDR"
        assert types[-1] == b"IEND"
        assert set(types) <= {b"IHDR", b"pHYs", b"IDAT", b"IEND"}, types


def test_zone_colours_are_exact_in_the_band() -> None:
    image = _image(charts.plot_yam_zones(95))
    y = round(image.height * (1 - (0.62 + 0.95 * 0.15) / 3))  # inside the band, below labels
    for yam, zone in ((45, "osteoporosis"), (71, "low_bone_mass"), (115, "normal")):
        x = round(_px(0.6) + (yam - 40) / 80 * _px(15.8))
        expected = tuple(int(charts.ZONE_COLORS[zone][i : i + 2], 16) for i in (1, 3, 5))
        assert image.getpixel((x, y)) == expected, zone


def test_cached_result_equals_cold_result() -> None:
    shifted = [
        (label, start - timedelta(days=400), end and end - timedelta(days=390))
        for label, start, end in EVENTS
    ]  # same rows, other dates: the plate is reused
    charts.clear_cache()
    first = _dose(highlight=(1260, 62))
    charts.plot_timeline(EVENTS)
    warm = [_dose(highlight=(2484, 73)), charts.plot_yam_zones(73), charts.plot_timeline(shifted)]
    charts.clear_cache()
    cold = [_dose(highlight=(2484, 73)), charts.plot_yam_zones(73), charts.plot_timeline(shifted)]
    assert warm == cold
    assert _dose(highlight=(1260, 62)) == first


@settings(
    max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    dose=st.floats(-100, 6000),
    yam=st.floats(20, 140),
    label=st.text(alphabet="ABP-019 $_^\\{}", max_size=20),
)
def test_highlight_warm_equals_cold(dose: float, yam: float, label: str) -> None:
    _dose(highlight=(500, 80))  # make the plate warm with another highlight
    warm = _dose(highlight=(dose, yam), highlight_label=label)
    charts.clear_cache()
    assert _dose(highlight=(dose, yam), highlight_label=label) == warm


@pytest.mark.slow
def test_fresh_process_gives_the_same_bytes(tmp_path: Path) -> None:
    """Cold calls in a new process (with a hostile matplotlibrc) equal warm calls here."""
    rc = tmp_path / "matplotlibrc"
    rc.write_text(
        "font.size: 20\nlines.linewidth: 5\naxes.facecolor: yellow\n"
        "text.hinting: none\nsavefig.dpi: 42\nfont.family: serif\n"
    )
    script = """
import hashlib, json
from reportgen import charts
from tests.test_charts import _fresh_calls
print(json.dumps([hashlib.sha256(png).hexdigest() for png in _fresh_calls()]))
"""
    env = {
        **os.environ,
        "MATPLOTLIBRC": str(rc),
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    # in this process the plates are warm (other tests ran first, or these calls did)
    _fresh_calls()
    here = [hashlib.sha256(png).hexdigest() for png in _fresh_calls()]
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(out.stdout) == here


def _fresh_calls() -> list[bytes]:
    return [
        charts.plot_yam_zones(67),
        charts.plot_yam_zones(float("nan")),
        _dose(highlight=(3756, 67), highlight_label="Patient 2"),
        charts.plot_status_counts({"normal": 5, "low_bone_mass": 2, "osteoporosis": 2}),
        charts.plot_timeline(EVENTS) or b"",
    ]


def test_highlight_changes_the_image_where_the_patient_is() -> None:
    plain, marked = _image(_dose()), _image(_dose(highlight=(1260, 62)))
    assert plain.size == marked.size
    diff = np.any(np.asarray(plain) != np.asarray(marked), axis=2)
    rows, cols = np.nonzero(diff)
    assert rows.size > 100
    # the ring's yellow is near the patient's point: x = 1260 g of 0-4,000 g, y = 62 % of 40-120
    ax_left, ax_width = _px(1.45), _px(17 - 1.45 - 2.45)
    ax_bottom, ax_height = _px(9 - 1.2), _px(9 - 1.2 - 0.8)
    x = ax_left + 1260 / 4000 * ax_width
    y = ax_bottom - (62 - 40) / 80 * ax_height
    near = np.asarray(marked)[int(y) - 25 : int(y) + 25, int(x) - 25 : int(x) + 25].reshape(-1, 3)
    assert any(tuple(p) == (0xFF, 0xD2, 0x1F) for p in near)
    # moving the highlight or renaming it changes the image too
    assert _dose(highlight=(1260, 62)) != _dose(highlight=(2484, 73))
    assert _dose(highlight=(1260, 62)) != _dose(highlight=(1260, 62), highlight_label="Pt 1")


def test_nan_highlight_is_ignored() -> None:
    assert _dose(highlight=(float("nan"), 62)) == _dose()
    assert _dose(highlight=(1260, float("inf"))) == _dose()


@pytest.mark.parametrize("yam", [-50.0, 0.0, 39.9, 120.1, 250.0, 1e9])
def test_yam_zones_clamps_out_of_range_values(yam: float) -> None:
    assert _size_is(_image(charts.plot_yam_zones(yam)), 17, 3)


def test_yam_zones_off_scale_marker_sits_at_the_end() -> None:
    low, high = _image(charts.plot_yam_zones(10)), _image(charts.plot_yam_zones(300))
    at_40, at_120 = _image(charts.plot_yam_zones(40)), _image(charts.plot_yam_zones(120))

    def marker_columns(image: Image.Image) -> np.ndarray:  # the dark triangle above the band
        row = np.asarray(image)[round(image.height * (1 - (0.62 + 0.95 + 0.2) / 3))]
        return np.nonzero(row.sum(axis=1) < 150)[0]

    assert np.array_equal(marker_columns(low), marker_columns(at_40))
    assert np.array_equal(marker_columns(high), marker_columns(at_120))


def test_yam_zones_nan_and_custom_thresholds() -> None:
    assert charts.plot_yam_zones(float("nan")) != charts.plot_yam_zones(80)
    custom = charts.plot_yam_zones(67, osteoporosis_max_pct=65, normal_min_pct=85)
    assert custom != charts.plot_yam_zones(67)
    with pytest.raises(ValueError, match="osteoporosis_max_pct"):
        charts.plot_yam_zones(67, osteoporosis_max_pct=80, normal_min_pct=70)


def test_scatter_clamps_values_outside_the_axes() -> None:
    wild = charts.plot_dose_vs_yam(
        [-50, 100, 2000, 1e6], [10, 300, 75, 80], [False, True, False, True], highlight=(-5, 500)
    )
    assert _size_is(_image(wild), 17, 9)


def test_scatter_drops_nan_points_and_says_so() -> None:
    with_nan = charts.plot_dose_vs_yam(
        [*DOSES, float("nan"), 100], [*YAMS, 80, float("nan")], [*FRACTURES, False, True]
    )
    _image(with_nan)
    assert with_nan != _dose()  # carries the "2 case(s) with missing values" note


@pytest.mark.parametrize("plot", [charts.plot_dose_vs_yam, charts.plot_days_vs_yam])
def test_empty_cohort_is_a_valid_png(plot) -> None:
    assert _size_is(_image(plot([], [], [])), 17, 9)


def test_empty_cohort_with_highlight() -> None:
    image = _image(charts.plot_dose_vs_yam([], [], [], highlight=(1200, 71)))
    assert (0xFF, 0xD2, 0x1F) in {c for _, c in image.getcolors(1 << 16)}


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="length mismatch"):
        charts.plot_dose_vs_yam([1, 2], [60], [False, True])


def test_large_cohort_uses_density_and_stays_valid() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    doses = rng.gamma(2.0, 700.0, n)
    yams = rng.normal(82, 10, n)
    fractures = rng.random(n) < 0.05
    png = charts.plot_dose_vs_yam(doses, yams, fractures, title="Cohort")
    assert _size_is(_image(png), 17, 9.5)
    assert png == charts.plot_dose_vs_yam(list(doses), list(yams), list(fractures), title="Cohort")


def test_status_counts_zero_missing_and_bad_keys() -> None:
    zero = _image(charts.plot_status_counts({"normal": 0, "low_bone_mass": 0, "osteoporosis": 0}))
    assert _size_is(zero, 12, 6.5)
    assert charts.plot_status_counts({}) == charts.plot_status_counts(
        {"normal": 0, "low_bone_mass": 0, "osteoporosis": 0}
    )
    one = charts.plot_status_counts({"osteoporosis": 1})
    assert one != charts.plot_status_counts({})
    with pytest.raises(ValueError, match="unknown status"):
        charts.plot_status_counts({"normal": 1, "fracture": 2})
    with pytest.raises(ValueError, match="negative"):
        charts.plot_status_counts({"normal": -1})


def test_status_counts_uses_zone_colours() -> None:
    image = _image(charts.plot_status_counts({"normal": 4, "low_bone_mass": 4, "osteoporosis": 4}))
    present = {c for _, c in image.getcolors(1 << 16)}
    for colour in charts.ZONE_COLORS.values():
        assert tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) in present


def test_timeline_needs_two_dated_events() -> None:
    assert charts.plot_timeline([]) is None
    assert charts.plot_timeline([("Delivery", date(2024, 3, 30), None)]) is None
    assert (
        charts.plot_timeline([("Delivery", date(2024, 3, 30), None), ("DXA", None, None)]) is None
    )  # type: ignore[list-item]
    png = charts.plot_timeline(
        [("Delivery", date(2024, 3, 30), None), ("DXA", date(2024, 3, 31), None)]
    )
    assert png is not None
    assert _size_is(_image(png), 17, 1.2 + 0.6 * 2)


def test_timeline_rejects_end_before_start_and_handles_long_spans() -> None:
    with pytest.raises(ValueError, match="ends before"):
        charts.plot_timeline(
            [("Stay", date(2024, 3, 2), date(2024, 3, 1)), ("DXA", date(2024, 5, 1), None)]
        )
    years = charts.plot_timeline(
        [("Stay $x$ ^_", date(2019, 1, 1), date(2024, 12, 31)), ("DXA", date(2025, 1, 2), None)]
    )
    assert years is not None
    _image(years)


def test_date_ticks_are_bounded_and_on_boundaries() -> None:
    for lo, hi in ((0.0, 3.0), (0.0, 40.0), (19000.0, 19130.0), (17000.0, 20000.0)):
        ticks = date_ticks(lo, hi)
        assert 2 <= len(ticks) <= 7
        assert all(lo <= t <= hi for t in ticks)
        assert all(float(t).is_integer() for t in ticks)


@pytest.mark.parametrize(
    ("lo", "hi", "en", "ja"),
    [
        (date(2020, 6, 1), date(2020, 6, 4), "1 Jun 2020", "2020年6月1日"),  # days
        (date(2020, 6, 1), date(2020, 8, 1), "1 Jun 2020", "2020年6月1日"),  # weeks
        (date(2020, 5, 20), date(2021, 7, 1), "Jul 2020", "2020年7月"),  # months: no day
    ],
)
def test_month_ticks_are_labelled_by_month(lo, hi, en, ja) -> None:
    """Seven full Japanese dates (2020年11月1日) overran each other on the follow-up chart."""
    ticks = date_ticks(day(lo), day(hi))
    with i18n.using("en"):
        assert tick_texts(ticks)[0] == en
    with i18n.using("ja"):
        labels = tick_texts(ticks)
    assert labels[0] == ja
    assert max(len(label) for label in labels) <= 11


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("Femoral neck", "Femoral neck"),
        ("大腿骨頸部", "大腿骨頸部"),
        ("大腿骨近位部（全体）", "大腿骨近位部\n（全体）"),  # was cut at the figure's edge
        ("L1–L4 (L2 excluded)", "L1–L4\n(L2 excluded)"),
        ("A very long site name here", "A very long site name\nhere"),
    ],
)
def test_long_site_names_are_broken_to_fit_the_legend(label, shown) -> None:
    assert legend_label(label) == shown


@pytest.mark.parametrize(
    ("value", "text"),
    [(67, "67"), (67.25, "67.2"), (1260, "1,260"), (99.96, "100"), (math.pi, "3.1")],
)
def test_number_format(value: float, text: str) -> None:
    assert fmt_num(value) == text


def test_user_text_is_not_parsed_as_mathtext() -> None:
    odd = "P$1$ {x}^_\\"
    png = charts.plot_dose_vs_yam(
        DOSES, YAMS, FRACTURES, highlight=(1000, 70), highlight_label=odd, title=f"Cohort {odd}"
    )
    assert _size_is(_image(png), 17, 9.5)
    timeline = charts.plot_timeline([(odd, date(2024, 1, 1), None), ("$", date(2024, 2, 1), None)])
    assert timeline is not None
    _image(timeline)


def test_png_is_the_drawn_canvas_exactly() -> None:
    """The encoder writes the canvas' pixels unchanged: 8-bit RGB, not interlaced (what
    WeasyPrint embeds as it is), with the resolution in a pHYs chunk."""
    with style():
        fig = new_figure(4.0, 2.0)
        ax = fig.add_axes((0.2, 0.2, 0.7, 0.7))
        ax.plot([0, 1], [1, 0], color="#3b5b92", linewidth=2)
        ax.text(0.5, 0.5, "YAM 67 %", color="#c0392b")
        agg = canvas(fig)
        agg.draw()
        drawn = np.asarray(agg.buffer_rgba())[..., :3].copy()
        png = encode_png(agg)
    assert png[24:29] == b"\x08\x02\x00\x00\x00"  # IHDR: depth 8, RGB, no interlace
    assert _chunk_types(png) == [b"IHDR", b"pHYs", b"IDAT", b"IEND"]
    image = Image.open(io.BytesIO(png))
    assert image.mode == "RGB"
    assert image.info["dpi"] == pytest.approx(
        (charts.DPI, charts.DPI), abs=0.05
    )  # pixels per metre
    assert np.array_equal(np.asarray(image), drawn)
    assert len(np.unique(drawn.reshape(-1, 3), axis=0)) > 20  # antialiased: not a flat image


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_chart_is_an_8_bit_rgb_png(name: str) -> None:
    png = CALLS[name][0]()
    assert png[24:29] == b"\x08\x02\x00\x00\x00"
    assert _chunk_types(png) == [b"IHDR", b"pHYs", b"IDAT", b"IEND"]


# --- the patient's own point on the dose chart (clinical-rules §6, v2) -----------------------


def _highlight_pixels(png: bytes) -> int:
    """Pixels of the highlight halo's colour (the ring around this patient's point)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    colour = np.array([int(HIGHLIGHT[i : i + 2], 16) for i in (1, 3, 5)])
    return int(np.count_nonzero(np.abs(rgb - colour).sum(axis=2) < 40))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dose=st.floats(min_value=0, max_value=20000, allow_nan=False),
    yam=st.floats(min_value=20, max_value=150, allow_nan=False),
)
def test_the_patients_point_is_always_drawn_beside_the_case_series(dose, yam):
    from reportgen.context import PATIENT_SCATTER_CM, reference_cohort

    doses, yams, fractures = zip(*reference_cohort(), strict=True)
    png = charts.plot_dose_vs_yam(
        doses, yams, fractures, highlight=(dose, yam), size_cm=PATIENT_SCATTER_CM
    )
    assert _highlight_pixels(png) > 50
    plain = charts.plot_dose_vs_yam(doses, yams, fractures, size_cm=PATIENT_SCATTER_CM)
    assert _highlight_pixels(plain) == 0


def test_a_trend_segment_across_other_vertebrae_is_drawn_as_a_break() -> None:
    """The table refused to compare L1–L4 with L2–L4 (L1 excluded); the chart drew a solid
    line to a point outside the band, reading as a change beyond the LSC."""
    from reportgen.charts.followup import SiteSeries, plot_bmd_trend

    points = (
        (date(2024, 1, 1), 0.80, ""),
        (date(2024, 7, 1), 0.81, ""),
        (date(2025, 1, 1), 0.95, ""),
    )
    solid = plot_bmd_trend([SiteSeries("L1–L4", points, 5.3, (False, False))])
    broken = plot_bmd_trend([SiteSeries("L1–L4", points, 5.3, (False, True))])
    assert solid is not None
    assert broken is not None
    assert solid != broken  # the last segment is dashed
    assert plot_bmd_trend([SiteSeries("L1–L4", points, 5.3)]) == solid  # no device change

"""Progress lines (issue 17): every few seconds off a terminal, with a rate measured from the
first completion over a sliding window, so the ETA is not thrown off by the start-up."""

from __future__ import annotations

import io
import logging

import pytest

from reportgen.progress import Progress, describe, format_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_off_a_terminal_a_line_every_few_seconds_with_an_honest_eta(caplog):
    clock = Clock()
    progress = Progress(io.StringIO(), terminal=False, every_s=5.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="reportgen.progress"):
        progress(0, 100)
        clock.now = 20.0  # 20 s of start-up (workers, imports): not part of the rate
        for done in range(1, 101):  # then 2 reports per second, in bursts of 4
            if done % 4 == 1:
                clock.now += 2.0
            progress(done, 100)
    lines = [r.getMessage() for r in caplog.records]
    assert 8 <= len(lines) <= 12  # ~50 s of work, one line per 5 s, none for the last
    assert all(line.startswith("progress: ") for line in lines)
    first_with_rate = next(line for line in lines if "/s" in line)
    assert "2.0/s" in first_with_rate
    done = int(first_with_rate.split()[1].split("/")[0])
    eta = first_with_rate.rsplit("ETA ", 1)[1]
    assert eta == format_seconds((100 - done) / 2.0)


def test_on_a_terminal_the_line_is_redrawn_and_ended():
    clock = Clock()
    stream = io.StringIO()
    progress = Progress(stream, terminal=True, clock=clock)
    progress(0, 3)
    for done in (1, 2, 3):
        clock.now += 1.0
        progress(done, 3)
    progress.close()
    shown = stream.getvalue()
    assert shown.startswith("\r\x1b[2K0/3 reports (0%)")
    assert "3/3 reports (100%)" in shown
    assert shown.endswith("\n")


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0s"), (45, "45s"), (185, "3m05s"), (7440, "2h04m")]
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_describe_without_a_rate_has_no_eta():
    assert describe(3, 12, None) == "3/12 reports (25%)"

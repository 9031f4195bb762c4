"""The patient HTML in headless Chromium (issue 4): it loads from file:// with no console
errors, the charts decode, the status badge is visible, and it paints.

The Chrome DevTools Protocol is spoken over ``--remote-debugging-pipe`` (file descriptors 3
and 4, NUL-separated JSON): no extra dependency and no network socket at all. Chromium is
started with background networking off and every host name unresolvable, and the test checks
that the page requested nothing but ``file:`` and ``data:`` URLs.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image, ImageStat

ROOT = Path(__file__).resolve().parent.parent
INDEX_CASE = ROOT / "input" / "index_case_2.json"
CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_S = 20.0

if not CHROMIUM.exists() and os.environ.get("CI"):
    pytest.fail("CI must install Debian's chromium (scripts/setup-system --test)", pytrace=False)
pytestmark = [
    pytest.mark.slow,  # starts Chromium
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed at /usr/bin/chromium "
        "(scripts/setup-system --test installs it)",
    ),
]


class DevTools:
    """A minimal CDP client over Chromium's debugging pipe."""

    def __init__(self, user_data_dir: Path, log_path: Path):
        # Pipe ends at fd >= 10 so the shell can move them to 3 and 4 without clashes.
        to_read, self._to_write = (_high_fd(fd) for fd in os.pipe())
        self._from_read, from_write = (_high_fd(fd) for fd in os.pipe())
        args = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--hide-scrollbars",
            "--window-size=1000,1400",
            f"--user-data-dir={user_data_dir}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        shell = f'exec "$@" 3<&{to_read} 4>&{from_write} {to_read}<&- {from_write}>&-'
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", shell, "bash", *args],
            pass_fds=(to_read, from_write),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        os.close(to_read)
        os.close(from_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.deadline = time.monotonic() + TIMEOUT_S

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._receive())

    def _receive(self) -> dict:
        while b"\0" not in self._buffer:
            remaining = self.deadline - time.monotonic()
            ready, _, _ = select.select([self._from_read], [], [], max(0.0, remaining))
            if not ready:
                raise TimeoutError(f"Chromium did not answer within {TIMEOUT_S:g} s")
            chunk = os.read(self._from_read, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the debugging pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.deadline = time.monotonic() + 5
                try:
                    self.call("Browser.close")
                except (OSError, TimeoutError, EOFError, AssertionError):
                    pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        finally:
            os.close(self._to_write)
            os.close(self._from_read)
            self._log.close()


def _high_fd(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


PROBE = """JSON.stringify({
  href: location.href,
  ready: document.readyState,
  charts: [...document.querySelectorAll('img.chart')].map(img => {
    const box = img.getBoundingClientRect();
    return {natural: [img.naturalWidth, img.naturalHeight], complete: img.complete,
            shown: [box.width, box.height]};
  }),
  badge: (() => {
    const badge = document.querySelector('.badge');
    if (!badge) return null;
    const box = badge.getBoundingClientRect(), style = getComputedStyle(badge);
    return {text: badge.textContent.trim(), box: [box.x, box.y, box.width, box.height],
            visibility: style.visibility, display: style.display,
            opacity: Number(style.opacity), color: style.color,
            background: style.backgroundColor};
  })(),
  scripts: document.scripts.length,
})"""


@pytest.fixture(scope="module")
def html_report(run_reportgen, tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("browser")
    result = run_reportgen("patient", INDEX_CASE, "-o", outdir, "--format", "html")
    assert result.exit_code == 0, result.output
    return outdir / "patient-2.html"


@pytest.fixture(scope="module")
def loaded(html_report, tmp_path_factory) -> dict:
    """Load the report once; return what the page reported and what Chromium logged."""
    work = tmp_path_factory.mktemp("chromium")
    browser = DevTools(work / "profile", work / "chromium.log")
    try:
        browser.call("Browser.getVersion")
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session=session)
        navigation = browser.call("Page.navigate", {"url": html_report.as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        probe = browser.call(
            "Runtime.evaluate", {"expression": PROBE, "returnByValue": True}, session=session
        )
        page = json.loads(probe["result"]["value"])
        screenshot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)
        badge_shot = None
        if page["badge"] and page["badge"]["box"][2] > 0:
            x, y, width, height = page["badge"]["box"]
            badge_shot = browser.call(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "clip": {"x": x, "y": y, "width": width, "height": height, "scale": 1},
                },
                session=session,
            )
        events = list(browser.events)
    finally:
        browser.close()
    return {
        "navigation": navigation,
        "page": page,
        "events": events,
        "screenshot": base64.b64decode(screenshot["data"]),
        "badge_shot": base64.b64decode(badge_shot["data"]) if badge_shot else None,
    }


def test_loads_from_file_without_console_errors(loaded, html_report):
    assert "errorText" not in loaded["navigation"]
    assert loaded["page"]["href"] == html_report.as_uri()
    assert loaded["page"]["ready"] == "complete"
    problems = []
    for event in loaded["events"]:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            problems.append(params["exceptionDetails"].get("text"))
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            problems.append(params["args"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            problems.append(params["entry"]["text"])
        elif method == "Network.loadingFailed":
            problems.append(params)
    assert problems == []


def test_requests_nothing_but_the_file_and_data_uris(loaded):
    urls = [
        event["params"]["request"]["url"]
        for event in loaded["events"]
        if event.get("method") == "Network.requestWillBeSent"
    ]
    assert urls, "no request seen (Network domain not reporting?)"
    outside = [url[:80] for url in urls if not url.startswith(("file:", "data:"))]
    assert outside == []


def test_charts_have_a_natural_size(loaded):
    charts = loaded["page"]["charts"]
    assert len(charts) == 3  # YAM zones, dose vs YAM, timeline (the index case has dates)
    for chart in charts:
        assert chart["complete"]
        assert min(chart["natural"]) > 0, chart
        assert min(chart["shown"]) > 0, chart


def test_status_badge_is_visible(loaded):
    badge = loaded["page"]["badge"]
    assert badge is not None, "no .badge element"
    assert badge["text"] == "Osteoporosis"
    assert badge["box"][2] > 20
    assert badge["box"][3] > 8
    assert badge["visibility"] == "visible"
    assert badge["display"] != "none"
    assert badge["opacity"] > 0.9
    assert badge["color"] != badge["background"]
    # What is painted there is the badge: mostly its (non-white) background colour.
    image = Image.open(io.BytesIO(loaded["badge_shot"])).convert("RGB")
    colours = sorted(image.getcolors(image.width * image.height), reverse=True)
    assert colours[0][1] != (255, 255, 255)
    assert colours[0][0] > 0.4 * image.width * image.height


def test_screenshot_is_not_blank(loaded):
    image = Image.open(io.BytesIO(loaded["screenshot"])).convert("RGB")
    assert image.width >= 800
    assert image.height >= 800
    assert max(ImageStat.Stat(image.convert("L")).stddev) > 20
    colours = image.getcolors(image.width * image.height)
    assert len(colours) > 50
    white = next((count for count, colour in colours if colour == (255, 255, 255)), 0)
    assert white < 0.97 * image.width * image.height

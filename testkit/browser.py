"""Real Chromium (Debian's) driven by Playwright, and a real `hearth serve` for it to
open: shared by the browser tests and the browser benchmarks."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import Browser, Page

from testkit.servers import collect_output, free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "docs" / "screenshots"
HEARTH = str(Path(sys.executable).with_name("hearth"))
PASSWORD = "a perfectly long password"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection",
]


class Server:
    """``hearth serve`` with one therapist account, ready when constructed. ``host`` is the
    address it binds and announces for media (loopback, or a test's namespace link);
    ``env`` adds settings (``HEARTH_LOGIN_IDLE_MINUTES="0.1"``)."""

    def __init__(self, tmp: Path, host: str = "127.0.0.1", **env: str) -> None:
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
        self.metrics_token = env.pop("HEARTH_METRICS_TOKEN", secrets.token_urlsafe(16))
        environ.update(HEARTH_HOST=host, HEARTH_PORT=str(self.port), HEARTH_TLS="false",
                       HEARTH_DATA_DIR=str(tmp), HEARTH_PUBLIC_URL=self.url,
                       HEARTH_MEDIA_HOSTS=host, HEARTH_METRICS_TOKEN=self.metrics_token,
                       **env)
        self.env = environ
        self.add_therapist("dr.rivera")
        self.proc = subprocess.Popen(
            [HEARTH, "serve"], env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        self.log = collect_output(self.proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("hearth serve did not become ready: " + "".join(self.log))

    def add_therapist(self, username: str) -> None:
        """Another therapist account (``hearth therapist add``), password ``PASSWORD``."""
        added = subprocess.run(
            [HEARTH, "therapist", "add", username], input=PASSWORD + "\n", env=self.env,
            capture_output=True, text=True, timeout=60)
        assert added.returncode == 0, added.stderr

    def metrics(self) -> str:
        """``/metrics`` as Prometheus text (the server's token is set for tests)."""
        answer = requests.get(f"{self.url}/metrics", timeout=10, headers={
            "Authorization": f"Bearer {self.metrics_token}"})
        answer.raise_for_status()
        return answer.text

    def gaps(self) -> dict[str, float]:
        """The media reconciler's figures so far: gaps opened, repair attempts, gaps
        closed, and the longest closed gap in seconds (``/metrics``)."""
        text = self.metrics()
        wanted = {'hearth_media_gaps_total{event="opened"}': "opened",
                  'hearth_media_gaps_total{event="repair"}': "repairs",
                  'hearth_media_gaps_total{event="closed"}': "closed",
                  "hearth_media_gap_longest_seconds": "longest_s"}
        out = dict.fromkeys(wanted.values(), 0.0)
        for line in text.splitlines():
            name, _, value = line.rpartition(" ")
            if name in wanted:
                out[wanted[name]] = float(value)
        return out

    def stop(self) -> None:
        """Stop the server, first adding its reconciler figures to ``SERVED_GAPS``."""
        # A server that died has no figures to give; its test says why.
        with contextlib.suppress(requests.RequestException, ValueError):
            SERVED_GAPS.append(self.gaps())
        stop_process(self.proc, 15)


# Every stopped Server's reconciler figures, for the browser suite's summary.
SERVED_GAPS: list[dict[str, float]] = []


def gap_summary(served: list[dict[str, float]]) -> dict[str, float]:
    """Over many servers: gaps opened, repairs, closed (summed) and the longest gap."""
    return {"servers": float(len(served)),
            **{k: sum(g[k] for g in served) for k in ("opened", "repairs", "closed")},
            "longest_s": max((g["longest_s"] for g in served), default=0.0)}


# Chromium below the server under test. Run as root, Chromium otherwise raises its
# renderers to nice 0 and its GPU process to -8 (CAP_SYS_NICE is dropped). Playwright
# starts each browser in a session of its own, and with the kernel's autogroup
# scheduling (sched_autogroup_enabled=1) every session is a group with an equal share
# of the CPU whatever its processes' nice: six browsers left the server a seventh of
# two cores (replies over 10 s, media never settling). The session's group gets nice
# 10 too, through /proc/self/autogroup, before Chromium starts.
LOWER = ("{ echo 10 > /proc/self/autogroup; } 2>/dev/null; "
         "exec setpriv --bounding-set=-sys_nice --inh-caps=-sys_nice nice -n 10 ")


def chromium() -> str:
    """An executable that runs Debian's Chromium as ``LOWER`` says."""
    path = Path(tempfile.gettempdir()) / "hearth-test-chromium"
    text = f'#!/bin/sh\n{LOWER}/usr/bin/chromium "$@"\n'
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(f".{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(path)
    return str(path)


def launch(p: object, extra: list[str] | None = None) -> Browser:
    return p.chromium.launch(  # type: ignore[attr-defined,no-any-return]
        executable_path=chromium(), args=CHROMIUM_ARGS + (extra or []))


def new_page(browser: Browser, *, width: int = 1280, height: int = 800) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15000)
    return page


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def wait_js(page: Page, expression: str, *, limit: float = 15.0) -> object:
    """Poll a JS expression until truthy. (``wait_for_function`` evals inside the page,
    which our CSP forbids; ``evaluate`` goes through DevTools and is not blocked.)"""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = page.evaluate(f"() => ({expression})")
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {expression}")


def solid_y4m(path: Path, rgb: tuple[int, int, int], *, width: int = 320, height: int = 240,
              frames: int = 10, fps: int = 30) -> Path:
    """A solid-colour video file for Chromium's fake camera (BT.601 limited range)."""
    r, g, b = rgb
    y = round(16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256)
    cb = round(128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256)
    cr = round(128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256)
    frame = (b"FRAME\n" + bytes([y]) * (width * height)
             + bytes([cb]) * (width * height // 4) + bytes([cr]) * (width * height // 4))
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            fh.write(frame)
    return path


COLOUR_AT_CENTRE = """(sel) => {
  const v = document.querySelector(sel);
  if (!v || !v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const d = g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data;
  return [d[0], d[1], d[2]];
}"""


def colour_of(page: Page, selector: str) -> tuple[int, int, int] | None:
    value = page.evaluate(COLOUR_AT_CENTRE, selector)
    return None if value is None else (int(value[0]), int(value[1]), int(value[2]))


def dominant(rgb: tuple[int, int, int] | None) -> str | None:
    """Which primary a decoded (lossy) pixel is: red, green or blue, or None."""
    if rgb is None:
        return None
    names = ("red", "green", "blue")
    top = max(range(3), key=lambda i: rgb[i])
    others = [rgb[i] for i in range(3) if i != top]
    return names[top] if rgb[top] > 140 and max(others) < 110 else None


# Six solid camera colours a decoded (lossy) pixel is told apart by: a family's cameras.
PALETTE = {
    "red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220),
    "yellow": (220, 220, 30), "magenta": (220, 30, 220), "cyan": (30, 200, 220),
}


def nearest(rgb: tuple[int, int, int] | list[int]) -> str | None:
    """The ``PALETTE`` colour a decoded pixel is, or None when it is none of them."""
    name, ref = min(PALETTE.items(),
                    key=lambda kv: sum((a - b) ** 2 for a, b in zip(kv[1], rgb, strict=True)))
    return name if sum((a - b) ** 2 for a, b in zip(ref, rgb, strict=True)) < 60 ** 2 else None

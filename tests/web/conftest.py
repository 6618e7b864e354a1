"""Real Chromium (Debian's) driven by Playwright, against a real `hearth serve`.

Browser tests run in their own pytest process (`pytest -m browser`): sync
Playwright and pytest-asyncio must not share an event loop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/web/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


class Server:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
        env.update(HEARTH_PORT=str(self.port), HEARTH_TLS="false", HEARTH_DATA_DIR=str(tmp),
                   HEARTH_PUBLIC_URL=self.url, HEARTH_MEDIA_HOSTS="127.0.0.1")
        self.env = env
        self.add_therapist("dr.rivera")
        self.proc = subprocess.Popen(
            [HEARTH, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
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

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("web"))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[object]:
    with sync_playwright() as p:
        yield p


def launch(p: object, extra: list[str] | None = None) -> Browser:
    return p.chromium.launch(  # type: ignore[attr-defined,no-any-return]
        executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS + (extra or []))


@pytest.fixture(scope="session")
def browser(playwright_instance: object) -> Iterator[Browser]:
    b = launch(playwright_instance)
    yield b
    b.close()


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
              frames: int = 10) -> Path:
    """A solid-colour video file for Chromium's fake camera (BT.601 limited range)."""
    r, g, b = rgb
    y = round(16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256)
    cb = round(128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256)
    cr = round(128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256)
    frame = (b"FRAME\n" + bytes([y]) * (width * height)
             + bytes([cb]) * (width * height // 4) + bytes([cr]) * (width * height // 4))
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
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

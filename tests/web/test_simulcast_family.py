"""Simulcast layers chosen by tile size, in real Chromium, with the relay's layers on
(``HEARTH_SIMULCAST=true``).

Three people each publish a 1280x720 fake camera with a moving band
(testkit/camera.py) as three layers, in grid view on 1600x900 pages: every tile
is larger than 320x180, so every page decodes the 360p layer (or more) of everyone.
Then one page shrinks one tile to 160x90: that tile receives the 180p layer, and the
page's other tiles keep theirs. The slow-downlink case (300 kbit/s) is measured by
``bench.adaptive``.

Needs root (the server binds a namespace's host-side address); bounded in time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.browser import launch
from testkit.camera import moving_y4m
from testkit.figures import figure
from testkit.slowlink import Family, join, wait_for
from testkit.tiles import receiving
from tests.web.netns import Netns, namespace

NAMES = ["Alex", "Blair", "Casey"]
SHRINK = """(key) => {
  const v = document.querySelector(`#stage figure[data-key="${key}"] video`);
  v.style.setProperty('width', '160px', 'important');
  v.style.setProperty('height', '90px', 'important');
}"""


@pytest.fixture
def netns() -> Iterator[Netns]:
    with namespace("sf", 221, "veth") as ns:
        yield ns


def heights(page: Any) -> dict[str, int]:
    return {k: int(t["frameHeight"]) for k, t in receiving(page)["tiles"].items()
            if t["framesDecoded"]}


@pytest.mark.timeout(300)
def test_each_tile_receives_the_layer_its_size_needs(
        playwright_instance: Any, netns: Netns, tmp_path: Path) -> None:
    family = Family(netns, tmp_path, NAMES)
    camera = moving_y4m(tmp_path / "camera.y4m", (220, 30, 30))
    browser = launch(playwright_instance, [
        f"--unsafely-treat-insecure-origin-as-secure={family.server.url}",
        f"--use-file-for-fake-video-capture={camera}"])
    try:
        pages = {n: join(browser, family.links[n], (1600, 900)) for n in NAMES}
        wait_for("every page decodes the two others", lambda: all(
            len(heights(p)) >= 2 for p in pages.values()), limit=120)
        for page in pages.values():
            page.get_by_role("button", name="Grid view").click()
        wait_for("every tile decodes 360p or more", lambda: all(
            len(h) == 2 and min(h.values()) >= 360
            for h in (heights(p) for p in pages.values())), limit=60)
        viewer = pages["Alex"]
        key, other = sorted(heights(viewer))
        viewer.evaluate(SHRINK, key)
        t0 = time.monotonic()
        wait_for("the 160x90 tile receives 180p", lambda: heights(viewer)[key] == 180, limit=30)
        figure(f"a tile shrunk to 160x90 got the 180p layer in {time.monotonic() - t0:.1f} s "
               f"(sampled once a second)")
        time.sleep(3.0)
        assert heights(viewer)[other] >= 360, heights(viewer)
        assert heights(viewer)[key] == 180, heights(viewer)
    finally:
        browser.close()
        family.close()

"""Simulcast for a family with one slow downlink, in real Chromium, with the relay's
layers on (``HEARTH_SIMULCAST=true``).

Four people each publish a 1280x720 fake camera with a moving band
(testkit/camera.py) as three layers. Three pages share one Chromium on the host; Sam's
runs in a network namespace (testkit/netns.py). With Sam's downlink limited to
300 kbit/s and 3% of packets lost on Sam's link:

* Sam keeps hearing everyone, and every tile Sam sees is the 180p layer, frozen under
  5% of the time (``getStats`` ``totalFreezesDuration``); the tiles that do not fit
  show the person's avatar;
* the three unlimited pages keep receiving the layer their tiles need (360p or more)
  of the unlimited publishers;
* no publisher sends less than before Sam's link was limited.

Then, on an unlimited page, a tile shrunk to 160x90 receives the 180p layer.

Needs root (network namespaces); bounded in count and time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.browser import CHROMIUM_ARGS, launch
from testkit.camera import moving_y4m
from testkit.figures import figure
from testkit.slowlink import Family, join
from testkit.tiles import receiving, sending, sent_window, window
from tests.web.netns import Impairment, Netns, namespace

SLOW = "Sam"
NAMES = ["Alex", "Blair", "Casey", SLOW]
SETTLE_S = 15.0
WINDOW_S = 12.0
OWN_ID = """() => [...document.querySelectorAll('#stage figure.tile')].find(
  (f) => f.querySelector('.tile-label').textContent.includes('(you)')).dataset.participant"""
SHRINK = """(key) => {
  const v = document.querySelector(`#stage figure[data-key="${key}"] video`);
  v.style.setProperty('width', '160px', 'important');
  v.style.setProperty('height', '90px', 'important');
}"""


@pytest.fixture
def netns() -> Iterator[Netns]:
    with namespace("sf", 221, "tun") as ns:
        yield ns


def wait_for(what: str, predicate: Any, limit: float) -> Any:
    deadline = time.monotonic() + limit
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(1.0)
    return value


def sent_bps(before: dict[str, Any], after: dict[str, Any]) -> float:
    """Everything a page's camera sent over a window, all layers together."""
    return sum(sent_window(before, after).values())


@pytest.mark.timeout(600)
def test_a_slow_viewer_gets_the_low_layer_and_nobody_else_loses_anything(
        playwright_instance: Any, netns: Netns, tmp_path: Path) -> None:
    impairment = netns.impairment
    assert isinstance(impairment, Impairment)
    family = Family(netns, tmp_path, NAMES)
    camera = moving_y4m(tmp_path / "camera.y4m", (220, 30, 30))
    args = [f"--unsafely-treat-insecure-origin-as-secure={family.server.url}",
            f"--use-file-for-fake-video-capture={camera}"]
    browsers = [launch(playwright_instance, args)]
    try:
        browsers.append(playwright_instance.chromium.launch(
            executable_path=netns.chromium(tmp_path, nice=True), args=[*CHROMIUM_ARGS, *args]))
        pages = {n: join(browsers[n == SLOW], family.links[n]) for n in NAMES}
        wait_for("every page decodes the three others", lambda: all(
            sum(1 for t in receiving(p)["tiles"].values() if t["framesDecoded"]) >= 3
            for p in pages.values()), limit=120)
        sam = str(pages[SLOW].evaluate(OWN_ID))
        publishers = [n for n in NAMES if n != SLOW]
        time.sleep(SETTLE_S)
        sent0 = {n: sending(pages[n]) for n in publishers}
        time.sleep(WINDOW_S)
        sent1 = {n: sending(pages[n]) for n in publishers}
        baseline = {n: sent_bps(sent0[n], sent1[n]) for n in publishers}

        netns.limit(300_000, down=True)
        impairment.set(loss=0.03)
        time.sleep(SETTLE_S)
        before = {n: receiving(p) for n, p in pages.items()}
        sent0 = {n: sending(pages[n]) for n in publishers}
        time.sleep(WINDOW_S)
        after = {n: receiving(p) for n, p in pages.items()}
        sent1 = {n: sending(pages[n]) for n in publishers}
        limited = {n: sent_bps(sent0[n], sent1[n]) for n in publishers}
        windows = {n: window(before[n], after[n]) for n in pages}

        slow_tiles, slow_voices = windows[SLOW]
        shown = {k: t for k, t in slow_tiles.items() if not after[SLOW]["tiles"][k]["paused"]}
        figure("Sam on 300 kbit/s + 3% loss, per tile (layer, height, fps, frozen): "
               + "; ".join(f"{k}: {t.layer} {t.frame_height}p {t.fps:.1f} fps "
                           f"{t.frozen:.1%}" for k, t in slow_tiles.items())
               + f"; paused: {sorted(set(slow_tiles) - set(shown))}; sent by each publisher "
               "before/while (kbit/s): " + ", ".join(
                   f"{n} {baseline[n] / 1000:.0f}/{limited[n] / 1000:.0f}" for n in publishers))
        assert len(slow_voices) == 3, slow_voices
        for voice in slow_voices.values():
            assert voice.samples >= 48000 * WINDOW_S / 2, slow_voices
        assert shown, f"Sam sees nobody's video: {slow_tiles}"
        for key, t in shown.items():
            assert t.frame_height <= 180, (key, t)
            assert t.fps > 0, (key, t)
            assert t.frozen < 0.05, (key, t)
        for name in publishers:
            tiles, voices = windows[name]
            assert len(voices) == 3, (name, voices)
            for key, t in tiles.items():
                if key.startswith(f"{sam}:"):
                    continue  # Sam's own uplink loses packets too
                assert t.frame_height >= 360, (name, key, t)
                assert t.fps > 0, (name, key, t)
        for name in publishers:
            assert limited[name] >= 0.7 * baseline[name], (name, baseline, limited)

        # An unlimited page shrinks one tile to 160x90: it gets the 180p layer.
        netns.limit(None)
        impairment.set()
        viewer = pages["Alex"]
        key = next(k for k in receiving(viewer)["tiles"] if k.endswith(":camera"))
        viewer.evaluate(SHRINK, key)
        wait_for("the 160x90 tile receives 180p",
                 lambda: receiving(viewer)["tiles"][key]["frameHeight"] == 180, limit=30)
    finally:
        for b in browsers:
            b.close()
        family.close()

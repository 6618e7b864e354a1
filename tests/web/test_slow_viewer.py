"""One viewer on a slow, lossy downlink, in real Chromium with the relay's simulcast
layers on (``HEARTH_SIMULCAST=true``): Sam's link to the server is limited to
300 kbit/s with 3 % loss (a ``tbf`` token bucket and the ``Impairment`` thread on a
namespace's TUN link, testkit/netns.py), while Alex, Blair and Casey are unlimited.

What a person sees:

* every tile Sam decodes is the low layer (180p), some video keeps playing (a tile
  paused for bandwidth shows the avatar), everyone's voice keeps arriving, and the
  tiles he sees were frozen (``totalFreezesDuration``) under 5 % of the time;
* the unlimited pages keep the layers their tiles need (360p or more);
* what each unlimited publisher's 360p layer sends, before and with Sam limited, is
  reported.

Needs root; bounded in time.
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
from testkit.slowlink import Family, join, wait_for
from testkit.tiles import receiving, sending, sent_window, window
from tests.web.netns import Netns, namespace

FREE = ["Alex", "Blair", "Casey"]
SLOW = "Sam"
WINDOW_S = 12.0
WINDOWS = 3
SETTLE_S = 15.0


@pytest.fixture
def netns() -> Iterator[Netns]:
    with namespace("sv", 223, "tun") as ns:
        yield ns


def decoding(page: Any) -> int:
    return sum(1 for t in receiving(page)["tiles"].values() if t["framesDecoded"])


@pytest.mark.timeout(400)
def test_a_slow_viewer_gets_the_low_layer_without_freezes(
        playwright_instance: Any, netns: Netns, tmp_path: Path) -> None:
    family = Family(netns, tmp_path, [*FREE, SLOW])
    camera = moving_y4m(tmp_path / "camera.y4m", (220, 30, 30))
    args = [f"--unsafely-treat-insecure-origin-as-secure={family.server.url}",
            f"--use-file-for-fake-video-capture={camera}"]
    host = launch(playwright_instance, args)
    inside = playwright_instance.chromium.launch(
        executable_path=netns.chromium(tmp_path, nice=True), args=[*CHROMIUM_ARGS, *args])
    try:
        pages = {n: join(inside if n == SLOW else host, family.links[n], (1600, 900))
                 for n in [*FREE, SLOW]}
        wait_for("every page decodes the three others",
                 lambda: all(decoding(p) >= 3 for p in pages.values()), limit=120)
        for page in pages.values():
            page.get_by_role("button", name="Grid view").click()
        time.sleep(SETTLE_S)  # grid tiles take 360p; layers nobody needs are turned off
        sent0 = {n: sending(pages[n]) for n in FREE}
        time.sleep(WINDOW_S)
        free_rate = {n: sent_window(sent0[n], sending(pages[n])) for n in FREE}

        netns.limit(300_000, down=True)
        assert netns.impairment is not None
        netns.impairment.set(loss=0.03)
        time.sleep(SETTLE_S)
        shown: list[tuple[str, float, float, float]] = []  # (tile, fps, frozen, seconds)
        for i in range(WINDOWS):
            before = {n: receiving(p) for n, p in pages.items()}
            sent1 = {n: sending(pages[n]) for n in FREE}
            time.sleep(WINDOW_S)
            after = {n: receiving(p) for n, p in pages.items()}
            slow_rate = {n: sent_window(sent1[n], sending(pages[n])) for n in FREE}
            tiles, voices = window(before[SLOW], after[SLOW])
            figure(f"window {i}: Sam's tiles " + "; ".join(
                f"{t.frame_height}p {t.fps:.1f} fps frozen {t.frozen:.0%} "
                f"{t.bps / 1000:.0f} kbit/s"
                for k, t in tiles.items())
                + " | audio concealed " + ", ".join(f"{v.concealment:.1%}"
                                                    for v in voices.values()))
            # Sam: the low layer, and every voice keeps coming
            for k, t in tiles.items():
                if t.fps > 0:
                    assert t.frame_height <= 180, (k, t)
                if t.fps >= 2:
                    shown.append((k, t.fps, t.frozen, t.seconds))
            assert len(voices) == len(FREE)
            for v in voices.values():
                assert v.samples >= 0.8 * 48_000 * WINDOW_S, v
                assert v.concealment < 0.15, v
            # the others: the layer their tiles need, as before
            for n in FREE:
                free_tiles, _ = window(before[n], after[n])
                assert len(free_tiles) == 3
                assert min(t.frame_height for t in free_tiles.values()) >= 360, (n, free_tiles)
            # what each publisher's 360p layer sends, before and with Sam limited: a
            # figure, not a limit. The encoder's own rate on this host moves by half
            # between windows (383 then 173 kbit/s in one run), so a ratio cannot tell
            # a REMB ceiling from CPU. That Sam's estimate never caps a simulcast
            # publisher is asserted in tests/media/test_estimate.py (publisher_ceiling).
            for n in FREE:
                h0 = sum(r for key, r in free_rate[n].items() if key.endswith(":h"))
                h1 = sum(r for key, r in slow_rate[n].items() if key.endswith(":h"))
                figure(f"{n}'s 360p layer: {h0 / 1000:.0f} kbit/s before, "
                       f"{h1 / 1000:.0f} kbit/s with Sam limited")
        # Sam sees video, not only avatars, and what he sees froze under 5 % of the
        # time: over every tile-window decoding 2 fps or more (a tile paused for
        # bandwidth shows the avatar, and is not a frozen picture)
        assert shown, "Sam's video stayed paused"
        frozen = sorted(f for _, _, f, _ in shown)
        share = sum(f * sec for _, _, f, sec in shown) / sum(sec for *_, sec in shown)
        figure(f"Sam's tile-windows decoding 2 fps or more: {len(shown)} of "
               f"{3 * WINDOWS}; frozen {', '.join(f'{f:.0%}' for f in frozen)}; "
               f"{share:.1%} of the time")
        assert share < 0.05, shown
    finally:
        host.close()
        inside.close()
        family.close()

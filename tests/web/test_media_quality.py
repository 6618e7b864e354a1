"""Media under 5% loss and 80 ms jitter, and an indicator that says why video is bad.

Maria's Chromium runs in a network namespace whose link to the host loses 5% of the
packets both ways and delays the rest by 40 ms +- 80 ms (normal; they arrive out of
order), what a family's home Wi-Fi can do (tests/web/netns.py). The therapist's is on
the host. While impaired: both pages keep decoding each other's colour and hearing
each other's audio, and the therapist's audio of Maria is under 5% concealment (Opus
in-band FEC); Maria's own indicator says fair or poor, with the loss in its
description; the therapist's tile of Maria says "Maria's connection", inside the tile
and clear of her name, while the therapist's own indicator stays good. When nothing
gets through at all for 6 s (no link event), Maria's indicator says poor within 2 s,
then lost. With the impairment removed, both return to good and the badge goes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from testkit.figures import figure
from testkit.voice import speech_wav
from tests.web.conftest import CHROMIUM_ARGS, Server, new_page, shot, solid_y4m
from tests.web.family import TRACK_PCS
from tests.web.netns import Impairment, Netns, namespace
from tests.web.test_flow import add_person, prejoin, sign_in
from tests.web.test_media import wait_colours
from tests.web.test_media_outage import WATCH_QUALITY
from tests.web.test_session_screen import assert_accessible

# Decoded video frames and audio samples that were not concealment, summed over the
# page's inbound streams.
PROGRESS = """async () => {
  const out = {video: 0, audio: 0};
  for (const pc of (window.__hearthPcs || [])) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') out.video += s.framesDecoded || 0;
      else out.audio += (s.totalSamplesReceived || 0) - (s.concealedSamples || 0);
    });
  }
  return out;
}"""
# The reason badge on a person's camera tile, and where it sits.
BADGE = """(pid) => {
  const tile = document.querySelector(`#stage figure.tile[data-key='${pid}:camera']`);
  const badge = tile && tile.querySelector('.tile-why');
  if (!badge) return null;
  const box = (n) => { const r = n.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom]; };
  return {text: badge.textContent, label: badge.getAttribute('aria-label'),
          role: badge.getAttribute('role'), badge: box(badge), tile: box(tile),
          name: box(tile.querySelector('figcaption')),
          viewport: [0, 0, innerWidth, innerHeight]};
}"""
OWN_ID = """() => [...document.querySelectorAll('#stage figure.tile')].find(
  (f) => f.querySelector('.tile-label').textContent.includes('(you)')).dataset.participant"""
# What Maria's page sends and what the relay's receiver reports say of it, per kind.
UPLINK = """async () => {
  const out = {};
  for (const pc of (window.__hearthPcs || [])) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp') Object.assign(out[s.kind] ||= {}, {sent: s.packetsSent,
        resent: s.retransmittedPacketsSent, nacks: s.nackCount});
      if (s.type === 'remote-inbound-rtp') Object.assign(out[s.kind] ||= {}, {lost: s.packetsLost,
        fraction: s.fractionLost, reports: s.reportsReceived});
    });
  }
  return out;
}"""
# The page's received audio: samples played, how many of them were concealment, and
# packets received and lost (summed over its inbound audio streams).
HEARD = """async () => {
  const out = {samples: 0, concealed: 0, packets: 0, lost: 0};
  for (const pc of (window.__hearthPcs || [])) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
      out.samples += s.totalSamplesReceived || 0;
      out.concealed += s.concealedSamples || 0;
      out.packets += s.packetsReceived || 0;
      out.lost += s.packetsLost || 0;
    });
  }
  return out;
}"""
LOSS, DELAY, JITTER = 0.05, 0.040, 0.080
HEARD_WINDOW = 12.0  # seconds over which the therapist's concealment of Maria is read
DROP = 6.0  # seconds nothing gets through


@pytest.fixture
def netns() -> Iterator[Netns]:
    with namespace("mq", 214, "tun") as ns:
        yield ns


def level(page: Page) -> str:
    return str(page.evaluate("() => document.getElementById('quality').dataset.quality"))


def wait_until(what: str, predicate: Any, limit: float) -> Any:
    t0 = time.monotonic()
    while not (value := predicate()):
        assert time.monotonic() - t0 < limit, f"timed out: {what}"
        time.sleep(0.2)
    return value


def inside(inner: list[float], outer: list[float]) -> bool:
    return (inner[0] >= outer[0] - 0.5 and inner[1] >= outer[1] - 0.5
            and inner[2] <= outer[2] + 0.5 and inner[3] <= outer[3] + 0.5)


def apart(a: list[float], b: list[float]) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def keeps_flowing(pages: dict[str, Page], seconds: float = 4.0) -> dict[str, Any]:
    """Frames decoded and audio heard over a window, per page."""
    before = {n: p.evaluate(PROGRESS) for n, p in pages.items()}
    time.sleep(seconds)
    after = {n: p.evaluate(PROGRESS) for n, p in pages.items()}
    flow = {n: {k: after[n][k] - before[n][k] for k in ("video", "audio")} for n in pages}
    for name, f in flow.items():
        assert f["video"] >= 10, f"{name}'s page stopped decoding video: {flow}"
        assert f["audio"] >= 48000 * seconds / 4, f"{name}'s page stopped hearing audio: {flow}"
    return flow


@pytest.mark.timeout(300)
def test_loss_and_jitter_keep_media_and_say_whose_connection(
        playwright_instance: object, netns: Netns, tmp_path: Path) -> None:
    impairment = netns.impairment
    assert isinstance(impairment, Impairment)
    server = Server(tmp_path / "data", host=netns.server_ip)
    secure = f"--unsafely-treat-insecure-origin-as-secure={server.url}"

    def browser(colour: str, rgb: tuple[int, int, int], executable: str,
                *extra: str) -> Any:
        cam = solid_y4m(tmp_path / f"{colour}.y4m", rgb)
        return playwright_instance.chromium.launch(  # type: ignore[attr-defined]
            executable_path=executable,
            args=[*CHROMIUM_ARGS, secure, f"--use-file-for-fake-video-capture={cam}", *extra])

    # Maria's microphone speaks (a beep is coded as music, where Opus has no FEC).
    voice = speech_wav(tmp_path / "maria.wav")
    browsers = [browser("red", (220, 30, 30), "/usr/bin/chromium"),
                browser("blue", (30, 30, 220), netns.chromium(tmp_path),
                        f"--use-file-for-fake-audio-capture={voice}")]
    try:
        console = new_page(browsers[0])
        console.context.add_init_script(TRACK_PCS)
        console.on("dialog", lambda d: d.accept())
        sign_in(console, server)
        console.fill("#ns-title", "Wi-Fi")
        console.click("#new-session button[type=submit]")
        link = add_person(console, "Maria", "client")
        with console.expect_popup() as popup:
            console.click("#open-room")
        dr = popup.value
        dr.set_default_timeout(20000)
        prejoin(dr, dr.url)
        maria = new_page(browsers[1])
        maria.add_init_script(TRACK_PCS)
        prejoin(maria, link)
        dr.click("#tab-people")
        expect(dr.locator("#lobby-list > li")).to_have_count(1)  # Maria has knocked
        dr.click("#admit-all")
        pages = {"therapist": dr, "Maria": maria}
        for page in pages.values():
            expect(page.locator("#screen-session")).to_be_visible()
        wait_colours(dr, {"blue"})
        wait_colours(maria, {"red"})
        maria_id, dr_id = (str(p.evaluate(OWN_ID)) for p in (maria, dr))
        for name, page in pages.items():
            wait_until(f"{name}'s page says good", lambda p=page: level(p) == "good", limit=20)
        assert dr.evaluate(BADGE, maria_id) is None

        impairment.set(loss=LOSS, delay=DELAY, jitter=JITTER)
        t0 = time.monotonic()
        wait_until("Maria's page says fair or poor", lambda: level(maria) in ("fair", "poor"),
                   limit=20)
        seen_own = time.monotonic() - t0
        badge = wait_until("the therapist's tile of Maria says why",
                           lambda: dr.evaluate(BADGE, maria_id), limit=20)
        seen_badge = time.monotonic() - t0
        assert badge["text"] == "Maria's connection"
        assert badge["role"] == "note"
        assert "Maria's connection" in badge["label"]
        assert inside(badge["badge"], badge["tile"])
        assert inside(badge["badge"], badge["viewport"])
        assert apart(badge["badge"], badge["name"])
        assert_accessible(dr, "a tile that says whose connection it is")
        described = maria.evaluate(
            "() => document.getElementById(document.getElementById('quality')"
            ".getAttribute('aria-describedby')).textContent")
        assert "lost" in described
        assert "round trip" in described
        # What the therapist hears of Maria: her uplink loses one packet in twenty,
        # and the Opus in-band FEC the relay's answer asks for rebuilds most of them.
        heard = [dr.evaluate(HEARD)]
        time.sleep(HEARD_WINDOW)
        heard.append(dr.evaluate(HEARD))
        got = {k: heard[1][k] - heard[0][k] for k in heard[0]}
        concealment = got["concealed"] / max(1, got["samples"])
        figure(f"5% loss, 40+-80 ms on Maria's link: the therapist's audio of Maria over "
               f"{HEARD_WINDOW:.0f} s: {concealment:.1%} of samples concealed "
               f"({got['lost']} of {got['packets'] + got['lost']} packets lost)")
        assert got["samples"] >= 48000 * HEARD_WINDOW / 2, got
        assert concealment < 0.05, got
        # Without FEC about as many samples are concealed as packets are lost (4.2%
        # with 4.0% lost, in one run with the answer's useinbandfec taken out); with
        # it, well under half.
        lost = got["lost"] / max(1, got["packets"] + got["lost"])
        assert got["lost"] >= 5, got
        assert concealment < 0.5 * lost, got
        uplink = [maria.evaluate(UPLINK)]
        flow = keeps_flowing(pages)
        uplink.append(maria.evaluate(UPLINK))
        wait_colours(dr, {"blue"})
        wait_colours(maria, {"red"})
        # The therapist's own connection is fine, and her page says so: the loss on
        # Maria's media is Maria's.
        assert level(dr) == "good", dr.evaluate("() => document.getElementById('quality').title")
        # What Maria's page says of the therapist's tile: only ever her own connection.
        theirs = maria.evaluate(BADGE, dr_id)
        assert theirs is None or theirs["text"] == "Your connection", theirs
        shot(dr, "quality-badge")
        figure(f"5% loss, 40+-80 ms both ways ({impairment.dropped} of "
               f"{impairment.dropped + impairment.forwarded} packets dropped): Maria's page "
               f"{level(maria)} after {seen_own:.1f} s ({described!r}); therapist's tile "
               f"badge after {seen_badge:.1f} s; Maria's tile of the therapist: "
               f"{theirs and theirs['text']!r}; frames/samples over 4 s: {flow}; "
               f"Maria's uplink 4 s apart: {uplink}")

        def back_to_good(what: str) -> None:
            impairment.set()
            t1 = time.monotonic()
            for name, page in pages.items():
                wait_until(f"{name}'s page returns to good", lambda p=page: level(p) == "good",
                           limit=20)
            wait_until("the badge goes", lambda: dr.evaluate(BADGE, maria_id) is None,
                       limit=20)
            figure(f"back to good {time.monotonic() - t1:.1f} s after {what} ended")

        back_to_good("the loss and jitter")
        # Then, from good, nothing gets through at all for 6 s, with no link event:
        # Maria's page says poor within 2 s (its own clock), then lost, then good again.
        drop_at, before = maria.evaluate(WATCH_QUALITY)
        assert before == "good", before
        impairment.set(loss=1.0)
        dropped = time.monotonic()
        wait_until("Maria's page says lost", lambda: level(maria) == "lost", limit=15)
        time.sleep(max(0.0, DROP - (time.monotonic() - dropped)))  # a drop of 6 s
        changes = [(round(at - drop_at), lvl) for at, lvl in maria.evaluate(
            "() => window.__qualityChanges")]
        figure(f"silent drop on Maria's page (ms, level): {before} {changes}")
        assert changes[0][1] == "poor", changes
        assert changes[0][0] <= 2000, changes
        back_to_good("the silent drop")
    finally:
        for b in browsers:
            b.close()
        server.stop()

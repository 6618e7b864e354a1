"""Media through the relay in real Chromium: each person's camera is a solid colour,
so a page proves whose video it decodes by reading pixels."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect

from server.appkeys import LIVE
from testkit.live import Live, start_live
from tests.web.conftest import Server, dominant, launch, new_page, shot, solid_y4m, wait_js
from tests.web.test_flow import add_person, prejoin, sign_in

T = TypeVar("T")
COLOURS = {"therapist": (220, 30, 30), "Alex": (30, 200, 30), "Blair": (30, 30, 220)}
NAMES = {"therapist": "red", "Alex": "green", "Blair": "blue"}


def remote_colours(page: Page) -> set[str]:
    """Dominant colours of every remote camera tile that is playing."""
    found = set()
    for key in page.evaluate(
            "() => [...document.querySelectorAll('#stage figure.camera video')]"
            ".filter(v => !v.muted && v.videoWidth > 0).map(v => v.closest('figure').dataset.key)"):
        value = page.evaluate(
            """(key) => {
              const v = document.querySelector(`figure[data-key="${key}"] video`);
              if (!v || !v.videoWidth) return null;
              const c = document.createElement('canvas');
              c.width = v.videoWidth; c.height = v.videoHeight;
              const g = c.getContext('2d'); g.drawImage(v, 0, 0);
              const d = g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data;
              return [d[0], d[1], d[2]];
            }""", key)
        if value is None:
            continue  # the tile went away while we looked
        name = dominant((int(value[0]), int(value[1]), int(value[2])))
        if name:
            found.add(name)
    return found


def wait_colours(page: Page, expected: set[str], limit: float = 20.0) -> None:
    deadline = page.evaluate("() => performance.now()") + limit * 1000
    seen: set[str] = set()
    while page.evaluate("() => performance.now()") < deadline:
        seen = remote_colours(page)
        if seen == expected:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"expected to see {expected}, saw {seen}")


def frames_decoding(page: Page) -> None:
    """Remote video frames keep being decoded (not one frozen frame)."""
    expr = ("[...document.querySelectorAll('#stage video')].filter(v => !v.muted)"
            ".reduce((n, v) => n + v.getVideoPlaybackQuality().totalVideoFrames, 0)")
    first = int(page.evaluate(f"() => {expr}"))
    wait_js(page, f"{expr} > {first + 10}")


@pytest.mark.timeout(300)  # three browsers on a host shared with other work
def test_media_isolation_by_colour(playwright_instance: object, server: Server,
                                   tmp_path: Path) -> None:
    browsers = {name: launch(playwright_instance, [
        f"--use-file-for-fake-video-capture={solid_y4m(tmp_path / f'{name}.y4m', rgb)}"])
        for name, rgb in COLOURS.items()}
    try:
        console = new_page(browsers["therapist"])
        console.on("dialog", lambda d: d.accept())
        sign_in(console, server)
        console.fill("#ns-title", "Colour check")
        console.click("#new-session button[type=submit]")
        links = {name: add_person(console, name, role)
                 for name, role in (("Alex", "client"), ("Blair", "partner"))}
        with console.expect_popup() as popup:
            console.click("#open-room")
        dr = popup.value
        dr.set_default_timeout(20000)
        prejoin(dr, dr.url)
        pages = {"therapist": dr}
        for name in ("Alex", "Blair"):
            page = new_page(browsers[name])
            prejoin(page, links[name])
            pages[name] = page
        for name in ("Alex", "Blair"):  # both knocked before anyone is admitted
            expect(pages[name].locator("#screen-lobby")).to_be_visible()
        dr.click("#tab-people")
        dr.click("#admit-all")
        for page in pages.values():
            expect(page.locator("#screen-session")).to_be_visible()

        # Main room: everyone decodes everyone else.
        for name, page in pages.items():
            wait_colours(page, {NAMES[n] for n in pages if n != name})
            frames_decoding(page)
        shot(dr, "session-media")

        # Breakouts: Alex with the therapist; Blair alone. Media follows, same connections.
        dr.click("#tab-breakouts")
        dr.click("#bo-by-role")
        dr.click("#bo-open button[type=submit]")
        wait_colours(pages["Alex"], {"red"})
        wait_colours(pages["therapist"], {"green"})
        wait_colours(pages["Blair"], set())
        frames_decoding(pages["Alex"])

        # Close all: everyone together again.
        dr.fill("#bo-grace", "0")
        dr.click("#bo-close")
        for name, page in pages.items():
            wait_colours(page, {NAMES[n] for n in pages if n != name})

        # Sent back to the lobby and admitted again: media comes back by itself.
        blair_id = dr.evaluate(
            "() => [...document.querySelectorAll('#people-list li')].find("
            "li => li.textContent.includes('Blair')).dataset.participant")
        dr.click("#tab-people")
        row = dr.locator(f'#people-list > li[data-participant="{blair_id}"]')
        row.get_by_role("button", name="Options for Blair").click()
        row.get_by_role("menuitem", name="Send to lobby").click()
        expect(pages["Blair"].locator("#screen-lobby")).to_be_visible()
        wait_colours(dr, {"green"})
        dr.click("#admit-all")
        expect(pages["Blair"].locator("#screen-session")).to_be_visible()
        wait_colours(pages["Blair"], {"red", "green"})
        wait_colours(dr, {"green", "blue"})

        # A screen share arrives as its own tile.
        pages["Alex"].click("#btn-share")
        expect(dr.locator('#stage figure.screen video')).to_have_count(1, timeout=20000)
        wait_js(dr, "document.querySelector('#stage figure.screen video').videoWidth > 0")
    finally:
        for b in browsers.values():
            b.close()


class InThread:
    """A live Hearth in this process, on its own event loop in a thread, so a test can
    reach its relay while Chromium (sync Playwright, this thread) uses it."""

    def __init__(self, tmp: Path, **settings: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.live: Live = self.run(start_live(tmp, "sqlite", None, **settings))

    def run(self, coro: Coroutine[Any, Any, T], limit: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(limit)

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the server's loop (the relay is not thread-safe)."""
        async def once() -> T:
            return fn()
        return self.run(once())

    def stop(self) -> None:
        try:
            self.run(self.live.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def two_admitted(srv: InThread, browser: Browser, pages: dict[str, Page],
                 init_script: str | None = None) -> tuple[str, dict[str, str]]:
    """Alex and Blair in Chromium, admitted by a therapist on a socket: the session id
    and their participant ids (``pages`` gets their pages as they open)."""
    live = srv.live
    dr = srv.run(live.therapist())
    try:
        sid = srv.run(dr.session("Simulcast"))
        ids, links = {}, {}
        for name, role in (("Alex", "client"), ("Blair", "partner")):
            res = srv.run(dr.api("POST", f"/api/sessions/{sid}/participants",
                                 {"display_name": name, "role": role, "guardian_of": []}))
            ids[name], links[name] = res["participant_id"], res["link"]
        therapist = srv.run(live.client(srv.run(dr.join_token(sid))))
    finally:
        srv.run(dr.close())
    srv.run(therapist.ok("join", {"consent_version": "v"}))
    for name, link in links.items():
        pages[name] = new_page(browser)
        if init_script:
            pages[name].add_init_script(init_script)
        prejoin(pages[name], link)
    srv.run(therapist.wait(lambda c: len(c.state["lobby"]) == 2, "both knock", limit=20))
    srv.run(therapist.ok("admit_all"))
    for page in pages.values():
        expect(page.locator("#screen-session")).to_be_visible()
    return sid, ids


def tile_state(page: Page, key: str) -> dict[str, Any]:
    return dict(page.evaluate("""(key) => {
      const f = document.querySelector(`#stage figure[data-key="${key}"]`);
      const label = f && f.querySelector('.tile-paused');
      const avatar = f && f.querySelector('.avatar');
      const video = f && f.querySelector('video');
      return {tile: Boolean(f), classes: f ? f.className : '',
              label: label ? label.textContent.trim() : null,
              labelShown: Boolean(label && label.getBoundingClientRect().height > 0),
              avatarShown: Boolean(avatar && avatar.getBoundingClientRect().height > 0),
              videoShown: Boolean(video && getComputedStyle(video).visibility === 'visible'),
              focus: document.activeElement && document.activeElement.id};
    }""", key))


@pytest.mark.timeout(300)
def test_paused_video_shows_the_avatar_and_tile_sizes_reach_the_relay(
        browser: Browser, tmp_path: Path) -> None:
    srv = InThread(tmp_path)
    live = srv.live
    relay = live.app[LIVE].relay
    views: list[tuple[str, dict[str, tuple[int, int]]]] = []
    real_set_view = relay.set_view

    def set_view(session_id: str, viewer_id: str,
                 sizes: Mapping[str, tuple[int, int]]) -> None:
        views.append((viewer_id, dict(sizes)))  # what reached the relay, then the relay
        real_set_view(session_id, viewer_id, sizes)

    relay.set_view = set_view  # type: ignore[method-assign]
    pages: dict[str, Page] = {}
    try:
        sid, ids = two_admitted(srv, browser, pages)
        blair = pages["Blair"]
        aid, bid = ids["Alex"], ids["Blair"]
        key = f"{aid}:camera"
        wait_js(blair, f"document.querySelector('#stage figure[data-key=\"{key}\"] video')"
                       "?.videoWidth > 0", limit=30)
        mid = next(m for m, info in srv.call(lambda: relay.layout(sid, bid)).items()
                   if info.get("publisher_id") == aid and info["kind"] == "video")

        # The tile's rendered size in device pixels reaches the relay by its slot's mid.
        def reported() -> tuple[int, int] | None:
            mine = [s[mid] for viewer, s in views if viewer == bid and mid in s]
            return mine[-1] if mine else None

        def rendered() -> tuple[int, int]:
            w, h = blair.evaluate(f"""() => {{
              const r = document.querySelector('#stage figure[data-key="{key}"] video')
                .getBoundingClientRect();
              return [r.width * devicePixelRatio, r.height * devicePixelRatio]; }}""")
            return round(w), round(h)

        def near(a: tuple[int, int] | None, b: tuple[int, int]) -> bool:
            return a is not None and abs(a[0] - b[0]) <= 2 and abs(a[1] - b[1]) <= 2

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not near(reported(), rendered()):
            blair.wait_for_timeout(100)
        first = reported()
        assert near(first, rendered()), (first, rendered())
        blair.set_viewport_size({"width": 700, "height": 500})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (reported() == first
                                               or not near(reported(), rendered())):
            blair.wait_for_timeout(100)
        assert reported() != first, "a resized tile was not reported"
        assert near(reported(), rendered()), (reported(), rendered())

        # The relay pauses Alex's video to Blair for bandwidth (as its layout says when
        # Blair's downlink is too low): the avatar and a visible label show, focus stays.
        blair.focus("#btn-mic")
        before = tile_state(blair, key)
        assert before["videoShown"], before
        assert not before["avatarShown"], before
        assert before["focus"] == "btn-mic"

        def pause(paused: bool) -> None:
            message = relay.layout_message(sid, bid)
            info = message["layout"][mid]
            info["video_paused"] = "bandwidth" if paused else None
            relay.emit(sid, bid, "layout", message)

        srv.call(lambda: pause(True))
        wait_js(blair, f"document.querySelector('#stage figure[data-key=\"{key}\"]')"
                       ".classList.contains('video-paused')")
        during = tile_state(blair, key)
        assert during["label"] == "Video paused: your connection is slow", during
        assert during["labelShown"], during
        assert during["avatarShown"], during
        assert not during["videoShown"], during
        assert during["focus"] == "btn-mic", "focus moved when the video paused"
        # Audio goes on: Alex's audio sink still plays.
        assert blair.evaluate("""() => [...document.querySelectorAll('#audio-sinks audio')]
            .some(a => !a.paused && a.srcObject
                  && a.srcObject.getAudioTracks()[0].readyState === 'live')""")

        srv.call(lambda: pause(False))
        wait_js(blair, f"!document.querySelector('#stage figure[data-key=\"{key}\"]')"
                       ".classList.contains('video-paused')")
        after = tile_state(blair, key)
        assert after["label"] is None, after
        assert after["videoShown"], after
        assert not after["avatarShown"], after
        assert after["focus"] == "btn-mic", "focus moved when the video resumed"
    finally:
        relay.set_view = real_set_view  # type: ignore[method-assign]
        for page in pages.values():
            page.context.close()
        srv.stop()


# Keeps the page's peer connections where a test can read its senders' parameters.
KEEP_PCS = """
  window.hearthPCs = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.hearthPCs.push(this); }
  };
"""
SENDERS = """() => window.hearthPCs.flatMap(pc => pc.connectionState === 'closed' ? []
  : pc.getTransceivers().filter(t => t.sender.track && t.sender.track.kind === 'video'
      && t.currentDirection !== 'inactive')
  .map(t => ({mid: t.mid, label: t.sender.track.label,
              encodings: t.sender.getParameters().encodings.map(
                e => ({rid: e.rid || '', active: e.active !== false}))})))"""


@pytest.mark.timeout(300)
def test_layers_nobody_receives_are_paused_at_the_publisher_never_the_screen(
        browser: Browser, tmp_path: Path) -> None:
    srv = InThread(tmp_path, simulcast=True)
    relay = srv.live.app[LIVE].relay
    told: list[tuple[str, dict[str, Any]]] = []
    on_event = relay.on_event
    assert on_event is not None

    def record(session_id: str, participant_id: str, event: str,
               payload: dict[str, Any]) -> None:
        if event == "layers":
            told.append((participant_id, dict(payload)))
        on_event(session_id, participant_id, event, payload)

    relay.on_event = record
    pages: dict[str, Page] = {}
    try:
        sid, ids = two_admitted(srv, browser, pages, KEEP_PCS)
        alex = pages["Alex"]
        camera = wait_js(alex, f"({SENDERS})().find(s => s.mid !== null "
                               "&& s.encodings.length === 3)", limit=30)
        assert isinstance(camera, dict)
        assert [e["rid"] for e in camera["encodings"]] == ["q", "h", "f"]

        def active(mid: str) -> dict[str, bool]:
            found = [s for s in alex.evaluate(SENDERS) if s["mid"] == mid]
            return {e["rid"]: e["active"] for e in found[0]["encodings"]} if found else {}

        # The relay says only the 180p layer is received: the others stop at Alex.
        srv.call(lambda: relay.emit(sid, ids["Alex"], "layers",
                                    {"mid": camera["mid"], "active": ["q"]}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            mine = [p for who, p in told if who == ids["Alex"] and p["mid"] == camera["mid"]]
            if active(camera["mid"]) == {r: r in mine[-1]["active"] for r in "qhf"}:
                break
            alex.wait_for_timeout(100)
        mine = [p for who, p in told if who == ids["Alex"] and p["mid"] == camera["mid"]]
        assert active(camera["mid"]) == {r: r in mine[-1]["active"] for r in "qhf"}, mine

        # A screen share is one layer, never switched off by a layers message.
        alex.click("#btn-share")
        screen = wait_js(alex, f"({SENDERS})().find(s => s.mid !== null "
                               f"&& s.mid !== {camera['mid']!r})",
                         limit=20)
        assert isinstance(screen, dict)
        srv.call(lambda: relay.emit(sid, ids["Alex"], "layers",
                                    {"mid": screen["mid"], "active": []}))
        alex.wait_for_timeout(1000)
        shared = next(s for s in alex.evaluate(SENDERS) if s["mid"] == screen["mid"])
        assert all(e["active"] for e in shared["encodings"]), shared
    finally:
        relay.on_event = on_event
        for page in pages.values():
            page.context.close()
        srv.stop()

"""A family in one session, in real Chromium: one browser per camera (a solid colour),
and what each page decodes and hears, read the ways the product itself reads it.

Shared by the six- and eight-person tests. Each page is checked three ways:

- the colour at the centre of every remote camera tile (what a person sees);
- per inbound audio stream, whether its samples advance (``getStats``);
- the page's own report to the server's media reconciler (``media_report``: per remote
  person, audio and video advancing), so audio is attributed to a person, which is how
  a camera-off person (audio only) is checked;

and the server's view: the open gaps it sends the clinicians (``media_gaps``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from testkit.browser import PALETTE, nearest
from tests.web.conftest import Server, launch, new_page, wait_js
from tests.web.test_flow import add_person, sign_in

COLOURS = PALETTE
THERAPIST = "therapist"  # the signed-in clinician's page; the therapist's camera is red
# Bound for the pages to settle (seconds): generous, because several Chromiums share two
# cores with whatever else runs; the measured times are printed.
WITHIN = 60.0

# Every remote camera tile's centre pixel, and per inbound audio stream whether it
# advances: read through DevTools (the page's CSP forbids injected script).
SAMPLE = """() => {
  const out = [];
  for (const v of document.querySelectorAll('#stage figure.camera video')) {
    if (v.muted || !v.videoWidth) continue;
    const c = document.createElement('canvas');
    c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext('2d'); g.drawImage(v, 0, 0);
    const d = g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data;
    out.push([d[0], d[1], d[2]]);
  }
  return out;
}"""
AUDIO = """async () => {
  const counts = [];
  for (const pc of (window.__hearthPcs || [])) {
    if (pc.connectionState === 'closed') continue;
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        counts.push([s.mid, s.totalSamplesReceived || 0]);
      }
    });
  }
  return counts;
}"""
# What each connection of a page is doing: its states, and per inbound stream what
# arrived and what was decoded (printed when a page does not settle).
DIAG = """async () => {
  const out = [];
  for (const pc of (window.__hearthPcs || [])) {
    if (pc.connectionState === 'closed') continue;
    const stats = await pc.getStats();
    const rtp = [];
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp') rtp.push([s.mid, s.kind, s.packetsReceived,
        s.framesDecoded ?? s.totalSamplesReceived, s.keyFramesDecoded, s.pliCount]);
      if (s.type === 'candidate-pair' && s.nominated) pair = [s.state, s.bytesReceived];
    });
    out.push({conn: pc.connectionState, ice: pc.iceConnectionState,
      sig: pc.signalingState, dirs: pc.getTransceivers().map((t) => t.currentDirection)
      .join(','), pair, rtp});
  }
  return out;
}"""
TILES = """() => [...document.querySelectorAll('#stage figure')].map(f => {
  const v = f.querySelector('video'); return [f.dataset.key, v ? v.videoWidth : -1,
  v ? v.dataset.mid : '', v && v.srcObject ? v.srcObject.getTracks().map(
  t => t.readyState + ':' + t.muted).join() : '', f.textContent]; })"""
# Installed before the page's scripts: its peer connections (for getStats), and a tap
# on its socket that keeps the newest media_report the page sent and the newest
# media_gaps it received (socket.io text frames: 42[/namespace,][ack]["event", data]).
TRACK_PCS = """(() => {
  const Orig = window.RTCPeerConnection;
  window.__hearthPcs = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Orig(...args);
    window.__hearthPcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Orig.prototype;
  Object.assign(window.RTCPeerConnection, Orig);
  const parse = (data) => {
    if (typeof data !== 'string' || !data.startsWith('42')) return null;
    try { return JSON.parse(data.slice(data.indexOf('['))); } catch (e) { return null; }
  };
  window.__hearthReport = null;
  window.__hearthGaps = [];
  const Socket = window.WebSocket;
  window.WebSocket = class extends Socket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        const m = parse(e.data);
        if (m && m[0] === 'media_gaps') window.__hearthGaps = m[1].gaps;
      });
    }
    send(data) {
      const m = parse(data);
      if (m && m[0] === 'media_report') {
        window.__hearthReport = {at: Date.now(), receiving: m[1].receiving};
      }
      return super.send(data);
    }
  };
})();"""
SCREEN = """() => [[...document.querySelectorAll('[id^=screen-]')].filter(s => !s.hidden)
  .map(s => s.id).join(), document.getElementById('banner')?.textContent || '']"""
# Marks the stream each remote camera tile plays; returns the page's connection count
# and each tile's track. Then, per tile: still the marked stream, and its track.
TAG = """() => [window.__hearthPcs.length, Object.fromEntries(
  [...document.querySelectorAll('#stage figure.camera video')].filter(v => !v.muted && v.srcObject)
  .map(v => { v.srcObject.__hearthKept = true;
    return [v.closest('figure').dataset.participant, v.srcObject.getVideoTracks()[0]?.id]; }))]"""
KEPT = """() => [window.__hearthPcs.length, Object.fromEntries(
  [...document.querySelectorAll('#stage figure.camera video')].filter(v => !v.muted && v.srcObject)
  .map(v => [v.closest('figure').dataset.participant,
    [!!v.srcObject.__hearthKept, v.srcObject.getVideoTracks()[0]?.id, v.paused]]))]"""
OWN_ID = """() => { const f = [...document.querySelectorAll('#stage figure.tile.camera')]
  .find(f => f.querySelector('.tile-label').textContent.endsWith('(you)'));
  return f ? f.dataset.participant : null; }"""
TILE_GEOMETRY = """() => {
  const tiles = [...document.querySelectorAll('#stage figure.tile')].map(t => {
    const r = t.getBoundingClientRect();
    const c = t.querySelector('figcaption').getBoundingClientRect();
    return {pid: t.dataset.participant, key: t.dataset.key,
            video: !t.classList.contains('no-video'), avatar: !!t.querySelector('.avatar'),
            name: t.querySelector('.tile-label').textContent,
            box: [r.left, r.top, r.right, r.bottom], label: [c.left, c.top, c.right, c.bottom]};
  });
  return {vw: innerWidth, vh: innerHeight, tiles};
}"""


@dataclass(frozen=True)
class Person:
    """A family member; ``colour`` None joins with the camera off, ``mic`` False with the
    microphone off."""

    name: str
    role: str
    guardian: str | None
    colour: str | None
    mic: bool = True


def y4m(path: Path, rgb: tuple[int, int, int]) -> Path:
    """A solid-colour 160x120 camera at 10 fps (BT.601 limited range)."""
    r, g, b = rgb
    y = round(16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256)
    cb = round(128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256)
    cr = round(128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256)
    w, h = 160, 120
    quarter = w * h // 4
    frame = b"FRAME\n" + bytes([y]) * (w * h) + bytes([cb]) * quarter + bytes([cr]) * quarter
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode())
        fh.write(frame * 10)
    return path


def seen(page: Page) -> set[str]:
    return {c for rgb in page.evaluate(SAMPLE) if (c := nearest(rgb)) is not None}


def hearing(page: Page, before: dict[str, int]) -> tuple[int, dict[str, int]]:
    """How many inbound audio streams advanced since ``before``."""
    now = {mid: n for mid, n in page.evaluate(AUDIO)}
    return sum(1 for mid, n in now.items() if n > before.get(mid, n)), now


def join(page: Page, link: str, *, camera: bool = True, mic: bool = True) -> None:
    """Pre-join with the camera and microphone on or off, consent (for a guardian's child
    too), and join."""
    page.goto(link)
    expect(page.locator("#screen-prejoin")).to_be_visible()
    if not camera:
        page.check("#pj-camoff")
    if not mic:
        page.check("#pj-micoff")
    if camera:
        wait_js(page, "document.getElementById('pj-video').videoWidth > 0", limit=60)
    elif mic:
        wait_js(page, "document.getElementById('pj-video').srcObject?.getAudioTracks().length"
                " > 0 && document.getElementById('pj-camera-off').hidden === false", limit=60)
    page.check("#pj-consent")
    expect(page.locator("#consent-hash")).to_be_attached()
    for box in page.locator("input[data-consent-child]").all():
        box.check()
    page.click("#pj-join")


def check_tiles(page: Page, what: str, avatars: set[str]) -> None:
    """Every tile inside the viewport with its name label inside it, no two intersecting;
    the pids in ``avatars`` (camera off) show an avatar and no video."""
    g = page.evaluate(TILE_GEOMETRY)
    eps = 0.5
    tiles = g["tiles"]
    for i, a in enumerate(tiles):
        ax0, ay0, ax1, ay1 = a["box"]
        assert min(ax1 - ax0, ay1 - ay0) > 40, f"{what}: {a['name']} tile too small {a['box']}"
        on_screen = ax0 >= -eps and ay0 >= -eps and ax1 <= g["vw"] + eps and ay1 <= g["vh"] + eps
        assert on_screen, f"{what}: {a['name']}'s tile {a['box']} outside the viewport"
        lx0, ly0, lx1, ly1 = a["label"]
        inside = lx0 >= ax0 - eps and ly0 >= ay0 - eps and lx1 <= ax1 + eps and ly1 <= ay1 + eps
        assert inside, f"{what}: {a['name']}'s label {a['label']} outside its tile {a['box']}"
        for b in tiles[i + 1:]:
            bx0, by0, bx1, by1 = b["box"]
            overlap = min(ax1, bx1) - max(ax0, bx0) > eps and min(ay1, by1) - max(ay0, by0) > eps
            assert not overlap, f"{what}: {a['name']} {a['box']} overlaps {b['name']} {b['box']}"
    cameras = {t["pid"]: t for t in tiles if t["key"].endswith(":camera")}
    for pid in avatars:
        tile = cameras.get(pid)
        assert tile is not None, f"{what}: no tile for {pid}; tiles {tiles}"
        shown = tile["avatar"] and not tile["video"] and tile["name"].strip()
        assert shown, f"{what}: camera-off tile {tile}"


class Family:
    """One session: the therapist's page (red camera) and a page per person. People with a
    camera each have their own Chromium (the fake camera is per browser); people with the
    camera off share one."""

    def __init__(self, playwright: object, server: Server, tmp_path: Path,
                 people: list[Person], title: str, *, therapist_mic: bool = True) -> None:
        self.people = people
        self.mics = {THERAPIST: therapist_mic, **{p.name: p.mic for p in people}}
        self.colours: dict[str, str | None] = {THERAPIST: "red",
                                               **{p.name: p.colour for p in people}}
        self.browsers: dict[str, Browser] = {}
        for name, colour in self.colours.items():
            if colour is not None:
                camera = y4m(tmp_path / f"{name}.y4m", COLOURS[colour])
                self.browsers[name] = launch(
                    playwright, [f"--use-file-for-fake-video-capture={camera}"])
        if any(p.colour is None for p in people):
            self.browsers["camera off"] = launch(playwright)
        console = new_page(self.browsers[THERAPIST])
        console.on("dialog", lambda d: d.accept())
        sign_in(console, server)
        console.fill("#ns-title", title)
        console.click("#new-session button[type=submit]")
        links = {p.name: add_person(console, p.name, p.role, p.guardian) for p in people}
        with console.expect_popup() as popup:
            console.click("#open-room")
        self.dr = dr = popup.value
        dr.set_default_timeout(30000)
        dr.wait_for_url("**/join?s=*")  # the link is traded for the session cookie
        dr.add_init_script(TRACK_PCS)
        dr.reload()
        join(dr, dr.url, mic=therapist_mic)
        self.pages: dict[str, Page] = {THERAPIST: dr}
        for p in people:
            page = new_page(self.browsers[p.name if p.colour else "camera off"])
            page.set_default_timeout(30000)
            page.add_init_script(TRACK_PCS)
            join(page, links[p.name], camera=p.colour is not None, mic=p.mic)
            self.pages[p.name] = page
        self.everyone = {n: set(self.pages) - {n} for n in self.pages}
        self.ids: dict[str, str] = {}
        self.admitted = False  # everyone in the session (not the lobby), all settled
        dr.click("#tab-people")

    def settle(self, expected: dict[str, set[str]], what: str) -> float:
        """Wait until every page decodes exactly the colours of the people it should see,
        hears as many audio streams as they have microphones on, reports hearing exactly
        those people, and the server reports no open gap to the therapist; returns the
        seconds it took."""
        t0 = time.monotonic()
        since = time.time() * 1000
        audio: dict[str, dict[str, int]] = {n: {} for n in self.pages}
        state: dict[str, object] = {}
        while time.monotonic() - t0 < WITHIN:
            done = True
            for name, page in self.pages.items():
                colours = {c for n in expected[name] if (c := self.colours[n]) is not None}
                voices = {n for n in expected[name] if self.mics[n]}
                got = seen(page)
                heard, audio[name] = hearing(page, audio[name])
                named = self.reported(page, since)
                state[name] = (sorted(got), heard, sorted(named))
                if got != colours or heard < len(voices) or named != voices:
                    done = False
            gaps = self.dr.evaluate("() => window.__hearthGaps")
            if done and not gaps:
                print(f"{what}: settled in {time.monotonic() - t0:.1f} s")
                return time.monotonic() - t0
            time.sleep(1.0)  # sampling costs the pages CPU too
        tiles = {n: p.evaluate(TILES) for n, p in self.pages.items()}
        diag = {n: p.evaluate(DIAG) for n, p in self.pages.items()}
        screens = {n: p.evaluate(SCREEN) for n, p in self.pages.items()}
        raise AssertionError(
            f"{what}: not settled in {WITHIN} s; expected {expected}, saw (colours, audio "
            f"streams heard, people reported heard) {state}; open gaps the server reports "
            f"{self.dr.evaluate('() => window.__hearthGaps')} (ids {self.ids}); "
            f"screens and banners {screens}; tiles {tiles}; connections {diag}")

    def reported(self, page: Page, since: float) -> set[str]:
        """Who the page last told the server it hears (a report sent after ``since``)."""
        report = page.evaluate("() => window.__hearthReport")
        if not report or report["at"] < since or not self.ids:
            return set()
        names = {pid: n for n, pid in self.ids.items()}
        return {names.get(pid, pid) for pid, r in report["receiving"].items() if r["audio"]}

    def admit_all(self) -> float:
        # Everyone waits in the lobby but the clinicians (admitted by role).
        for p in self.people:
            if p.role != "co_therapist":
                expect(self.pages[p.name].locator("#screen-lobby")).to_be_visible()
        self.dr.click("#admit-all")
        if not self.ids:
            for name, page in self.pages.items():
                self.ids[name] = str(wait_js(page, f"({OWN_ID})()", limit=30))
        took = self.settle(self.everyone, "admitted")
        self.admitted = True
        return took

    def back_to_lobby(self) -> None:
        """All but the clinicians, through each person's menu."""
        self.admitted = False
        self.dr.click("#tab-people")
        for p in self.people:
            if p.role == "co_therapist":
                continue
            row = self.dr.locator(f'#people-list > li[data-participant="{self.ids[p.name]}"]')
            row.get_by_role("button", name=f"Options for {p.name}").click()
            row.get_by_role("menuitem", name="Send to lobby").click()
            try:
                expect(self.dr.locator(
                    f'#lobby-list > li[data-participant="{self.ids[p.name]}"]')).to_have_count(
                    1, timeout=30000)
            except AssertionError as exc:
                panel = self.dr.evaluate("() => document.querySelector('aside').innerText")
                raise AssertionError(f"{p.name} not in the lobby; panel: {panel}") from exc

    def open_breakouts(self, assigned: Mapping[str, Iterable[str]]) -> float:
        """Rooms by name → people; everyone else stays in the main room. Returns the
        seconds from the click to every page settled."""
        dr = self.dr
        dr.click("#tab-breakouts")
        if dr.locator("ul.rooms li[data-room]").count() == 0:
            dr.fill("#bo-count", str(len(assigned)))
            dr.click("#bo-create button[type=submit]")
            try:
                expect(dr.locator("ul.rooms li[data-room]")).to_have_count(len(assigned),
                                                                          timeout=30000)
            except AssertionError as exc:
                panel = dr.evaluate("() => document.querySelector('aside').innerText")
                raise AssertionError(f"no breakout rooms; panel: {panel}; "
                                     f"banner: {dr.evaluate(SCREEN)}") from exc
        for name, room in ((n, r) for r, names in assigned.items() for n in names):
            dr.select_option(f'select[data-assign="{self.ids[name]}"]', label=room)
            try:
                expect(dr.locator(f'ul.rooms li[data-room]:has-text("{name}")')
                       ).to_have_count(1, timeout=30000)
            except AssertionError as exc:
                panel = dr.evaluate("() => document.querySelector('aside').innerText")
                raise AssertionError(f"{name} not assigned; panel: {panel}") from exc
        before = {n: p.evaluate(TAG) for n, p in self.pages.items()}
        dr.click("#bo-open button[type=submit]")
        expect(dr.locator("#bo-close")).to_be_visible(timeout=30000)
        rooms = [set(names) for names in assigned.values()]
        rooms.append(set(self.pages) - set().union(*rooms))  # the main room
        took = self.settle({n: room - {n} for room in rooms for n in room}, "breakouts")
        # Room-mates were on screen before: a tile still fed by the same track keeps
        # playing the same stream (a new one restarts the <video>, blank until its next
        # frame), unless the page started its media over meanwhile.
        for name, page in self.pages.items():
            connections, tiles = page.evaluate(KEPT)
            count, tracks = before[name]
            if connections == count:
                restarted = {pid: t for pid, t in tiles.items()
                             if tracks.get(pid) == t[1] and not t[0]}
                assert not restarted, f"{name}'s page restarted tiles {restarted} " \
                                      f"(kept stream, track, paused)"
        return took

    def close_all(self) -> float:
        self.dr.fill("#bo-grace", "0")
        self.dr.click("#bo-close")
        expect(self.dr.locator("#bo-close")).to_have_count(0, timeout=30000)
        return self.settle(self.everyone, "close-all")

    def close(self) -> None:
        for b in self.browsers.values():
            b.close()

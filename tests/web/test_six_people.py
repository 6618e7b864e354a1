"""A six-person family admitted all at once: every page decodes the colour and hears
the audio of every other present person, again after breakouts open (room-mates
only) and after close-all (everyone), in each of several repetitions.

Six Chromiums on a small host: 160x120 solid-colour cameras at 10 fps, Chromium
under ``nice``. Between repetitions everyone is sent back to the lobby and admitted
again with "Admit everyone", on the same browsers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Server, launch, new_page
from tests.web.test_flow import add_person, prejoin, sign_in

# Admissions in one run (everyone sent back to the lobby and admitted again between
# them): ten took 95 s on a shared two-core host (load 15-23).
REPS = int(os.environ.get("HEARTH_SIX_REPS", "10"))
COLOURS = {
    "red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220),
    "yellow": (220, 220, 30), "magenta": (220, 30, 220), "cyan": (30, 200, 220),
}
PEOPLE = [  # (name, role, guardian, colour); the therapist is red
    ("Cole", "co_therapist", None, "green"), ("Ana", "client", None, "blue"),
    ("Ben", "partner", None, "yellow"), ("Pat", "parent", None, "magenta"),
    ("Kit", "child", "Pat", "cyan"),
]
# Bound for the pages to settle (seconds): generous, because six Chromiums share two
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
})();"""


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


def nearest(rgb: list[int]) -> str | None:
    name, ref = min(COLOURS.items(),
                    key=lambda kv: sum((a - b) ** 2 for a, b in zip(kv[1], rgb, strict=True)))
    return name if sum((a - b) ** 2 for a, b in zip(ref, rgb, strict=True)) < 60 ** 2 else None


def seen(page: Page) -> set[str]:
    return {c for rgb in page.evaluate(SAMPLE) if (c := nearest(rgb)) is not None}


def hearing(page: Page, before: dict[str, int]) -> tuple[int, dict[str, int]]:
    """How many inbound audio streams advanced since ``before``."""
    now = {mid: n for mid, n in page.evaluate(AUDIO)}
    return sum(1 for mid, n in now.items() if n > before.get(mid, n)), now


def settle(pages: dict[str, Page], expected: dict[str, set[str]], what: str) -> float:
    """Wait until every page decodes exactly the expected colours and hears as many
    audio streams; returns the seconds it took."""
    t0 = time.monotonic()
    audio: dict[str, dict[str, int]] = {c: {} for c in pages}
    state: dict[str, object] = {}
    while time.monotonic() - t0 < WITHIN:
        done = True
        for colour, page in pages.items():
            got = seen(page)
            heard, audio[colour] = hearing(page, audio[colour])
            state[colour] = (sorted(got), heard)
            if got != expected[colour] or heard < len(expected[colour]):
                done = False
        if done:
            print(f"{what}: settled in {time.monotonic() - t0:.1f} s")
            return time.monotonic() - t0
        time.sleep(1.0)  # sampling costs the pages CPU too
    tiles = {c: p.evaluate(
        "() => [...document.querySelectorAll('#stage figure')].map(f => {"
        " const v = f.querySelector('video'); return [f.dataset.key, v ? v.videoWidth : -1,"
        " v ? v.dataset.mid : '',"
        " v && v.srcObject ? v.srcObject.getTracks().map(t => t.readyState + ':' + t.muted)"
        ".join() : '', f.textContent]; })") for c, p in pages.items()}
    diag = {c: p.evaluate(DIAG) for c, p in pages.items()}
    raise AssertionError(f"{what}: not settled in {WITHIN} s; expected {expected}, "
                         f"saw (colours, audio streams heard) {state}; tiles {tiles}; "
                         f"connections {diag}")


# The couple in Room 1, the parent with the child in Room 2; the clinicians stay.
ASSIGNED = {"Room 1": ("Ana", "Ben"), "Room 2": ("Pat", "Kit")}


class Family:
    """Six Chromiums in one session: the therapist's page (red) and five family pages."""

    def __init__(self, playwright: object, server: Server, tmp_path: Path) -> None:
        self.colours = {"therapist": "red", **{name: c for name, _, _, c in PEOPLE}}
        cameras = {name: y4m(tmp_path / f"{name}.y4m", COLOURS[c])
                   for name, c in self.colours.items()}
        self.browsers = {
            name: launch(playwright, [f"--use-file-for-fake-video-capture={camera}"])
            for name, camera in cameras.items()}
        console = new_page(self.browsers["therapist"])
        console.on("dialog", lambda d: d.accept())
        sign_in(console, server)
        console.fill("#ns-title", "Six of us")
        console.click("#new-session button[type=submit]")
        links = {name: add_person(console, name, role, guardian)
                 for name, role, guardian, _ in PEOPLE}
        with console.expect_popup() as popup:
            console.click("#open-room")
        self.dr = dr = popup.value
        dr.set_default_timeout(30000)
        dr.wait_for_url("**/join?s=*")  # the link is traded for the session cookie
        dr.add_init_script(TRACK_PCS)
        dr.reload()
        prejoin(dr, dr.url)
        self.pages = {"red": dr}
        for name, _, _, colour in PEOPLE:
            page = new_page(self.browsers[name])
            page.set_default_timeout(30000)
            page.add_init_script(TRACK_PCS)
            prejoin(page, links[name])
            self.pages[colour] = page
        self.everyone = {c: set(self.pages) - {c} for c in self.pages}
        self.ids: dict[str, str] = {}
        dr.click("#tab-people")

    def admit_all(self) -> float:
        # Everyone waits in the lobby (Cole, a co-therapist, is admitted by role).
        for _, _, _, colour in PEOPLE[1:]:
            expect(self.pages[colour].locator("#screen-lobby")).to_be_visible()
        self.dr.click("#admit-all")
        took = settle(self.pages, self.everyone, "admitted")
        self.ids = self.ids or {name: str(self.dr.evaluate(
            "(n) => [...document.querySelectorAll('#people-list > li')]"
            ".find(li => li.textContent.trim().startsWith(n)).dataset.participant", name))
            for name, _, _, _ in PEOPLE}
        return took

    def back_to_lobby(self) -> None:
        """All but the clinicians, through each person's menu."""
        self.dr.click("#tab-people")
        for name, _, _, _ in PEOPLE[1:]:
            row = self.dr.locator(f'#people-list > li[data-participant="{self.ids[name]}"]')
            row.get_by_role("button", name=f"Options for {name}").click()
            row.get_by_role("menuitem", name="Send to lobby").click()
            try:
                expect(self.dr.locator(
                    f'#lobby-list > li[data-participant="{self.ids[name]}"]')).to_have_count(
                    1, timeout=30000)
            except AssertionError as exc:
                panel = self.dr.evaluate("() => document.querySelector('aside').innerText")
                raise AssertionError(f"{name} not in the lobby; panel: {panel}") from exc

    def close(self) -> None:
        for b in self.browsers.values():
            b.close()


@pytest.mark.timeout(1200)
def test_six_people_admitted_at_once_see_and_hear_everyone(
        playwright_instance: object, server: Server, tmp_path: Path) -> None:
    family = Family(playwright_instance, server, tmp_path)
    timings: list[float] = []
    try:
        for rep in range(REPS):
            timings.append(family.admit_all())
            if rep + 1 < REPS:
                family.back_to_lobby()
        print("six people admitted at once, seconds to settle:", [round(t, 2) for t in timings])
        print("relay repairs:", {what: sum(what in line for line in server.log) for what in (
            "media gap repair", "repair restarts media", "peer connection")})
    except Exception:
        Path(os.environ.get("HEARTH_SIX_LOG", tmp_path / "server.log")).write_text(
            "".join(server.log))
        print("".join(line for line in server.log[-600:]
                      if "gap" in line or "WARNING" in line or "ERROR" in line)[-8000:])
        raise
    finally:
        family.close()


@pytest.mark.timeout(1800)
def test_six_people_in_breakouts_see_only_their_room_mates(
        playwright_instance: object, server: Server, tmp_path: Path) -> None:
    family = Family(playwright_instance, server, tmp_path)
    dr = family.dr
    try:
        family.admit_all()
        dr.click("#tab-breakouts")
        if dr.locator("ul.rooms li[data-room]").count() == 0:
            dr.fill("#bo-count", "2")
            dr.click("#bo-create button[type=submit]")
            expect(dr.locator("ul.rooms li[data-room]")).to_have_count(2, timeout=30000)
        for name, room in ((n, r) for r, names in ASSIGNED.items() for n in names):
            dr.select_option(f'select[data-assign="{family.ids[name]}"]', label=room)
            try:
                expect(dr.locator(f'ul.rooms li[data-room]:has-text("{name}")')
                       ).to_have_count(1, timeout=30000)
            except AssertionError as exc:
                panel = dr.evaluate("() => document.querySelector('aside').innerText")
                raise AssertionError(f"{name} not assigned; panel: {panel}") from exc
        dr.click("#bo-open button[type=submit]")
        expect(dr.locator("#bo-close")).to_be_visible(timeout=30000)
        colour = family.colours
        rooms = [{colour[n] for n in names} for names in ASSIGNED.values()]
        rooms.append(set(family.pages) - set().union(*rooms))  # the clinicians, in main
        settle(family.pages, {c: set(room) - {c} for room in rooms for c in room}, "breakouts")
        dr.fill("#bo-grace", "0")
        dr.click("#bo-close")
        expect(dr.locator("#bo-close")).to_have_count(0, timeout=30000)
        settle(family.pages, family.everyone, "close-all")
    except Exception:
        Path(os.environ.get("HEARTH_SIX_LOG", tmp_path / "server.log")).write_text(
            "".join(server.log))
        raise
    finally:
        family.close()

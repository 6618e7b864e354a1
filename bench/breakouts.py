"""Breakouts as a person feels them, in real Chromium: what Alex's screen shows, when.

Three family members, each in their own Chromium with a fake camera of one colour
(Alex red, Blair green, Casey blue), and a therapist on a socket who drives breakouts.
Alex's page records every decoded remote frame (``requestVideoFrameCallback``) with the
colour at its centre, on the wall clock. Per repeat:

- **open** (Alex and Casey in room 1, Blair in room 2): command sent → Blair's last frame
  on Alex's screen (the privacy cut-off);
- **move** Alex into Blair's room: command sent → Blair's first frame;
- **close all** (no countdown): command sent → Casey's first frame (back in one room).

With ``--people 6``: six family members, each in their own Chromium with a camera of one
colour (160x120, 10 fps), in two rooms of three; per repeat, from the command sent:

- **open**: every page settled, showing exactly its room-mates' colours (the last frame of
  anyone else, the first of each room-mate, no other colour for 1.5 s after);
- **close all** (no countdown): every page shows all five others again;

and where the open and the close spent their time: the server's stages
(``hearth_breakout_stage_seconds``, read from /metrics around each command: committed,
snapshots sent, the first and the last person's relay slots re-pointed, the last layout
sent, acked), then each page's ``performance`` marks (the
state carrying the command's version; the new slot layout) and its frames. Each stage
is the slowest page's.

A benchmark, not a test: it asserts nothing about time. Writes its section of
docs/benchmarks.md.

    .venv/bin/python -m bench.breakouts --repeats 10
    .venv/bin/python -m bench.breakouts --people 6 --repeats 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import requests
import socketio

from bench.doc import pct, replace_section
from testkit.browser import (
    PALETTE,
    PASSWORD,
    Server,
    launch,
    nearest,
    new_page,
    solid_y4m,
    wait_js,
)

BEGIN, END = "<!-- breakouts:begin -->", "<!-- breakouts:end -->"
BEGIN6, END6 = "<!-- breakouts-six:begin -->", "<!-- breakouts-six:end -->"
COLOURS = {"Alex": (220, 30, 30), "Blair": (30, 200, 30), "Casey": (30, 30, 220)}
NAMES = {"red": "Alex", "green": "Blair", "blue": "Casey"}
# Six people, named by their camera's colour; the first three in room one.
SIX = {name.capitalize(): rgb for name, rgb in PALETTE.items()}
QUIET_MS = 1500.0  # no frame of anyone else for this long: the page has settled
SERVER_STAGES = ("committed", "snapshot", "relay_first", "relay", "layout", "acked")
STAGE_LINE = re.compile(r'^hearth_breakout_stage_seconds_(sum|count)\{stage="(\w+)"\} (\S+)$')

# Installed through DevTools (our CSP forbids page-side eval, not this).
WATCH_FRAMES = """() => {
  window.__frames = [];
  const canvas = document.createElement('canvas');
  canvas.width = 8; canvas.height = 8;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  const watch = (v) => {
    if (v.__watched || v.muted) return;  // remote tiles only (our own is muted)
    v.__watched = true;
    const each = (now) => {
      if (v.videoWidth) {
        g.drawImage(v, 0, 0, 8, 8);
        const d = g.getImageData(4, 4, 1, 1).data;
        window.__frames.push([performance.timeOrigin + now, d[0], d[1], d[2]]);
      }
      v.requestVideoFrameCallback(each);
    };
    v.requestVideoFrameCallback(each);
  };
  setInterval(() => document.querySelectorAll('#stage video').forEach(watch), 10);
}"""


def colours(page: Any, since_ms: float) -> list[tuple[float, str | None]]:
    """(wall-clock ms, palette colour) of each remote frame the page decoded since then;
    the page keeps no older frames once it holds many."""
    raw = page.evaluate("(since) => { const out = window.__frames.filter(f => f[0] >= since);"
                        " if (window.__frames.length > 20000) window.__frames = out;"
                        " return out; }", since_ms)
    return [(float(t), nearest((int(r), int(g), int(b)))) for t, r, g, b in raw]


def frames(page: Any, since_ms: float) -> list[tuple[float, str | None]]:
    return [(t, NAMES.get(str(c))) for t, c in colours(page, since_ms)]


def first_of(page: Any, who: str, since_ms: float, limit: float = 10.0) -> float | None:
    """Milliseconds from ``since_ms`` to ``who``'s first frame on the page (bounded wait)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        seen = [t for t, name in frames(page, since_ms) if name == who]
        if seen:
            return min(seen) - since_ms
        time.sleep(0.05)
    return None


class Session:
    """``hearth serve`` on loopback with one session: ``names`` added as clients, and the
    therapist on a socket that admits whoever knocks and sends the commands."""

    def __init__(self, names: list[str]) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="hearth-bench-breakouts-"))
        self.server = server = Server(self.tmp)
        http = requests.Session()
        http.post(f"{server.url}/api/login", timeout=10,
                  json={"username": "dr.rivera", "password": PASSWORD}).raise_for_status()
        sid = http.post(f"{server.url}/api/sessions", json={"title": "bench"},
                        timeout=10).json()["ok"]["id"]
        self.people: dict[str, dict[str, Any]] = {
            name: http.post(f"{server.url}/api/sessions/{sid}/participants", timeout=10,
                            json={"display_name": name, "role": "client"}).json()["ok"]
            for name in names}
        link = http.post(f"{server.url}/api/sessions/{sid}/join",
                         timeout=10).json()["ok"]["link"]
        self.dr = dr = socketio.Client(reconnection=False)
        self.latest: list[dict[str, Any]] = []

        def on_notice(data: dict[str, Any]) -> None:
            if data.get("kind") == "knock":
                dr.emit("admit", {"participant_id": data["participant_id"]})

        dr.on("notice", on_notice)
        dr.on("state", lambda st: self.latest.append(st))
        dr.connect(server.url, auth={"token": link.split("#", 1)[1]}, transports=["polling"])
        self.call("join", {"consent_version": "bench"})

    def call(self, event: str, payload: dict[str, Any] | None = None) -> Any:
        res = self.dr.call(event, payload or {}, timeout=30)  # a starved host answers late
        if "ok" not in res:
            raise RuntimeError(f"{event} refused: {res}")
        return res["ok"]

    def rooms(self, names: list[str]) -> list[str]:
        """Create breakout rooms; their ids, once the snapshot carrying them arrived."""
        version = self.call("breakouts_create", {"names": names})["version"]
        for _ in range(100):  # bounded: the snapshot with the rooms arrives after the ack
            if self.latest and self.latest[-1]["version"] >= version:
                break
            time.sleep(0.05)
        return [r["id"] for r in self.latest[-1]["breakouts"]["rooms"][:len(names)]]

    def page(self, browser: Any, name: str) -> Any:
        """``name``'s page, joined (pre-join with the camera on, consent, join)."""
        page = new_page(browser)
        page.goto(self.people[name]["link"])
        wait_js(page, "document.getElementById('pj-video').videoWidth > 0", limit=30)
        page.check("#pj-consent")
        page.click("#pj-join")
        return page

    def stages(self) -> dict[str, tuple[float, float]]:
        """The server's breakout stages so far: stage -> (count, sum of seconds)."""
        text = self.server.metrics()
        found: dict[str, dict[str, float]] = {}
        for line in text.splitlines():
            m = STAGE_LINE.match(line)
            if m:
                found.setdefault(m.group(2), {})[m.group(1)] = float(m.group(3))
        return {k: (v.get("count", 0.0), v.get("sum", 0.0)) for k, v in found.items()}

    def close(self) -> None:
        self.dr.disconnect()
        self.server.stop()
        (self.tmp / "server.log").write_text("".join(self.server.log))


def run(repeats: int) -> dict[str, list[float]]:
    s = Session(list(COLOURS))
    call = s.call
    results: dict[str, list[float]] = {"open": [], "move": [], "close": [], "missed": []}
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browsers = []
        pages: dict[str, Any] = {}
        try:
            for name, rgb in COLOURS.items():
                cam = solid_y4m(s.tmp / f"{name}.y4m", rgb)
                browser = launch(p, [f"--use-file-for-fake-video-capture={cam}"])
                browsers.append(browser)
                pages[name] = s.page(browser, name)
            alex = pages["Alex"]
            wait_js(alex, "!document.getElementById('screen-session').hidden", limit=30)
            alex.evaluate(WATCH_FRAMES)
            start = time.time() * 1000
            for who in ("Blair", "Casey"):
                if first_of(alex, who, start, limit=30) is None:
                    raise RuntimeError(f"Alex never saw {who}")
            one, two = s.rooms(["One", "Two"])
            pid = {name: s.people[name]["participant_id"] for name in COLOURS}
            for _ in range(repeats):
                for name, room in (("Alex", one), ("Casey", one), ("Blair", two)):
                    call("breakouts_assign", {"participant_id": pid[name], "room_id": room})
                time.sleep(1.0)  # steady state: Alex sees Blair and Casey
                t_open = time.time() * 1000
                call("breakouts_open", {})
                time.sleep(1.5)
                blair = [t for t, n in frames(alex, t_open) if n == "Blair"]
                results["open"].append(max(blair) - t_open if blair else 0.0)
                t_move = time.time() * 1000
                call("breakouts_move", {"participant_id": pid["Alex"], "room_id": two})
                moved = first_of(alex, "Blair", t_move)
                t_close = time.time() * 1000
                call("breakouts_close", {"grace_seconds": 0})
                back = first_of(alex, "Casey", t_close)
                for key, value in (("move", moved), ("close", back)):
                    if value is None:
                        results["missed"].append(1.0)
                    else:
                        results[key].append(value)
                time.sleep(1.0)
        finally:
            for browser in browsers:
                browser.close()
            s.close()
    return results


def settled(pages: dict[str, Any], expected: dict[str, set[str]], since_ms: float,
            limit: float = 30.0) -> dict[str, float] | None:
    """Per page, milliseconds from ``since_ms`` until it showed exactly ``expected``: the
    later of the last frame of anyone else and the first frame of each expected colour,
    once every expected colour is current and nobody else was shown for ``QUIET_MS``.
    None when some page does not get there within ``limit`` seconds."""
    deadline = time.monotonic() + limit
    done: dict[str, float] = {}
    while time.monotonic() < deadline:
        now = time.time() * 1000
        for name, page in pages.items():
            if name in done:
                continue
            seen = colours(page, since_ms)
            mates = expected[name]
            others = [t for t, c in seen if c is not None and c not in mates]
            first = {c: min(t for t, k in seen if k == c) for c in mates
                     if any(k == c for _, k in seen)}
            current = {c for t, c in seen if t >= now - 1000}
            if len(first) == len(mates) and mates <= current \
                    and (not others or now - max(others) > QUIET_MS):
                done[name] = max([*first.values(), *others, since_ms]) - since_ms
        if len(done) == len(pages):
            return done
        time.sleep(0.2)
    return None


def page_marks(page: Any, since_ms: float) -> dict[str, float]:
    """Wall-clock ms of the page's ``hearth:`` marks since ``since_ms``: the first of
    each name (state marks keep their version)."""
    raw = page.evaluate(
        "(since) => performance.getEntriesByType('mark').filter(m => m.name.startsWith('hearth:')"
        " && performance.timeOrigin + m.startTime >= since)"
        ".map(m => [m.name, performance.timeOrigin + m.startTime])", since_ms)
    out: dict[str, float] = {}
    for name, at in raw:
        out.setdefault(str(name), float(at))
    return out


def switch(s: Session, pages: dict[str, Any], command: str, payload: dict[str, Any],
           expected: dict[str, set[str]]) -> dict[str, float] | None:
    """Send one command; the time to each stage (ms from sending), or None when some
    page never settled."""
    before = s.stages()
    sent = time.time() * 1000
    version = s.call(command, payload)["version"]
    done = settled(pages, expected, sent)
    if done is None:
        return None
    after = s.stages()
    out: dict[str, float] = {}
    for stage in SERVER_STAGES:
        (n0, s0), (n1, s1) = before.get(stage, (0.0, 0.0)), after.get(stage, (0.0, 0.0))
        if n1 > n0:
            out[f"server: {stage}"] = 1000 * (s1 - s0) / (n1 - n0)
    states, layouts = [], []
    for page in pages.values():
        marks = page_marks(page, sent)
        state = [at for name, at in marks.items() if name.startswith("hearth:state:")
                 and int(name.rsplit(":", 1)[1]) >= version]
        if state:
            states.append(min(state) - sent)
        if "hearth:layout" in marks:
            layouts.append(marks["hearth:layout"] - sent)
    if states:
        out["page: state received"] = max(states)
    if layouts:
        out["page: layout received"] = max(layouts)
    out["page: settled"] = max(done.values())
    # People on screen before and after: the longest wait between two of their frames
    # across the switch (a tile restarted by the switch shows as a gap here).
    gaps = [0.0]
    for name, page in pages.items():
        seen = colours(page, sent - 1000)
        for c in expected[name]:
            times = sorted(t for t, k in seen if k == c)
            if times and times[0] < sent:
                window = [t for t in times if t <= sent + done[name] + 500]
                gaps += [b - a for a, b in pairwise(window)]
    out["page: longest frame gap of someone who stayed"] = max(gaps)
    return out


def run_six(repeats: int) -> dict[str, Any]:
    names = list(SIX)
    s = Session(names)
    one_room, two_room = set(names[:3]), set(names[3:])
    everyone = {n: set(names) - {n} for n in names}
    apart = {n: (one_room if n in one_room else two_room) - {n} for n in names}
    as_colour = {n: n.lower() for n in names}
    results: dict[str, Any] = {"open": [], "close": [], "missed": 0, "load": []}
    from playwright.sync_api import sync_playwright

    def in_colours(expected: dict[str, set[str]]) -> dict[str, set[str]]:
        return {n: {as_colour[m] for m in v} for n, v in expected.items()}

    with sync_playwright() as p:
        browsers = []
        pages: dict[str, Any] = {}
        try:
            for name, rgb in SIX.items():
                cam = solid_y4m(s.tmp / f"{name}.y4m", rgb, width=160, height=120, fps=10)
                browser = launch(p, [f"--use-file-for-fake-video-capture={cam}"])
                browsers.append(browser)
                pages[name] = s.page(browser, name)
            for page in pages.values():
                wait_js(page, "!document.getElementById('screen-session').hidden", limit=60)
                page.evaluate(WATCH_FRAMES)
            since = time.time() * 1000
            if settled(pages, in_colours(everyone), since, limit=120) is None:
                shown = {n: sorted({str(c) for _, c in colours(pg, time.time() * 1000 - 2000)})
                         for n, pg in pages.items()}
                raise RuntimeError(f"the six pages never showed each other: {shown}")
            one, two = s.rooms(["One", "Two"])
            for _ in range(repeats):
                for name in names:
                    s.call("breakouts_assign", {"participant_id": s.people[name]["participant_id"],
                                                "room_id": one if name in one_room else two})
                time.sleep(1.0)
                results["load"].append(os.getloadavg()[0])
                for key, command, payload, expected in (
                        ("open", "breakouts_open", {}, apart),
                        ("close", "breakouts_close", {"grace_seconds": 0}, everyone)):
                    stages = switch(s, pages, command, payload, in_colours(expected))
                    if stages is None:  # counted; the close (or the next open) goes on
                        results["missed"] += 1
                        if key == "close":
                            settled(pages, in_colours(everyone), time.time() * 1000, limit=60)
                    else:
                        results[key].append(stages)
                    time.sleep(1.0)
        finally:
            for browser in browsers:
                browser.close()
            s.close()
    return results


def write(results: dict[str, list[float]], command: str) -> str:
    def row(label: str, values: list[float]) -> str:
        if not values:
            return f"| {label} | — | — | 0 |"
        return (f"| {label} | {statistics.median(values):.0f} ms | {pct(values, 0.9):.0f} ms "
                f"| {len(values)} |")

    section = "\n".join([
        BEGIN, "## Breakouts in real Chromium", "",
        f"Command: `{command}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Three "
        "Chromium instances with one-colour fake cameras and `hearth serve` on loopback, "
        "on the same 2 cores; a therapist socket sends the commands. Times run from the "
        "command being sent to what Alex's page decodes (`requestVideoFrameCallback`, "
        "colour at the centre of each frame).", "",
        "| From the command to… | Median | p90 | Samples |", "|---|---|---|---|",
        row("open: Blair's last frame on Alex's screen (privacy cut-off)", results["open"]),
        row("move Alex to Blair's room: Blair's first frame", results["move"]),
        row("close all: Casey's first frame (everyone back)", results["close"]),
        "", f"Switches that showed no frame within 10 s: {len(results['missed'])}.",
        END,
    ])
    replace_section(BEGIN, END, section)
    return section


def write_six(results: dict[str, Any], command: str) -> str:
    def table(runs: list[dict[str, float]]) -> list[str]:
        rows = ["| Stage (ms from the command sent) | p50 | p95 | Samples |",
                "|---|---|---|---|"]
        for stage in [*(f"server: {x}" for x in SERVER_STAGES), "page: state received",
                      "page: layout received", "page: settled",
                      "page: longest frame gap of someone who stayed"]:
            values = [r[stage] for r in runs if stage in r]
            if values:
                rows.append(f"| {stage} | {pct(values, 0.5):.0f} | {pct(values, 0.95):.0f} "
                            f"| {len(values)} |")
        return rows

    load = results["load"]
    load_text = (f"{min(load):.1f} to {max(load):.1f} (median {statistics.median(load):.1f})"
                 if load else "—")
    section = "\n".join([
        BEGIN6, "## Breakouts with six people in real Chromium", "",
        f"Command: `{command}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, on 2 "
        f"cores (1-minute load average during the run: {load_text}). Six Chromium "
        "instances, each with a one-colour 160x120 fake camera at 10 fps, in two rooms of "
        "three; a therapist socket sends the commands. **Settled**: every page shows "
        "exactly its room-mates' colours (open) or all five others (close all), from the "
        "last frame of anyone else and the first of each expected person, with no other "
        "colour for 1.5 s after (`requestVideoFrameCallback`). Server stages are seconds "
        "since the command arrived (`hearth_breakout_stage_seconds`); page stages are the "
        "slowest page's `performance` marks.", "",
        "### Open (two rooms of three)", "", *table(results["open"]), "",
        "### Close all (no countdown)", "", *table(results["close"]), "",
        f"Switches where some page had not settled within 30 s: {results['missed']}.",
        END6,
    ])
    replace_section(BEGIN6, END6, section)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description="breakout switches, in Chromium")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--people", type=int, choices=(3, 6), default=3)
    args = parser.parse_args()
    repeats = max(1, min(args.repeats, 50))
    if args.people == 6:
        six = run_six(repeats)
        print(write_six(six, f"python -m bench.breakouts --people 6 --repeats {args.repeats}"))
        return
    results = run(repeats)
    print(write(results, f"python -m bench.breakouts --repeats {args.repeats}"))


if __name__ == "__main__":
    main()

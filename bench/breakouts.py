"""Breakouts as a person feels them, in real Chromium: what Alex's screen shows, when.

Three family members, each in their own Chromium with a fake camera of one colour
(Alex red, Blair green, Casey blue), and a therapist on a socket who drives breakouts.
Alex's page records every decoded remote frame (``requestVideoFrameCallback``) with the
colour at its centre, on the wall clock. Per repeat:

- **open** (Alex and Casey in room 1, Blair in room 2): command sent → Blair's last frame
  on Alex's screen (the privacy cut-off);
- **move** Alex into Blair's room: command sent → Blair's first frame;
- **close all** (no countdown): command sent → Casey's first frame (back in one room).

A benchmark, not a test: it asserts nothing about time. Appends to docs/benchmarks.md.

    .venv/bin/python -m bench.breakouts --repeats 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import socketio

from bench.doc import pct, replace_section
from testkit.browser import PASSWORD, Server, dominant, launch, new_page, solid_y4m, wait_js

BEGIN, END = "<!-- breakouts:begin -->", "<!-- breakouts:end -->"
COLOURS = {"Alex": (220, 30, 30), "Blair": (30, 200, 30), "Casey": (30, 30, 220)}
NAMES = {"red": "Alex", "green": "Blair", "blue": "Casey"}

# Installed through DevTools (our CSP forbids page-side eval, not this).
WATCH_FRAMES = """() => {
  window.__frames = [];
  const canvas = document.createElement('canvas');
  canvas.width = 8; canvas.height = 8;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  const watch = (v) => {
    if (v.__watched) return;
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


def frames(page: Any, since_ms: float) -> list[tuple[float, str | None]]:
    raw = page.evaluate(f"() => window.__frames.filter(f => f[0] >= {since_ms})")
    return [(float(t), NAMES.get(str(dominant((int(r), int(g), int(b))))))
            for t, r, g, b in raw]


def first_of(page: Any, who: str, since_ms: float, limit: float = 10.0) -> float | None:
    """Milliseconds from ``since_ms`` to ``who``'s first frame on the page (bounded wait)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        seen = [t for t, name in frames(page, since_ms) if name == who]
        if seen:
            return min(seen) - since_ms
        time.sleep(0.05)
    return None


def run(repeats: int) -> dict[str, list[float]]:
    tmp = Path(tempfile.mkdtemp(prefix="hearth-bench-breakouts-"))
    server = Server(tmp)
    http = requests.Session()
    http.post(f"{server.url}/api/login", json={"username": "dr.rivera", "password": PASSWORD},
              timeout=10).raise_for_status()
    sid = http.post(f"{server.url}/api/sessions", json={"title": "bench"},
                    timeout=10).json()["ok"]["id"]
    people: dict[str, dict[str, Any]] = {}
    for name in COLOURS:
        people[name] = http.post(f"{server.url}/api/sessions/{sid}/participants", timeout=10,
                                 json={"display_name": name, "role": "client"}).json()["ok"]
    dr_link = http.post(f"{server.url}/api/sessions/{sid}/join", timeout=10).json()["ok"]["link"]
    dr = socketio.Client(reconnection=False)

    def call(event: str, payload: dict[str, Any] | None = None) -> Any:
        res = dr.call(event, payload or {}, timeout=10)
        if "ok" not in res:
            raise RuntimeError(f"{event} refused: {res}")
        return res["ok"]

    def on_notice(data: dict[str, Any]) -> None:
        if data.get("kind") == "knock":
            dr.emit("admit", {"participant_id": data["participant_id"]})

    latest: list[dict[str, Any]] = []
    dr.on("notice", on_notice)
    dr.on("state", lambda st: latest.append(st))
    dr.connect(server.url, auth={"token": dr_link.split("#", 1)[1]}, transports=["polling"])
    call("join", {"consent_version": "bench"})
    results: dict[str, list[float]] = {"open": [], "move": [], "close": [], "missed": []}
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browsers = []
        pages: dict[str, Any] = {}
        try:
            for name, rgb in COLOURS.items():
                cam = solid_y4m(tmp / f"{name}.y4m", rgb)
                browser = launch(p, [f"--use-file-for-fake-video-capture={cam}"])
                browsers.append(browser)
                page = new_page(browser)
                page.goto(people[name]["link"])
                wait_js(page, "document.getElementById('pj-video').videoWidth > 0")
                page.check("#pj-consent")
                page.click("#pj-join")
                pages[name] = page
            alex = pages["Alex"]
            wait_js(alex, "!document.getElementById('screen-session').hidden", limit=30)
            alex.evaluate(WATCH_FRAMES)
            start = time.time() * 1000
            for who in ("Blair", "Casey"):
                if first_of(alex, who, start, limit=30) is None:
                    raise RuntimeError(f"Alex never saw {who}")
            version = call("breakouts_create", {"names": ["One", "Two"]})["version"]
            for _ in range(100):  # bounded: the snapshot with the rooms arrives after the ack
                if latest and latest[-1]["version"] >= version:
                    break
                time.sleep(0.05)
            one, two = (r["id"] for r in latest[-1]["breakouts"]["rooms"][:2])
            pid = {name: people[name]["participant_id"] for name in COLOURS}
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
            dr.disconnect()
            server.stop()
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


def main() -> None:
    parser = argparse.ArgumentParser(description="breakout switches, in Chromium")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    results = run(max(1, min(args.repeats, 50)))
    print(write(results, f"python -m bench.breakouts --repeats {args.repeats}"))


if __name__ == "__main__":
    main()

"""What a person feels, in real Chromium: join → first decoded frame, and chat delivery.

A real ``hearth serve`` on loopback; a therapist page publishing its (fake) camera; a
co-therapist socket that admits each knock as it arrives; then N fresh participant
pages. Each phase is read from the page's own ``performance.mark`` entries:
Join click → socket connected → in the lobby → admitted → media negotiation →
ICE+DTLS connected → first decoded remote frame. Chat is timed from the sender's mark
to the receiver's render mark (``performance.timeOrigin`` puts both on one clock).
Appends a table to docs/benchmarks.md. A benchmark: it asserts nothing.

    .venv/bin/python -m bench.browser --repeats 10
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

from bench.common import pct
from bench.doc import replace_section
from testkit.browser import PASSWORD, Server, launch, new_page, wait_js

BEGIN, END = "<!-- browser:begin -->", "<!-- browser:end -->"
PHASES = ["hearth:socket", "hearth:lobby", "hearth:admitted", "hearth:media-start",
          "hearth:ice-dtls", "hearth:first-frame"]


def marks(page: Any) -> dict[str, float]:
    return {m["name"]: m["startTime"] for m in page.evaluate(
        "() => performance.getEntriesByType('mark').map(m => ({name: m.name, "
        "startTime: m.startTime}))")}


def admitter(url: str, token: str) -> socketio.Client:
    """A co-therapist that admits every knock at once, so the lobby phase is real."""
    sio = socketio.Client(reconnection=False)

    def on_notice(data: dict[str, Any]) -> None:
        if data.get("kind") == "knock":
            sio.emit("admit", {"participant_id": data["participant_id"]})

    sio.on("notice", on_notice)
    sio.connect(url, auth={"token": token}, transports=["polling"])
    sio.call("join", {"consent_version": "bench"}, timeout=10)
    return sio


def run(repeats: int) -> dict[str, list[float]]:
    server = Server(Path(tempfile.mkdtemp(prefix="hearth-bench-")))
    http = requests.Session()
    http.post(f"{server.url}/api/login", json={"username": "dr.rivera", "password": PASSWORD},
              timeout=10).raise_for_status()
    sid = http.post(f"{server.url}/api/sessions", json={"title": "bench"},
                    timeout=10).json()["ok"]["id"]

    def add(name: str, role: str) -> str:
        res = http.post(f"{server.url}/api/sessions/{sid}/participants", timeout=10,
                        json={"display_name": name, "role": role}).json()["ok"]
        return str(res["link"])

    results: dict[str, list[float]] = {p: [] for p in PHASES}
    results["join → first frame"] = []
    results["chat"] = []
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        try:
            host_link = http.post(f"{server.url}/api/sessions/{sid}/join",
                                  timeout=10).json()["ok"]["link"]
            host = new_page(browser)
            host.goto(host_link)
            wait_js(host, "document.getElementById('pj-video').videoWidth > 0")
            host.check("#pj-consent")
            host.click("#pj-join")
            wait_js(host, "!document.getElementById('screen-session').hidden")
            co = admitter(server.url, add("Co", "co_therapist").split("#", 1)[1])
            try:
                for i in range(repeats):
                    page = new_page(browser)
                    page.goto(add(f"P{i}", "client"))
                    wait_js(page, "document.getElementById('pj-video').videoWidth > 0")
                    page.check("#pj-consent")
                    page.click("#pj-join")
                    wait_js(page, "performance.getEntriesByName('hearth:first-frame').length > 0",
                            limit=30)
                    m = marks(page)
                    click = m["hearth:join-click"]
                    for phase in PHASES:
                        if phase in m:
                            results[phase].append(m[phase] - click)
                    results["join → first frame"].append(m["hearth:first-frame"] - click)
                    # Chat: the therapist sends, this page renders.
                    text = f"bench-{i}-{time.monotonic_ns()}"
                    host.fill("#chat-input", text)
                    host.press("#chat-input", "Enter")
                    # Marks carry the message id, never its text.
                    mid = wait_js(host, "[...document.querySelectorAll('#chat-log li')].find("
                                  f"li => li.querySelector('.text')?.textContent === {text!r})"
                                  "?.dataset.id")
                    wait_js(page, f"performance.getEntriesByName('hearth:chat:{mid}').length")
                    wait_js(host, f"performance.getEntriesByName('hearth:send:{mid}').length")
                    sent = host.evaluate(
                        f"() => performance.timeOrigin + performance.getEntriesByName("
                        f"'hearth:send:{mid}')[0].startTime")
                    got = page.evaluate(
                        f"() => performance.timeOrigin + performance.getEntriesByName("
                        f"'hearth:chat:{mid}')[0].startTime")
                    results["chat"].append(got - sent)
                    page.context.close()
            finally:
                co.disconnect()
        finally:
            browser.close()
            server.stop()
    return results


def write(results: dict[str, list[float]], command: str) -> str:
    label = {"hearth:socket": "socket connected", "hearth:lobby": "in the lobby (knocked)",
             "hearth:admitted": "admitted", "hearth:media-start": "media negotiation starts",
             "hearth:ice-dtls": "ICE + DTLS connected", "hearth:first-frame":
             "first decoded remote frame"}
    rows = ["| From the Join click to… | Median | p90 | Samples |", "|---|---|---|---|"]
    for phase in PHASES:
        v = results[phase]
        if v:
            rows.append(f"| {label[phase]} | {statistics.median(v):.0f} ms | "
                        f"{pct(v, 0.9):.0f} ms | {len(v)} |")
    chat = results["chat"]
    section = "\n".join([
        BEGIN, "## What a person feels (real Chromium)", "",
        f"Command: `{command}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Debian "
        "Chromium with fake devices, `hearth serve` on loopback, a co-therapist admitting "
        "each knock as it arrives (the lobby is part of the path). Time spent on the "
        "pre-join screen is the person's own and is not counted: timing starts at Join.",
        "", *rows, "",
        f"Chat, therapist's send → render on the participant's page: median "
        f"{statistics.median(chat):.0f} ms, p99 {pct(chat, 0.99):.0f} ms "
        f"({len(chat)} messages).",
        END,
    ])
    replace_section(BEGIN, END, section)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description="join → first frame and chat, in Chromium")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    results = run(max(1, min(args.repeats, 50)))
    print(write(results, f"python -m bench.browser --repeats {args.repeats}"))


if __name__ == "__main__":
    main()



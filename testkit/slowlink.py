"""A family in real Chromium with one person on a link of their own: ``hearth serve``
on a namespace's host-side address with simulcast on, one session whose people are
clients, and the therapist on a socket that admits whoever knocks. The pages join
through their links (``join``) and are read with ``testkit.tiles``.

Used by the simulcast browser tests and ``bench.adaptive``. Nothing leaves this
machine: the server binds the namespace's host-side address (testkit/netns.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests
import socketio

from testkit.browser import PASSWORD, Server, wait_js
from testkit.netns import Netns
from testkit.tiles import TAP, window


class Family:
    """The server, a link per name, and the admitting therapist socket."""

    def __init__(self, ns: Netns, tmp: Path, names: Sequence[str], **env: str) -> None:
        self.server = server = Server(tmp / "data", host=ns.server_ip,
                                      HEARTH_SIMULCAST="true", **env)
        http = requests.Session()
        http.post(f"{server.url}/api/login", timeout=10,
                  json={"username": "dr.rivera", "password": PASSWORD}).raise_for_status()
        sid = http.post(f"{server.url}/api/sessions", json={"title": "family"},
                        timeout=10).json()["ok"]["id"]
        self.links = {name: http.post(
            f"{server.url}/api/sessions/{sid}/participants", timeout=10,
            json={"display_name": name, "role": "client"}).json()["ok"]["link"]
            for name in names}
        link = http.post(f"{server.url}/api/sessions/{sid}/join", timeout=10).json()["ok"]["link"]
        self.dr = dr = socketio.Client(reconnection=False)

        def on_notice(data: dict[str, Any]) -> None:
            if data.get("kind") == "knock":
                dr.emit("admit", {"participant_id": data["participant_id"]})

        dr.on("notice", on_notice)
        dr.connect(server.url, auth={"token": link.split("#", 1)[1]}, transports=["polling"])
        dr.call("join", {"consent_version": "family"}, timeout=30)

    def close(self) -> None:
        self.dr.disconnect()
        self.server.stop()


def join(browser: Any, link: str, size: tuple[int, int] = (1280, 800)) -> Any:
    """A page of its own context (a ``size`` viewport) that joins through ``link``
    (camera and microphone on), with the ``testkit.tiles`` tap installed."""
    page = browser.new_context(viewport={"width": size[0], "height": size[1]}).new_page()
    page.set_default_timeout(30000)
    page.add_init_script(TAP)
    page.goto(link)
    wait_js(page, "document.getElementById('pj-video').videoWidth > 0", limit=60)
    page.check("#pj-consent")
    page.click("#pj-join")
    return page


def lost(reading: dict[str, Any]) -> int:
    """Packets lost so far over every inbound stream of one ``receiving`` reading."""
    return (sum(int(t["packetsLost"]) for t in reading["tiles"].values())
            + sum(int(a["packetsLost"]) for a in reading["audio"].values()))


def received_bps(before: dict[str, Any], after: dict[str, Any]) -> float:
    """Video and audio bits per second between two readings of one page."""
    tiles, _ = window(before, after)
    seconds = max(1e-3, (after["at"] - before["at"]) / 1000)
    audio = sum(b["bytesReceived"] - before["audio"][pid]["bytesReceived"]
                for pid, b in after["audio"].items() if pid in before["audio"])
    return float(sum(t.bps for t in tiles.values()) + audio * 8 / seconds)


def wait_for(what: str, predicate: Any, limit: float) -> Any:
    """Poll ``predicate`` once a second until it returns something true (returned);
    fail the test with ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(1.0)
    return value

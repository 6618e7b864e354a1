"""A real network drop shows: one browser runs in its own network namespace; its link
goes down for 8 s. The other pages mark that person's tile "Connection lost" and clear
it after recovery; the dropped page's own indicator does not say the connection is good.

Needs root (network namespaces). The test creates everything it uses, named media-*:
a namespace with a veth pair to the host (default route through the host), and a veth
pair whose host-side address the server binds, so the server stays up while the
namespace's link is down. Nothing leaves this machine.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from testkit.figures import figure
from tests.web.conftest import CHROMIUM_ARGS, Server, new_page, solid_y4m
from tests.web.test_flow import add_person, prejoin, sign_in
from tests.web.test_media import wait_colours

NS = f"media-drop{os.getpid() % 10000}"
SERVER_IP, HOST_IP, NS_IP = "10.213.7.1", "10.213.8.1", "10.213.8.2"
DROP = 8.0


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


def in_ns(*args: str) -> None:
    sh("ip", "netns", "exec", NS, *args)


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("a network namespace needs root")
    cleanup()
    try:
        sh("ip", "netns", "add", NS)
        sh("ip", "link", "add", "media-sa", "type", "veth", "peer", "name", "media-sb")
        sh("ip", "addr", "add", f"{SERVER_IP}/30", "dev", "media-sa")
        for dev in ("media-sa", "media-sb"):
            sh("ip", "link", "set", dev, "up")
        sh("ip", "link", "add", "media-h", "type", "veth", "peer", "name", "media-n")
        sh("ip", "link", "set", "media-n", "netns", NS)
        sh("ip", "addr", "add", f"{HOST_IP}/30", "dev", "media-h")
        sh("ip", "link", "set", "media-h", "up")
        in_ns("ip", "addr", "add", f"{NS_IP}/30", "dev", "media-n")
        in_ns("ip", "link", "set", "lo", "up")
        link_up()
        yield NS
    finally:
        cleanup()


def link_up() -> None:
    in_ns("ip", "link", "set", "media-n", "up")
    subprocess.run(["ip", "netns", "exec", NS, "ip", "route", "replace", "default", "via",
                    HOST_IP], capture_output=True, timeout=20)


def cleanup() -> None:
    for cmd in (["ip", "netns", "del", NS], ["ip", "link", "del", "media-sa"],
                ["ip", "link", "del", "media-h"]):
        subprocess.run(cmd, capture_output=True, timeout=20)


def lost_on(page: Page, pid: str) -> bool:
    return bool(page.evaluate(
        "(pid) => [...document.querySelectorAll(`#stage figure.tile[data-key^='${pid}:'] "
        ".tile-status`)].some(n => n.textContent === 'Connection lost')", pid))


def wait_until(what: str, predicate: object, limit: float) -> float:
    t0 = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - t0 < limit, f"timed out: {what}"
        time.sleep(0.1)
    return time.monotonic() - t0


@pytest.mark.timeout(600)
def test_network_drop_marks_the_tile_and_clears(
        playwright_instance: object, netns: str, tmp_path: Path) -> None:
    server = Server(tmp_path / "data", host=SERVER_IP)
    wrapper = tmp_path / "chromium-in-ns"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {netns} /usr/bin/chromium "$@"\n')
    wrapper.chmod(0o755)
    secure = f"--unsafely-treat-insecure-origin-as-secure={server.url}"
    cams = {n: solid_y4m(tmp_path / f"{n}.y4m", rgb) for n, rgb in
            (("red", (220, 30, 30)), ("green", (30, 200, 30)), ("blue", (30, 30, 220)))}

    def browser(colour: str, executable: str = "/usr/bin/chromium") -> object:
        return playwright_instance.chromium.launch(  # type: ignore[attr-defined]
            executable_path=executable,
            args=[*CHROMIUM_ARGS, secure, f"--use-file-for-fake-video-capture={cams[colour]}"])

    browsers = [browser("red"), browser("green"), browser("blue", str(wrapper))]
    try:
        console = new_page(browsers[0])  # type: ignore[arg-type]
        console.on("dialog", lambda d: d.accept())
        sign_in(console, server)
        console.fill("#ns-title", "Drop")
        console.click("#new-session button[type=submit]")
        links = {n: add_person(console, n, r)
                 for n, r in (("Alex", "client"), ("Blair", "partner"))}
        with console.expect_popup() as popup:
            console.click("#open-room")
        dr = popup.value
        dr.set_default_timeout(20000)
        prejoin(dr, dr.url)
        alex = new_page(browsers[1])  # type: ignore[arg-type]
        prejoin(alex, links["Alex"])
        blair = new_page(browsers[2])  # type: ignore[arg-type]
        prejoin(blair, links["Blair"])
        dr.click("#tab-people")
        dr.click("#admit-all")
        for page in (dr, alex, blair):
            expect(page.locator("#screen-session")).to_be_visible()
        wait_colours(dr, {"green", "blue"})
        wait_colours(alex, {"red", "blue"})
        wait_colours(blair, {"red", "green"})
        blair_id = str(dr.evaluate(
            "() => [...document.querySelectorAll('#people-list li')].find("
            "li => li.textContent.includes('Blair')).dataset.participant"))

        in_ns("ip", "link", "set", "media-n", "down")
        dropped = time.monotonic()
        seen = {name: wait_until(f"{name} marks Blair lost", lambda p=page: lost_on(p, blair_id),
                                 limit=15) for name, page in (("therapist", dr), ("Alex", alex))}
        wait_until("Blair's own page stops saying good", lambda: blair.evaluate(
            "() => document.getElementById('quality').dataset.quality") != "good", limit=15)
        own = blair.evaluate("() => document.getElementById('quality').textContent")
        figure(f"marked lost after {seen} s (media stops at 0, threshold 2 s); "
              f"Blair's page: {own!r}")
        time.sleep(max(0.0, DROP - (time.monotonic() - dropped)))
        link_up()
        for name, page in (("therapist", dr), ("Alex", alex)):
            wait_until(f"{name} clears Blair", lambda p=page: not lost_on(p, blair_id), limit=30)
        wait_colours(dr, {"green", "blue"}, limit=30)
        assert not lost_on(alex, blair_id)
    finally:
        for b in browsers:
            b.close()  # type: ignore[attr-defined]
        server.stop()

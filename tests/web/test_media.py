"""Media through the relay in real Chromium: each person's camera is a solid colour,
so a page proves whose video it decodes by reading pixels."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Server, dominant, launch, new_page, shot, solid_y4m, wait_js
from tests.web.test_flow import add_person, prejoin, sign_in

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

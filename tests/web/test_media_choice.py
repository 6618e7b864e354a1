"""The pre-join choices are a contract: camera off and microphone off, ticked right
after the page opens, mean nothing is captured or published, and a person who
publishes nothing still sees and hears the room."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from testkit.figures import figure
from tests.web.conftest import Server, launch, new_page, solid_y4m, wait_js
from tests.web.test_flow import add_person, prejoin, sign_in
from tests.web.test_media import wait_colours

# Each try races the two ticks against the devices opening: 20 in a row per run (about
# 40 s); a soak sets HEARTH_CHOICE_TRIES higher to hunt the race harder.
TRIES = int(os.environ.get("HEARTH_CHOICE_TRIES", "20"))


def published_tracks(page: Page) -> int:
    """Live tracks in the person's own tile: what the page could publish."""
    return int(page.evaluate(
        "() => { const v = [...document.querySelectorAll('#stage video')].find(x => x.muted);"
        " return v && v.srcObject ? v.srcObject.getTracks()"
        ".filter(t => t.readyState === 'live').length : -1; }"))


@pytest.mark.timeout(900)  # TRIES joins in real Chromium, a few seconds each
def test_camera_and_mic_off_ticked_at_once_publish_nothing(
        playwright_instance: object, server: Server, tmp_path: Path) -> None:
    red = launch(playwright_instance, [
        f"--use-file-for-fake-video-capture={solid_y4m(tmp_path / 'red.y4m', (220, 30, 30))}"])
    listener = launch(playwright_instance)
    try:
        console = new_page(red)
        console.on("dialog", lambda d: d.accept())
        sign_in(console, server)
        console.fill("#ns-title", "Listen only")
        console.click("#new-session button[type=submit]")
        link = add_person(console, "Lee", "family")
        with console.expect_popup() as popup:
            console.click("#open-room")
        dr = popup.value
        dr.set_default_timeout(20000)
        prejoin(dr, dr.url)
        expect(dr.locator("#screen-session")).to_be_visible()
        # One browser profile for all tries: the link is spent on its first use, and this
        # browser's session cookie lets it open the same link again.
        profile = listener.new_context(viewport={"width": 1280, "height": 800})
        for attempt in range(TRIES):
            t0 = time.monotonic()
            page = profile.new_page()
            page.set_default_timeout(15000)
            page.goto(link)
            # Tick both boxes at once, while the devices are still being opened.
            page.check("#pj-camoff")
            page.check("#pj-micoff")
            page.check("#pj-consent")
            page.click("#pj-join")
            if attempt == 0:
                dr.click("#tab-people")
                dr.click("#admit-all")
            expect(page.locator("#screen-session")).to_be_visible()
            # The listen-only person decodes the therapist's camera...
            wait_colours(page, {"red"})
            # ...captures nothing...
            assert published_tracks(page) == 0, f"try {attempt}: a track was captured"
            wait_js(page, "document.getElementById('btn-mic').textContent === 'Unmute'")
            # ...and the therapist receives no audio or video from them.
            assert dr.evaluate("() => document.querySelectorAll('#audio-sinks audio').length") == 0
            assert dr.evaluate(
                "() => [...document.querySelectorAll('#stage video')].filter(v => !v.muted"
                " && v.srcObject && v.srcObject.getVideoTracks().length).length") == 0, \
                f"try {attempt}: a video reached the therapist"
            page.close()
            figure(f"try {attempt}: {time.monotonic() - t0:.1f} s")
    finally:
        red.close()
        listener.close()

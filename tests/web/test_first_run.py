"""A new user's first run: default `hearth serve` over HTTPS with its dev certificate,
the one-time setup link (from its owner-only file), then sign-in and a first session."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

from playwright.sync_api import Browser, expect

from testkit.servers import free_port
from tests.web.conftest import HEARTH, wait_js
from tests.web.test_flow import add_person, prejoin


def test_first_run_over_https(browser: Browser, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    # Only what a newcomer might set: the port (8443 may be busy) and loopback media.
    env.update(HEARTH_PORT=str(port), HEARTH_MEDIA_HOSTS="127.0.0.1",
               HEARTH_SHUTDOWN_GRACE_SECONDS="2")
    proc = subprocess.Popen([HEARTH, "serve"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out: list[str] = []
    threading.Thread(target=lambda: out.extend(proc.stdout or []), daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        link = None
        secret = tmp_path / "data" / "secrets" / "setup-link"
        while link is None and time.monotonic() < deadline:
            if secret.name in "".join(out) and secret.exists():
                found = re.search(r"(https://localhost:\d+/setup#\S+)", secret.read_text())
                link = found.group(1) if found else None
            time.sleep(0.1)
        assert link, "".join(out)
        # The log names the file, never the link; only the owner may read the file.
        assert link.split("#")[1] not in "".join(out)
        assert secret.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "data" / "certs" / "ca.pem").exists()
        context = browser.new_context(ignore_https_errors=True)
        page = context.new_page()
        page.set_default_timeout(20000)
        page.goto(link)
        page.fill("#username", "dr.first")
        page.fill("#password", "a perfectly long password")
        page.click("#setup-form button[type=submit]")
        expect(page.locator("#status")).to_contain_text("Account created")
        # The link works once.
        again = context.new_page()
        again.goto(link)
        again.fill("#username", "mallory")
        again.fill("#password", "another long password")
        again.click("#setup-form button[type=submit]")
        expect(again.locator("#status")).to_contain_text("expired or already used")

        page.goto(f"https://localhost:{port}/console")
        page.fill("#si-username", "dr.first")
        page.fill("#si-password", "a perfectly long password")
        page.click("#signin-form button[type=submit]")
        expect(page.locator("#sessions")).to_be_visible()
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["hearth_login"]["secure"] is True
        assert cookies["hearth_login"]["httpOnly"] is True
        assert cookies["hearth_login"]["sameSite"] == "Strict"
        page.fill("#ns-title", "First session")
        page.click("#new-session button[type=submit]")
        link_alex = add_person(page, "Alex", "client")
        with page.expect_popup() as popup:
            page.click("#open-room")
        room = popup.value
        room.set_default_timeout(20000)
        prejoin(room, room.url)
        family = browser.new_context(ignore_https_errors=True).new_page()
        family.set_default_timeout(20000)
        prejoin(family, link_alex)
        expect(family.locator("#screen-lobby")).to_be_visible()
        room.click("#tab-people")
        room.click("#admit-all")
        expect(family.locator("#screen-session")).to_be_visible()
        # Real media over HTTPS: the family member decodes the therapist's camera.
        wait_js(family, "[...document.querySelectorAll('#stage figure.camera video')]"
                        ".some(v => !v.muted && v.videoWidth > 0)", limit=20)
    finally:
        proc.terminate()
        proc.wait(30)
    assert not any("peer connection failed" in line for line in out), "".join(out[-20:])

"""Links that leave no reusable trace, in real Chromium with a real profile directory.

Chromium writes the link's URL into its History database when the page commits,
before any script runs; ``history.replaceState`` adds the clean URL but does not
remove that row (checked here). So the join page spends the link on first load:
it trades the token for an HttpOnly, SameSite=Strict cookie scoped to the session,
and the copy in history then works nowhere else. No storage ever holds the token.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import requests
from playwright.sync_api import Browser, expect

from tests.web.conftest import CHROMIUM_ARGS, PASSWORD, Server, wait_js


def rest(server: Server) -> tuple[requests.Session, str, str, str]:
    """A signed-in therapist, a session and one person's link: (http, sid, pid, link)."""
    http = requests.Session()
    r = http.post(f"{server.url}/api/login", json={"username": "dr.rivera", "password": PASSWORD},
                  timeout=10)
    assert r.status_code == 200, r.text
    sid = http.post(f"{server.url}/api/sessions", json={"title": "Links"}, timeout=10
                    ).json()["ok"]["id"]
    added = http.post(f"{server.url}/api/sessions/{sid}/participants",
                      json={"display_name": "Morgan", "role": "client"}, timeout=10).json()["ok"]
    return http, sid, added["participant_id"], added["link"]


def socket_refusal(server: Server, token: str) -> object:
    """What the socket.io server answers a connect with ``token``, spoken as a script
    would over HTTP long-polling (Engine.IO 4): the CONNECT_ERROR payload, or None if
    the connect was accepted. (The sync socket.io client takes 15 s to give up the
    polling connection after a refused connect.)"""
    base = f"{server.url}/socket.io/?EIO=4&transport=polling"
    opened = requests.get(base, timeout=10).text
    assert opened.startswith("0"), opened
    polling = f"{base}&sid={json.loads(opened[1:])['sid']}"
    sent = requests.post(polling, data="40" + json.dumps({"token": token}), timeout=10)
    assert sent.status_code == 200, sent.text
    try:
        for _ in range(3):  # a long-poll may first bring a ping ("2")
            for packet in requests.get(polling, timeout=15).text.split("\x1e"):
                if packet.startswith("44"):
                    return json.loads(packet[2:])
                if packet.startswith("40"):
                    return None
        raise AssertionError("no answer to the connect")
    finally:
        requests.post(polling, data="1", timeout=10)  # close the Engine.IO session


def storage_dump(page: object) -> str:
    return str(page.evaluate(  # type: ignore[attr-defined]
        "() => JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage),"
        " document.cookie, location.href])"))


def test_join_leaves_no_usable_token_in_history_or_storage(
    playwright_instance: object, server: Server, tmp_path: Path
) -> None:
    _, sid, _, link = rest(server)
    token = link.split("#", 1)[1]
    profile = tmp_path / "profile"
    chromium = playwright_instance.chromium  # type: ignore[attr-defined]
    context = chromium.launch_persistent_context(
        str(profile), executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(link)
        expect(page.locator("#screen-prejoin")).to_be_visible()
        expect(page.locator("#pj-name")).to_have_text("Morgan")  # from the server, not the link
        wait_js(page, "location.search.startsWith('?s=')")
        assert token not in page.url
        assert token not in storage_dump(page)  # the cookie is HttpOnly: script sees nothing
        page.check("#pj-consent")
        page.click("#pj-join")
        expect(page.locator("#screen-lobby")).to_be_visible()
        assert token not in storage_dump(page)
        cookies = {c["name"]: c for c in context.cookies()}
        jar = cookies[f"hearth_join_{sid}"]
        assert jar["httpOnly"] is True
        assert jar["sameSite"] == "Strict"
        # A reload finds the person through the cookie; the token is not needed again.
        page.reload()
        expect(page.locator("#pj-name")).to_have_text("Morgan")
        page.goto("about:blank")
    finally:
        context.close()
    copy = tmp_path / "History"
    shutil.copy(profile / "Default" / "History", copy)
    db = sqlite3.connect(copy)
    urls = [str(u) for (u,) in db.execute("SELECT url FROM urls")]
    db.close()
    assert any(f"/join?s={sid}" in u for u in urls)
    traces = [u for u in urls if token in u]
    # Whatever Chromium kept is spent: another browser, or a script, cannot use it.
    for url in traces:
        r = requests.post(f"{server.url}/api/join/exchange", json={"token": url.split("#")[1]},
                          timeout=10)
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "link_used"
    assert socket_refusal(server, token) == {"message": "link_used"}


def test_reopened_link_in_another_browser_shows_a_clear_page(
    browser: Browser, server: Server
) -> None:
    _, _, _, link = rest(server)
    first = browser.new_context().new_page()
    first.goto(link)
    expect(first.locator("#screen-prejoin")).to_be_visible()
    other = browser.new_context().new_page()  # no cookie: another person's browser
    other.goto(link)
    expect(other.locator("#notice-title")).to_have_text("This link was already used")
    assert "#" not in other.url


def test_revoked_while_waiting_shows_a_clear_page(browser: Browser, server: Server) -> None:
    http, sid, pid, link = rest(server)
    page = browser.new_context().new_page()
    page.set_default_timeout(15000)
    page.goto(link)
    page.check("#pj-consent")
    page.click("#pj-join")
    expect(page.locator("#screen-lobby")).to_be_visible()
    r = http.delete(f"{server.url}/api/sessions/{sid}/participants/{pid}/link",
                    headers={"Origin": server.url}, timeout=10)
    assert r.status_code == 200
    expect(page.locator("#notice-title")).to_have_text("This link no longer works")
    # The page forgot its cookie: a reload does not get back in.
    page.reload()
    expect(page.locator("#screen-notice")).to_be_visible()

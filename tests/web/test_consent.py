"""Consent in real Chromium: a child waits in the lobby with a clear message until a
guardian consents from their own link; then the therapist can admit the child."""

from __future__ import annotations

import requests
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import PASSWORD, Server, new_page, shot, wait_js


def prejoin(page: Page, link: str) -> None:
    page.goto(link)
    expect(page.locator("#screen-prejoin")).to_be_visible()
    wait_js(page, "document.getElementById('pj-video').videoWidth > 0")
    expect(page.locator("#consent-hash")).to_contain_text("Document fingerprint")


def test_child_waits_for_guardian_consent_then_is_admitted(browser: Browser,
                                                            server: Server) -> None:
    http = requests.Session()
    r = http.post(f"{server.url}/api/login", json={"username": "dr.rivera", "password": PASSWORD})
    assert r.status_code == 200, r.text
    sid = http.post(f"{server.url}/api/sessions", json={"title": "Consent"}).json()["ok"]["id"]

    def add(name: str, role: str, guardian_of: list[str] | None = None) -> dict[str, str]:
        res = http.post(f"{server.url}/api/sessions/{sid}/participants",
                        json={"display_name": name, "role": role,
                              "guardian_of": guardian_of or []}, timeout=10)
        assert res.status_code == 201, res.text
        return dict(res.json()["ok"])

    blair = add("Blair", "parent")
    kit = add("Kit", "child", [blair["participant_id"]])
    dr_link = http.post(f"{server.url}/api/sessions/{sid}/join").json()["ok"]["link"]

    room = new_page(browser)
    prejoin(room, dr_link)
    room.check("#pj-consent")
    room.click("#pj-join")
    expect(room.locator("#screen-session")).to_be_visible()

    child = new_page(browser, width=375, height=740)
    prejoin(child, kit["link"])
    expect(child.locator("#consent-child-note")).to_contain_text("parent or guardian")
    child.check("#pj-consent")
    child.click("#pj-join")
    expect(child.locator("#screen-lobby")).to_be_visible()
    hold = child.locator("#consent-hold")
    expect(hold).to_be_visible()
    expect(hold).to_contain_text("waiting for your parent or guardian to give consent")
    shot(child, "consent-hold")

    # The therapist sees Kit knocking; Admit is refused with the reason, said aloud.
    room.click("#tab-people")
    admit = room.locator("#lobby-list li", has_text="Kit").get_by_role("button", name="Admit Kit")
    admit.click()
    expect(room.locator("#live")).to_contain_text("no guardian consent is on file")
    expect(child.locator("#screen-lobby")).to_be_visible()

    # Blair consents for Kit from Blair's own link (and for themself), then joins.
    guardian = new_page(browser)
    prejoin(guardian, blair["link"])
    box = guardian.locator('input[data-consent-child="{}"]'.format(kit["participant_id"]))
    expect(box).to_be_visible()
    box.check()
    shot(guardian, "consent-guardian")
    guardian.click(f'button[data-consent-save="{kit["participant_id"]}"]')
    expect(guardian.locator('fieldset[data-consent-for="Kit"]')).to_contain_text(
        "Your consent for Kit is on file.")
    expect(hold).to_contain_text("consent is on file", timeout=15000)
    guardian.check("#pj-consent")  # and Blair joins too
    guardian.click("#pj-join")
    expect(guardian.locator("#screen-lobby")).to_be_visible()

    admit.click()
    expect(child.locator("#screen-session")).to_be_visible()

    consent = http.get(f"{server.url}/api/records/sessions/{sid}/consent").json()["ok"]
    by_id = {p["participant_id"]: p for p in consent["people"]}
    kit_doc = by_id[kit["participant_id"]]["documents"][0]
    assert kit_doc["state"] == "accepted"
    assert kit_doc["by_guardian"]
    assert by_id[blair["participant_id"]]["documents"][0]["state"] == "accepted"

    # The console shows each member's consent and the session's attendance.
    console = new_page(browser)
    console.goto(f"{server.url}/console")
    console.fill("#si-username", "dr.rivera")
    console.fill("#si-password", PASSWORD)
    console.click("#signin-form button[type=submit]")
    expect(console.locator("#records-program")).to_be_visible()
    console.click(f'button[data-session="{sid}"]')
    rows = console.locator("#attendance-session tbody tr")
    expect(rows.filter(has_text="Kit")).to_have_count(1)
    expect(rows.filter(has_text="Blair")).to_have_count(1)
    expect(console.locator("#consent-status tr", has_text="Kit")).to_contain_text(
        "telehealth: accepted (by guardian)")
    expect(console.locator("a", has_text="Export attendance (CSV)")).to_have_attribute(
        "href", f"/api/records/sessions/{sid}/attendance?format=csv")
    console.locator("#records-session").scroll_into_view_if_needed()
    shot(console, "console-records")
    for page in (room, child, guardian, console):
        page.context.close()

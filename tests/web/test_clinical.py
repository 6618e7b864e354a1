"""In Chromium: the clinic admin asks, in the console, where clients are; a client
cannot join without saying so, and the therapist's safety panel shows it with the
crisis line for that region. The client's neutral Check-in reaches the therapist as a
quiet cue; the therapist's private notes autosave. Screenshots of the therapist's notes
and safety panels."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import Server, new_page, shot, wait_js
from tests.web.test_flow import add_person, prejoin, sign_in
from tests.web.test_session_screen import assert_accessible


def put_settings(page: Page, body: dict[str, Any]) -> int:
    return int(page.evaluate("""async (body) => (await fetch("/api/clinical/settings", {
        method: "PUT", headers: {"Content-Type": "application/json"},
        body: JSON.stringify(body), credentials: "same-origin"})).status""", body))


def contrast(ink: str, paper: str) -> float:
    """WCAG contrast ratio of two CSS rgb() colours."""
    def luminance(css: str) -> float:
        parts = [float(v) / 255 for v in css[css.index("(") + 1:].rstrip(")").split(",")[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in parts]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(ink), luminance(paper)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_location_checkin_notes_and_safety_panel(browser: Browser, server: Server) -> None:
    dr = new_page(browser)
    dr.on("dialog", lambda d: d.accept())
    sign_in(dr, server)
    try:
        # The clinic admin's console editor: ask for locations; one crisis line.
        dr.click("#nav-clinic")
        dr.check("#sf-location")
        dr.fill("#sf-lines", "Oregon | Oregon crisis line | 988\nnowhere | bad | call me")
        dr.click("#safety-form button[type=submit]")
        expect(dr.locator("#safety-status")).to_contain_text("Not saved: crisis_lines.1.phone")
        dr.fill("#sf-lines", "Oregon | Oregon crisis line | 988")
        dr.click("#safety-form button[type=submit]")
        expect(dr.locator("#safety-status")).to_have_text("Safety settings saved.")
        dr.goto(f"{server.url}/console")
        expect(dr.locator("#sessions")).to_be_visible()
        dr.fill("#ns-title", "Couple session")
        dr.click("#new-session button[type=submit]")
        alex = add_person(dr, "Alex", "client")
        add_person(dr, "Blair", "partner")
        with dr.expect_popup() as popup:
            dr.click("#open-room")
        room = popup.value
        room.set_default_timeout(15000)
        prejoin(room, room.url)
        expect(room.locator("#screen-session")).to_be_visible()
        # The therapist is not asked where they are; the client is, before joining.
        guest = new_page(browser)
        guest.goto(alex)
        expect(guest.locator("#screen-prejoin")).to_be_visible()
        wait_js(guest, "document.getElementById('pj-video').videoWidth > 0")
        guest.check("#pj-consent")
        expect(guest.locator("#pj-location")).to_be_visible()
        guest.click("#pj-join")
        expect(guest.locator("#pj-location-help")).to_contain_text("Please say where you are")
        expect(guest.locator("#screen-prejoin")).to_be_visible()
        expect(guest.locator("#pj-place")).to_be_focused()
        guest.fill("#pj-place", "At home in Portland")
        guest.fill("#pj-region", "Oregon")
        guest.click("#pj-join")
        room.click("#tab-people")
        room.click("#admit-all")
        expect(guest.locator("#screen-session")).to_be_visible()
        room.click("#tab-safety")
        person = room.locator('#safety-list li', has_text="Alex")
        expect(person.locator(".location")).to_have_text("At home in Portland, Oregon")
        expect(person.locator(".crisis")).to_have_text("Oregon crisis line: 988")
        # The discreet check-in: a plain item in the client's More menu.
        guest.click("#btn-more")
        expect(guest.locator("#more-checkin")).to_have_text("Check-in")
        guest.click("#more-checkin")
        expect(guest.locator("#more-status")).to_have_text("Checked in.")
        expect(guest.locator("#more-menu")).to_be_hidden()
        expect(room.locator("#checkin-cues")).to_contain_text("Alex would like a private word.")
        expect(room.locator("#tab-safety .badge")).to_have_text("1")
        ink, paper = room.evaluate("""() => { const s = getComputedStyle(
            document.querySelector('#checkin-cues li')); return [s.color, s.backgroundColor]; }""")
        assert contrast(ink, paper) >= 4.5, (ink, paper)
        assert guest.locator("#checkin-cues").count() == 0
        # Private notes autosave while typing.
        room.click("#tab-notes")
        room.click("#note-new")
        expect(room.locator("#note-text")).to_be_focused()
        room.keyboard.type("Alex asked for a private word after the check-in.")
        expect(room.locator("#note-status")).to_contain_text("Saved at")
        room.check("#note-share")
        expect(room.locator("#notes-list")).to_contain_text("shared")
        shot(room, "therapist-notes")
        # The progress note to print or save as PDF opens in a tab of its own, with
        # focus on its one button; Chromium's own PDF of it is a real PDF.
        with room.expect_popup() as printed:
            room.click("#note-print")
        note = printed.value
        expect(note.locator("h1")).to_contain_text("Progress note (draft)")
        expect(note.locator("#note")).to_contain_text(
            "Alex asked for a private word after the check-in.")
        expect(note.get_by_role("button", name="Print or save as PDF")).to_be_focused()
        assert_accessible(note, "the printable progress note")
        pdf = note.pdf(format="A4")
        assert pdf.startswith(b"%PDF-")
        assert len(pdf) > 2000
        note.close()
        room.click("#tab-safety")
        shot(room, "therapist-safety")
        assert guest.locator("#panel-notes, #panel-safety").count() == 0
        # From the cue, one click takes Alex aside; the cue goes, Alex's page says so.
        room.locator("#checkin-cues li", has_text="Alex").get_by_role(
            "button", name="Move to a private room with me").click()
        expect(guest.locator("#private-rooms")).to_contain_text("You are in a private room with")
        expect(room.locator("#checkin-cues li")).to_have_count(0)
        room.get_by_role("button", name="Bring Alex back").click()
        expect(guest.locator("#private-rooms")).to_have_count(0)
    finally:
        assert put_settings(dr, {}) == 200


def test_child_safe_page_and_badge(browser: Browser, server: Server) -> None:
    dr = new_page(browser)
    dr.on("dialog", lambda d: d.accept())
    sign_in(dr, server)
    dr.fill("#ns-title", "Family with Kit")
    dr.click("#new-session button[type=submit]")
    blair = add_person(dr, "Blair", "parent")
    kit = add_person(dr, "Kit", "child", guardian="Blair")
    with dr.expect_popup() as popup:
        dr.click("#open-room")
    room = popup.value
    room.set_default_timeout(15000)
    prejoin(room, room.url)
    parent, child = new_page(browser), new_page(browser)
    prejoin(parent, blair)  # gives consent for Kit too
    prejoin(child, kit)
    room.click("#tab-people")
    expect(room.locator("#lobby-list li")).to_have_count(2)
    room.click("#admit-all")
    expect(child.locator("#screen-session")).to_be_visible()
    expect(parent.locator("#screen-session")).to_be_visible()
    kit_row = room.locator("#people-list li", has_text="Kit")
    expect(kit_row.locator(".child-safe")).to_have_text("Child-safe")
    blair_row = room.locator("#people-list li", has_text="Blair")
    expect(blair_row.locator(".child-safe")).to_have_count(0)
    # The child's page: fewer controls, larger text, chat with the clinicians only.
    expect(child.locator("html")).to_have_class("child-safe")
    for hidden in ("#btn-share", "#btn-layout", "#btn-shortcuts"):
        expect(child.locator(hidden)).to_be_hidden()
    expect(parent.locator("#btn-layout")).to_be_visible()
    size = lambda page: float(page.evaluate(  # noqa: E731
        "() => parseFloat(getComputedStyle(document.getElementById('chat-to')).fontSize)"))
    assert size(child) > size(parent)
    expect(child.locator("#more-checkin")).to_be_attached()
    shot(child, "child-safe")
    # The clinician switches it off from Kit's menu; the page gets its controls back.
    kit_row.locator(".person-menu > button").click()
    kit_row.get_by_role("menuitem", name="Turn child-safe mode off").click()
    expect(kit_row.locator(".child-safe")).to_have_count(0)
    expect(child.locator("#btn-layout")).to_be_visible()

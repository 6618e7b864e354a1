"""The therapist and family flow in real Chromium, with screenshots for the README."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import PASSWORD, Server, new_page, shot, wait_js


def sign_in(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/console")
    page.fill("#si-username", "dr.rivera")
    page.fill("#si-password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#sessions")).to_be_visible()


def add_person(page: Page, name: str, role: str, guardian: str | None = None) -> str:
    page.fill("#ap-name", name)
    page.select_option("#ap-role", role)
    if guardian:
        page.select_option("#ap-guardian", label=guardian)
    page.click("#add-participant button[type=submit]")
    link = page.locator(f'input[data-link-for="{name}"]')
    expect(link).to_be_visible()
    return str(link.input_value())


def prejoin(page: Page, link: str, screenshot: str | None = None) -> None:
    page.goto(link)
    expect(page.locator("#screen-prejoin")).to_be_visible()
    wait_js(page, "document.getElementById('pj-video').videoWidth > 0")
    if screenshot:
        shot(page, screenshot)
    page.check("#pj-consent")
    expect(page.locator("#consent-hash")).to_be_attached()  # the server's documents shown
    for box in page.locator("input[data-consent-child]").all():  # a guardian's child
        box.check()
    page.click("#pj-join")


def test_therapist_and_family_flow(browser: Browser, server: Server) -> None:
    dr = new_page(browser)
    dr.on("dialog", lambda d: d.accept())
    sign_in(dr, server)
    dr.fill("#ns-title", "Rivera family")
    dr.click("#new-session button[type=submit]")
    expect(dr.locator("#detail-title")).to_have_text("Rivera family")
    alex = add_person(dr, "Alex", "client")
    blair = add_person(dr, "Blair", "partner")
    kit = add_person(dr, "Kit", "child", guardian="Blair")
    shot(dr, "console")

    with dr.expect_popup() as popup:
        dr.click("#open-room")
    room = popup.value
    room.on("dialog", lambda d: d.accept())
    room.set_default_timeout(15000)
    prejoin(room, room.url)
    expect(room.locator("#screen-session")).to_be_visible()

    family: dict[str, Page] = {}
    for name, link in (("Alex", alex), ("Blair", blair), ("Kit", kit)):
        page = new_page(browser, width=375, height=740) if name == "Kit" else new_page(browser)
        prejoin(page, link, screenshot="prejoin" if name == "Alex" else None)
        expect(page.locator("#screen-lobby")).to_be_visible()
        family[name] = page
    shot(family["Alex"], "lobby")

    room.click("#tab-people")
    expect(room.locator("#lobby-list li")).to_have_count(3)
    room.click("#admit-all")
    for page in family.values():
        expect(page.locator("#screen-session")).to_be_visible()
    expect(room.locator("#people-list li")).to_have_count(4)

    # Chat both ways; the child's private message reaches only the clinicians.
    alex_page = family["Alex"]
    alex_page.fill("#chat-input", "Hi everyone")
    alex_page.press("#chat-input", "Enter")
    room.click("#tab-chat")
    expect(room.locator("#chat-log")).to_contain_text("Hi everyone")
    room.fill("#chat-input", "Welcome, Alex")
    room.press("#chat-input", "Enter")
    expect(alex_page.locator("#chat-log")).to_contain_text("Welcome, Alex")
    kit_page = family["Kit"]
    expect(kit_page.locator("#thread-room")).to_have_count(0)
    kit_page.click("#tab-chat")  # on a phone the panels are a bottom sheet
    kit_page.fill("#chat-input", "can we talk")
    kit_page.press("#chat-input", "Enter")
    room.locator("#panel-chat .thread", has_text="Kit (private)").click()
    expect(room.locator("#chat-log")).to_contain_text("can we talk")
    alex_page.click("#thread-private")
    expect(alex_page.locator("#chat-log")).not_to_contain_text("can we talk")
    alex_page.click("#thread-room")
    shot(room, "session")

    # Breakouts by role: each partner with a clinician, the child with its guardian.
    room.click("#tab-breakouts")
    room.click("#bo-by-role")
    expect(room.locator("#bo-open")).to_be_visible()
    room.fill("#bo-minutes", "15")
    room.click("#bo-open button[type=submit]")
    expect(alex_page.locator("#room-label")).to_have_text("Room 1")
    expect(family["Blair"].locator("#room-label")).to_have_text("Room 2")
    expect(kit_page.locator("#room-label")).to_have_text("Room 2")
    expect(alex_page.locator("#room-timer")).to_contain_text("Time left")
    alex_page.click("#tab-people")
    expect(alex_page.locator("#people-list li")).to_have_count(2)  # Alex and the therapist
    shot(alex_page, "breakout")
    alex_page.click("#btn-help")
    expect(room.locator("#help-list")).to_contain_text("Alex asked for help")
    room.fill("#bo-text", "Five minutes left")
    room.click("#bo-broadcast button[type=submit]")
    expect(family["Blair"].locator("#flash")).to_contain_text("Five minutes left")
    shot(room, "therapist-breakouts")

    room.fill("#bo-grace", "2")
    room.click("#bo-close")
    expect(kit_page.locator("#room-timer")).to_contain_text("Back to main room")
    expect(alex_page.locator("#room-label")).to_have_text("Main room", timeout=10000)
    alex_page.click("#tab-people")
    expect(alex_page.locator("#people-list li")).to_have_count(4)

    room.click("#tab-people")
    room.click("#btn-end")
    for page in family.values():
        expect(page.locator("#notice-title")).to_have_text("The session has ended")
    shot(alex_page, "ended")

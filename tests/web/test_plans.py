"""A couples session run from its plan in real Chromium, each camera a solid colour:
"Joint 20 → Partners apart 15 → Joint 10" with two partners, a therapist and a
co-therapist, then a private room. Each page proves whom it decodes by its pixels."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.web.conftest import Server, launch, new_page, shot
from tests.web.family import COLOURS, seen, y4m
from tests.web.test_flow import add_person, prejoin, sign_in
from tests.web.test_session_screen import assert_accessible

PEOPLE = {"therapist": "red", "Alex": "green", "Blair": "blue", "Dr Co": "yellow"}
WITHIN = 60.0  # bound for media to follow a switch on a loaded two-core host
STEADY = 4.0  # after settling, every sample in this window shows only the room's people


def settle(pages: dict[str, Page], expected: dict[str, set[str]], what: str) -> None:
    """Every page decodes exactly ``expected`` (within WITHIN), and then keeps doing so:
    no frame from another room once the switch has settled."""
    t0 = time.monotonic()
    got: dict[str, set[str]] = {}
    while time.monotonic() - t0 < WITHIN:
        got = {name: seen(page) for name, page in pages.items()}
        if got == expected:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"{what}: expected {expected}, saw {got}")
    print(f"{what}: settled in {time.monotonic() - t0:.1f} s")
    t1 = time.monotonic()
    while time.monotonic() - t1 < STEADY:
        for name, page in pages.items():
            assert seen(page) <= expected[name], f"{what}: {name} decoded another room"
        time.sleep(0.3)


def together(pages: dict[str, Page]) -> dict[str, set[str]]:
    return {n: {PEOPLE[o] for o in pages if o != n} for n in pages}


class HeldAnswer:
    """Routes a context's socket.io WebSocket and, once armed, holds the server's answer
    to the next ``event`` until the answer to a later call has reached the page: the
    order in which a slow change and a quick refusal come back under load."""

    def __init__(self, event: str) -> None:
        self.event = event
        self.armed = False
        self.ack_id: str | None = None
        self.held: str | None = None
        self.released = False

    def route(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if isinstance(message, str) and self.armed and self.ack_id is None:
                call = re.match(rf'42(\d+)\["{self.event}"', message)
                if call:
                    self.ack_id = call.group(1)
            server.send(message)

        def from_server(message: str | bytes) -> None:
            if isinstance(message, str) and self.ack_id is not None:
                if self.held is None and message.startswith(f"43{self.ack_id}["):
                    self.held = message
                    return
                ws.send(message)
                if self.held is not None and not self.released and message.startswith("43"):
                    self.released = True
                    ws.send(self.held)
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)


def focused(page: Page) -> str:
    return str(page.evaluate("() => document.activeElement && document.activeElement.id"))


@pytest.mark.timeout(420)  # four browsers and a 60 s close countdown on a shared host
def test_couples_plan_moves_everyone_and_media_follows(playwright_instance: object,
                                                        server: Server,
                                                        tmp_path: Path) -> None:
    browsers = {name: launch(playwright_instance, [
        f"--use-file-for-fake-video-capture={y4m(tmp_path / f'{c}.y4m', COLOURS[c])}"])
        for name, c in PEOPLE.items()}
    try:
        console = new_page(browsers["therapist"])
        console.on("dialog", lambda d: d.accept())
        end_answer = HeldAnswer("plan_end")
        console.context.route_web_socket(re.compile(r"/socket\.io/"), end_answer.route)
        sign_in(console, server)
        # A therapist writes a plan of their own in the console.
        console.click("[data-go=program] >> nth=0")
        console.click("#plan-new")
        console.fill("#pp-plan-name", "Check-in then apart")
        console.fill("#pp-name-0", "Check-in")
        console.fill("#pp-minutes-0", "5")
        console.click("#plan-add-phase")
        console.fill("#pp-name-1", "Apart")
        console.select_option("#pp-layout-1", "each_client_with_clinician")
        # Custom rooms: a word that is not a role is refused and named, never dropped,
        # and focus stays on the field to fix.
        console.click("#plan-add-phase")
        console.fill("#pp-name-2", "Kids apart")
        console.select_option("#pp-layout-2", "custom")
        console.fill("#pp-rooms-2", "Adults: partner, therapist; Kids: kid")
        console.click("#plan-save")
        expect(console.locator("#plans-status")).to_contain_text(
            'Phase 3: Kids: "kid" is not a role')
        assert focused(console) == "pp-rooms-2"
        expect(console.locator("#pp-rooms-2")).to_have_attribute("aria-invalid", "true")
        console.fill("#pp-rooms-2", "Adults: partner, Therapist; Kids: child, co-therapist")
        console.click("#plan-save")
        expect(console.locator("#plan-list")).to_contain_text(
            "Check-in 5 → Apart 15 → Kids apart 15")
        mine = console.locator("#plan-list > li", has_text="Check-in then apart")
        mine.get_by_role("button", name="Edit").click()
        expect(console.locator("#pp-rooms-2")).to_have_value(
            "Adults: partner, therapist; Kids: child, co_therapist")
        console.get_by_role("button", name="Cancel").click()
        console.click("[data-go=sessions] >> nth=0")
        console.fill("#ns-title", "Couple from a plan")
        expect(console.locator("#ns-plan")).to_contain_text("Check-in then apart")
        console.select_option("#ns-plan", "default-couples")
        console.click("#new-session button[type=submit]")
        links = {name: add_person(console, name, role) for name, role in (
            ("Alex", "partner"), ("Blair", "partner"), ("Dr Co", "co_therapist"))}
        with console.expect_popup() as popup:
            console.click("#open-room")
        dr = popup.value
        dr.set_default_timeout(20000)
        prejoin(dr, dr.url)
        pages = {"therapist": dr}
        for name in ("Alex", "Blair"):
            pages[name] = new_page(browsers[name])
            prejoin(pages[name], links[name])
        dr.click("#tab-people")
        expect(dr.locator("#lobby-list > li")).to_have_count(2)  # both have knocked
        dr.click("#admit-all")
        for page in pages.values():
            expect(page.locator("#screen-session")).to_be_visible()

        # The plan is on the therapist's screen only.
        expect(dr.locator("#plan-title")).to_have_text("Couples: joint, partners apart, joint")
        expect(pages["Alex"].locator("#plan")).to_have_count(0)
        dr.click("#plan-next")  # "Start plan": phase 1, everyone together
        expect(dr.locator("#plan-current")).to_have_text("Now: Joint")
        expect(dr.locator("#plan-clock")).to_contain_text("Time left 19:")
        assert focused(dr) == "plan-next"

        # Without the co-therapist, "Partners apart" would leave Blair without a
        # clinician: refused, the reason beside the button, nobody moves.
        dr.click("#plan-next")
        refusal = dr.locator('.refusal[data-for="plan-next"]')
        expect(refusal).to_contain_text("no clinician")
        expect(dr.locator("#plan-current")).to_have_text("Now: Joint")
        assert focused(dr) == "plan-next"

        pages["Dr Co"] = new_page(browsers["Dr Co"])
        prejoin(pages["Dr Co"], links["Dr Co"])  # co-therapists skip the lobby
        expect(pages["Dr Co"].locator("#screen-session")).to_be_visible()
        settle(pages, together(pages), "joint")

        # From the keyboard: each partner alone with a different clinician.
        dr.focus("#plan-next")
        dr.keyboard.press("Enter")
        expect(dr.locator("#plan-current")).to_have_text("Now: Partners apart")
        expect(refusal).to_have_count(0)
        assert focused(dr) == "plan-next"
        settle(pages, {"therapist": {"green"}, "Alex": {"red"}, "Dr Co": {"blue"},
                       "Blair": {"yellow"}}, "partners apart")
        expect(dr.locator("#plan-clock")).to_contain_text("Time left 14:")
        shot(dr, "plan-timeline")
        assert_accessible(dr, "the plan timeline")

        # Back together: the close countdown starts, and "Close now" cuts it short.
        dr.click("#plan-next")
        expect(dr.locator("#plan-current")).to_have_text("Now: Joint")
        expect(dr.locator("#plan-next-what")).to_have_text("This is the last phase.")
        assert focused(dr) == "plan-next"
        expect(pages["Alex"].locator("#room-label")).not_to_have_text("Main room")
        dr.click("#plan-close-now")
        expect(pages["Alex"].locator("#room-label")).to_have_text("Main room")
        expect(dr.locator("#plan-close-now")).to_have_count(0)
        expect(dr.locator("#plan-next")).to_be_focused()  # the button left with the countdown
        settle(pages, together(pages), "joint again")

        # A private room: the therapist takes Alex aside, unannounced.
        row = dr.locator('#people-list > li', has_text="Alex")
        row.get_by_role("button", name="Options for Alex").click()
        row.get_by_role("menuitem", name="Move to a private room with me", exact=True).click()
        settle(pages, {"therapist": {"green"}, "Alex": {"red"}, "Dr Co": {"blue"},
                       "Blair": {"yellow"}}, "private room")
        expect(pages["Alex"].locator("#private-rooms")).to_contain_text(
            "You are in a private room with")
        expect(pages["Blair"].locator("#private-rooms")).to_have_count(0)
        shot(pages["Alex"], "private-room")
        assert_accessible(pages["Alex"], "a private room")
        dr.get_by_role("button", name="Bring Alex back").click()
        settle(pages, together(pages), "back from the private room")

        # End plan: the timeline stops, nobody moves, focus stays; a second click is
        # refused in words beside the button, and stays refused when the first click's
        # answer comes back after the refusal.
        end_answer.armed = True
        dr.click("#plan-end")
        expect(dr.locator("#plan-current")).to_have_text("Plan finished")
        expect(dr.locator("#plan-clock")).to_be_hidden()
        assert focused(dr) == "plan-end"
        dr.keyboard.press("Enter")  # aria-disabled, yet still reachable: it explains itself
        expect(dr.locator('.refusal[data-for="plan-end"]')).to_contain_text(
            "cannot end the plan: the plan is finished")
        assert end_answer.held is not None, "the first End plan answer was not held"
        assert end_answer.released, "the first End plan answer never reached the page"
        dr.wait_for_timeout(500)  # the late answer is handled by now
        expect(dr.locator('.refusal[data-for="plan-end"]')).to_contain_text(
            "cannot end the plan: the plan is finished")
        settle(pages, together(pages), "after the plan ended")
    finally:
        for b in browsers.values():
            b.close()

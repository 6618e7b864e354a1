"""The session screen as the people in it see it, in real Chromium.

Each assertion is about what a person sees or where their keyboard focus is: whose
private reply shows on whose page, tile boxes that never overlap, a toast that shows,
a refusal next to the button that caused it, focus that stays where it was.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pyotp
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.web.conftest import PASSWORD, ROOT, Server, launch, shot, solid_y4m, wait_js
from tests.web.conftest import new_page as _new_page
from tests.web.test_flow import add_person, sign_in

# Six engineers share two cores: wait on conditions generously, never on the clock.
expect.set_options(timeout=30000)
SLOW = 45000  # each page action's limit

AXE = (ROOT / "node_modules" / "axe-core" / "axe.min.js").read_text()

# A device with a microphone and no camera at all.
AUDIO_ONLY = """
(() => {
  const md = navigator.mediaDevices;
  const gum = md.getUserMedia.bind(md);
  const list = md.enumerateDevices.bind(md);
  md.getUserMedia = (c) => gum({ audio: c && c.audio, video: false });
  md.enumerateDevices = async () => (await list()).filter((d) => d.kind !== 'videoinput');
})();
"""

# Counts the attention chime's notes (WebAudio oscillators started).
COUNT_CHIMES = """
(() => {
  window.__chimes = 0;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...a) {
    window.__chimes += 1;
    return start.apply(this, a);
  };
})();
"""


@pytest.fixture(scope="module")
def browser(playwright_instance: object,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """This module's browser: its fake camera is a small solid picture (light on two cores)."""
    y4m: Path = solid_y4m(tmp_path_factory.mktemp("cam") / "cam.y4m", (40, 160, 40),
                          width=160, height=120)
    b = launch(playwright_instance, [f"--use-file-for-fake-video-capture={y4m}"])
    yield b
    b.close()


def new_page(browser: Browser, *, width: int = 1280, height: int = 800) -> Page:
    page = _new_page(browser, width=width, height=height)
    page.set_default_timeout(SLOW)
    return page


def session_with(dr: Page, title: str, people: list[tuple[str, str, str | None]], *,
                 camera_off: bool = True) -> tuple[Page, dict[str, str]]:
    """Create a session with people ``(name, role, guardian)``; open the therapist's room."""
    dr.fill("#ns-title", title)
    dr.click("#new-session button[type=submit]")
    expect(dr.locator("#detail-title")).to_have_text(title)
    links = {name: add_person(dr, name, role, guardian) for name, role, guardian in people}
    with dr.expect_popup() as popup:
        dr.click("#open-room")
    room = popup.value
    room.on("dialog", lambda d: d.accept())
    room.set_default_timeout(SLOW)
    join(room, room.url, camera_off=camera_off)
    expect(room.locator("#screen-session")).to_be_visible()
    return room, links


def join(page: Page, link: str, *, camera_off: bool = False, audio_only: bool = False,
         silent: bool = False) -> None:
    """Pre-join and join. ``silent``: camera and microphone off (tests about the screen,
    not the media, keep the two shared cores for the pages)."""
    if audio_only:
        page.add_init_script(AUDIO_ONLY)
    page.goto(link)
    expect(page.locator("#screen-prejoin")).to_be_visible()
    if silent:
        page.check("#pj-camoff")
        page.check("#pj-micoff")
        wait_js(page, "document.getElementById('pj-camera-off').hidden === false && "
                "document.getElementById('pj-video').srcObject?.getTracks().length === 0",
                limit=60)
    elif camera_off:
        page.check("#pj-camoff")
    if silent:
        pass
    elif camera_off or audio_only:
        wait_js(page, "document.getElementById('pj-video').srcObject?.getAudioTracks().length > 0",
                limit=60)
    else:
        wait_js(page, "document.getElementById('pj-video').videoWidth > 0", limit=60)
    page.check("#pj-consent")
    expect(page.locator("#consent-hash")).to_be_attached()  # the server's documents shown
    for box in page.locator("input[data-consent-child]").all():  # a guardian's child
        box.check()
    page.click("#pj-join")


def tile_of(room: Page, name: str) -> Locator:
    """A person's camera tile, found by its name label (a gap note on another tile may
    mention the name too)."""
    return room.locator("#stage figure.tile.camera",
                        has=room.locator(".tile-label", has_text=name))


def therapist(browser: Browser, server: Server) -> Page:
    dr = new_page(browser)
    dr.on("dialog", lambda d: d.accept())
    sign_in(dr, server)
    return dr


def admit_everyone(room: Page, pages: list[Page]) -> None:
    room.click("#tab-people")
    for page in pages:
        expect(page.locator("#screen-lobby")).to_be_visible()
    expect(room.locator("#lobby-list > li")).to_have_count(len(pages))
    room.click("#admit-all")
    for page in pages:
        expect(page.locator("#screen-session")).to_be_visible()


def axe_violations(page: Page) -> list[dict[str, object]]:
    page.evaluate(AXE)  # through DevTools: the page's strict CSP still holds for the page
    result = page.evaluate("async () => (await axe.run(document)).violations.map("
                           "v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' '))}))")
    return list(result)


def assert_accessible(page: Page, what: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe on {what}: {json.dumps(violations, indent=1)}"


# --- chat threads -----------------------------------------------------------------

@pytest.mark.timeout(300)
def test_private_reply_reaches_exactly_that_person(browser: Browser, server: Server) -> None:
    dr = therapist(browser, server)
    room, links = session_with(dr, "Private reply", [
        ("Alex", "client", None), ("Blair", "partner", None), ("Kit", "child", "Blair"),
        ("Dr Co", "co_therapist", None)])
    console: list[str] = []
    pages: dict[str, Page] = {"Dr": room}
    for name in ("Alex", "Blair", "Kit", "Dr Co"):
        pages[name] = new_page(browser)
        join(pages[name], links[name], silent=True)
    for page in pages.values():
        page.on("console", lambda m: console.append(m.text))
    admit_everyone(room, [pages[n] for n in ("Alex", "Blair", "Kit")])
    expect(pages["Dr Co"].locator("#screen-session")).to_be_visible()

    kit = pages["Kit"]
    kit.click("#tab-chat")
    expect(kit.locator("#thread-private")).to_have_attribute("aria-pressed", "true")
    expect(kit.locator("#chat-to")).to_contain_text("only your therapists")
    kit.fill("#chat-input", "canary can I talk to you alone after")
    kit.press("#chat-input", "Enter")

    # The therapist sees an unread count on Kit's labelled thread and replies from it.
    room.click("#tab-chat")
    kit_thread = room.locator("#panel-chat .thread", has_text="Kit (private)")
    expect(kit_thread.locator(".badge")).to_have_text("1")
    kit_thread.click()
    expect(room.locator("#chat-to")).to_contain_text("Kit and the clinicians")
    expect(room.locator("#chat-log")).to_contain_text("canary can I talk to you alone after")
    room.fill("#chat-input", "canary reply: yes, stay on after")
    room.press("#chat-input", "Enter")

    expect(kit.locator("#chat-log")).to_contain_text("canary reply: yes, stay on after")
    co = pages["Dr Co"]
    co.click("#tab-chat")
    co.locator("#panel-chat .thread", has_text="Kit (private)").click()
    expect(co.locator("#chat-log")).to_contain_text("canary reply: yes, stay on after")
    for thread in ("#thread-room", "#thread-clinical"):
        co.click(thread)
        expect(co.locator("#chat-log")).not_to_contain_text("canary")

    # The backchannel: clinicians only, never offered on a client's page.
    co.click("#thread-clinical")
    expect(co.locator("#chat-to")).to_contain_text("never shown to clients")
    co.fill("#chat-input", "canary backchannel note")
    co.press("#chat-input", "Enter")
    room.click("#thread-clinical")
    expect(room.locator("#chat-log")).to_contain_text("canary backchannel note")

    for name in ("Alex", "Blair"):
        page = pages[name]
        page.click("#tab-chat")
        for thread in ("#thread-room", "#thread-private"):
            page.click(thread)
            expect(page.locator("#chat-log")).not_to_contain_text("canary")
    for name in ("Alex", "Blair", "Kit"):
        page = pages[name]
        expect(page.locator("#thread-clinical")).to_have_count(0)
        assert "canary backchannel" not in page.content()
        assert "Clinicians only" not in page.content()
    for name in ("Alex", "Blair"):
        assert "canary" not in pages[name].content()

    # The host hands the host role to the co-therapist from the co-therapist's menu: the
    # host controls move with it, and the keyboard stays on the co-therapist's row.
    room.click("#tab-people")
    co.click("#tab-people")
    expect(room.locator("#btn-end")).to_be_visible()
    expect(co.locator("#btn-end")).to_have_count(0)
    row = room.locator("#people-list > li", has_text="Dr Co")
    row.get_by_role("button", name="Options for Dr Co").click()
    row.get_by_role("menuitem", name="Make host").click()  # the confirm is accepted
    expect(co.locator("#btn-end")).to_be_visible()
    expect(room.locator("#btn-end")).to_have_count(0)
    expect(co.locator("#people-list > li", has_text="(you)")).to_contain_text("Therapist")
    expect(pages["Alex"].locator("#people-list > li", has_text="Dr Co")).to_contain_text(
        "Therapist")
    expect(room.locator("#people-list > li", has_text="(you)")).to_contain_text("Co-therapist")
    expect(row.get_by_role("menuitem", name="Make host")).to_have_count(0)
    focused = room.evaluate("() => { const e = document.activeElement;"
                            " const li = e && e.closest('#people-list > li');"
                            " return li ? li.textContent : e && e.tagName; }")
    assert "Dr Co" in str(focused), f"focus after Make host: {focused}"

    # Nothing a person wrote, and no name, goes to a performance mark, a console
    # message or the server's log.
    for name, page in pages.items():
        entries = page.evaluate("() => performance.getEntries().map(e => e.name).join('\\n')")
        for secret in ("canary", "Alex", "Blair", "Kit", "Dr Co", "Private reply"):
            assert secret not in entries, f"{secret} in a performance entry on {name}'s page"
    blob = "\n".join(console) + "".join(server.log)
    for secret in ("canary", "Blair", "Private reply"):
        assert secret not in blob, f"{secret} in a console message or the server log"
    for page in pages.values():
        page.context.close()
    dr.context.close()


# --- tiles and layouts ----------------------------------------------------------------

TILE_GEOMETRY = """() => {
  const vw = innerWidth, vh = innerHeight;
  const tiles = [...document.querySelectorAll('#stage figure.tile')].map(t => {
    const r = t.getBoundingClientRect();
    const c = t.querySelector('figcaption').getBoundingClientRect();
    return {key: t.dataset.key, video: !t.classList.contains('no-video'),
            avatar: !!t.querySelector('.avatar'), name: t.querySelector('.tile-label').textContent,
            box: [r.left, r.top, r.right, r.bottom], label: [c.left, c.top, c.right, c.bottom]};
  });
  const s = document.getElementById('stage').getBoundingClientRect();
  return {vw, vh, tiles, stage: [s.left, s.top, s.right, s.bottom]};
}"""


def check_layout(page: Page, people: int, what: str, *, screens: int = 0) -> dict[str, object]:
    g = page.evaluate(TILE_GEOMETRY)
    tiles = g["tiles"]
    keys = [t["key"] for t in tiles]
    assert len(keys) == len(set(keys)) == people + screens, f"{what}: tiles {keys}"
    assert len([k for k in keys if k.endswith(":camera")]) == people, f"{what}: {keys}"
    assert len([k for k in keys if k.endswith(":screen")]) == screens, f"{what}: {keys}"
    eps = 0.5
    for i, a in enumerate(tiles):
        ax0, ay0, ax1, ay1 = a["box"]
        assert min(ax1 - ax0, ay1 - ay0) > 40, f"{what}: {a['name']} tile too small {a['box']}"
        lx0, ly0, lx1, ly1 = a["label"]
        inside = lx0 >= ax0 - eps and ly0 >= ay0 - eps and lx1 <= ax1 + eps and ly1 <= ay1 + eps
        assert inside, f"{what}: {a['name']}'s label {a['label']} outside its tile {a['box']}"
        on_screen = lx0 >= 0 and ly0 >= 0 and lx1 <= g["vw"] and ly1 <= g["vh"]
        assert on_screen, f"{what}: {a['name']}'s label outside the viewport"
        for b in tiles[i + 1:]:
            bx0, by0, bx1, by1 = b["box"]
            overlap = min(ax1, bx1) - max(ax0, bx0) > eps and min(ay1, by1) - max(ay0, by0) > eps
            assert not overlap, f"{what}: {a['name']} {a['box']} overlaps {b['name']} {b['box']}"
    return dict(g)


@pytest.mark.timeout(300)
def test_layouts_show_every_person_once_without_overlap(browser: Browser,
                                                        server: Server) -> None:
    dr = therapist(browser, server)
    room, links = session_with(dr, "Layouts", [
        ("Alex Morgan", "client", None), ("Blair Morgan", "partner", None),
        ("Casey Morgan-Whitfield", "family", None), ("Devon", "family", None)],
        camera_off=False)
    pages: dict[str, Page] = {}
    pages["Alex Morgan"] = new_page(browser)
    join(pages["Alex Morgan"], links["Alex Morgan"])
    pages["Blair Morgan"] = new_page(browser)
    join(pages["Blair Morgan"], links["Blair Morgan"], camera_off=True)
    pages["Casey Morgan-Whitfield"] = new_page(browser)
    join(pages["Casey Morgan-Whitfield"], links["Casey Morgan-Whitfield"], audio_only=True)
    phone = new_page(browser, width=390, height=844)
    pages["Devon"] = phone
    join(phone, links["Devon"])
    admit_everyone(room, list(pages.values()))

    for page in [room, *pages.values()]:
        expect(page.locator("#stage figure.tile.camera")).to_have_count(5)
    # Remote video arrives for the two with cameras; the others are avatars.
    wait_js(room, "document.querySelectorAll('#stage figure.tile:not(.no-video) video')"
            ".length === 3", limit=60)
    for name in ("Blair Morgan", "Casey Morgan-Whitfield"):
        tile = tile_of(room, name)
        expect(tile.locator(".avatar")).to_be_visible()
        expect(tile).to_have_class(re.compile(r"\bno-video\b"))
    casey = tile_of(room, "Casey Morgan-Whitfield")
    expect(casey.locator(".tile-role")).to_have_text("Family")
    # A raised hand and a muted microphone show on the tile, not only in a list.
    pages["Alex Morgan"].click("#btn-hand")
    alex = tile_of(room, "Alex Morgan")
    expect(alex.locator(".tile-hand")).to_be_visible()
    pages["Alex Morgan"].click("#btn-mic")
    expect(alex.locator(".tile-mic")).to_have_text("muted")

    g = check_layout(room, 5, "speaker view")
    featured = room.locator("#stage figure.tile.featured")
    expect(featured).to_have_count(1)
    shot(room, "session-speaker")

    room.click("#btn-layout")
    expect(room.locator("#stage")).to_have_class(re.compile(r"\bgrid\b"))
    expect(room.locator("#stage figure.tile.featured")).to_have_count(0)
    g = check_layout(room, 5, "grid view")
    widths = {round(t["box"][2] - t["box"][0]) for t in g["tiles"]}  # type: ignore[index]
    assert max(widths) - min(widths) <= 2, f"grid tiles are not even: {widths}"
    shot(room, "session-grid")

    expect(phone.locator("#stage figure.tile.camera")).to_have_count(5)
    g = check_layout(phone, 5, "phone")
    stage = g["stage"]
    assert stage[3] - stage[1] >= 0.6 * 844, f"phone video area too small: {stage}"  # type: ignore[index]
    phone.click("#tab-chat")
    expect(phone.locator("#chat-input")).to_be_visible()  # the bottom sheet opens over it
    phone.click(".sheet-close")
    expect(phone.locator("#chat-input")).to_be_hidden()
    shot(phone, "session-phone")
    phone.click("#btn-layout")
    check_layout(phone, 5, "phone grid")
    # A dropped connection shows on that person's tile, which stays in place.
    phone.context.close()
    devon = tile_of(room, "Devon")
    expect(devon.locator(".tile-status")).to_have_text("Connection lost")
    check_layout(room, 5, "grid view with a dropped connection")
    for name, page in pages.items():
        if name != "Devon":
            page.context.close()
    room.context.close()
    dr.context.close()


# --- attention, refusals, focus, keyboard -----------------------------------------------

RLO_ALEX = "\u202eAlex"

# For each element matching the selector: the box of its first <bdi> and of the text or
# element right after it. A left-to-right page shows what follows a name to its right.
AFTER_NAME = """(sel) => [...document.querySelectorAll(sel)].map(el => {
  const bdi = el.querySelector('bdi');
  if (!bdi) return null;
  let after = bdi.nextSibling;
  while (after && !(after.nodeType === 3 && after.textContent.trim()) && after.nodeType !== 1) {
    after = after.nextSibling;
  }
  if (!after) { after = el.nextElementSibling; }
  const range = document.createRange();
  range.selectNodeContents(after);
  const a = range.getBoundingClientRect(), b = bdi.getBoundingClientRect();
  return {name: [b.left, b.right, b.top], after: [a.left, a.right, a.top],
          text: after.textContent};
})"""


def assert_not_spoofed(page: Page, selector: str, what: str) -> None:
    found = [x for x in page.evaluate(AFTER_NAME, selector) if x]
    assert found, f"no isolated name in {what}"
    for x in found:
        same_line = abs(x["name"][2] - x["after"][2]) < 4
        assert not same_line or x["after"][0] >= x["name"][1] - 1, (
            f"{what}: {x['text']!r} is drawn left of the name it follows: {x}")


def check_load_earlier(room: Page) -> None:
    """Joining shows the newest 100 messages of a thread; "Load earlier" brings the rest,
    in order, and focus lands on the messages when nothing earlier is left."""
    room.click("#tab-chat")
    room.click("#thread-room")
    before = room.locator("#chat-log > li").count()
    for i in range(101):
        text = f"canary page {i:03d}"
        room.fill("#chat-input", text)
        for _ in range(5):
            room.press("#chat-input", "Enter")
            # Sent, or refused and given back to the box: typed this fast, the
            # connection's event budget (20 a second) can run out, and the page
            # keeps the text to send again once the refusal's retry_after is over.
            room.wait_for_function(
                """t => (document.querySelector('#chat-log > li:last-child')
                         ?.textContent ?? '').includes(t)
                       || document.getElementById('chat-input').value === t""",
                arg=text, timeout=30_000)
            if room.input_value("#chat-input") != text:
                break
            room.wait_for_timeout(1_000)
        expect(room.locator("#chat-log > li").last).to_contain_text(text)
    total = before + 101
    room.reload()  # a page that joins now gets the newest page only
    join(room, room.url, camera_off=True)
    expect(room.locator("#screen-session")).to_be_visible()
    room.click("#tab-chat")
    room.click("#thread-room")
    expect(room.locator("#chat-log > li")).to_have_count(100)
    expect(room.locator("#chat-log > li").first).to_contain_text("canary page 001")
    room.focus("#chat-earlier")
    room.keyboard.press("Enter")
    expect(room.locator("#chat-log > li")).to_have_count(total)
    expect(room.locator("#chat-earlier")).to_have_count(0)
    expect(room.locator("#chat-log")).to_be_focused()
    texts = room.locator("#chat-log > li .text").all_inner_texts()
    pages = [t for t in texts if t.startswith("canary page")]
    assert pages == [f"canary page {i:03d}" for i in range(101)]


def check_chat_length_and_isolation(room: Page, alex: Page) -> None:
    """The chat box counts characters (as the server does), warns on a long paste and
    refuses an overlong message itself; a right-to-left name does not reorder chat."""
    # The measure bites: without an isolate, an override moves the words after it.
    room.evaluate("""() => { const d = document.createElement('p'); d.id = 'control';
      d.innerHTML = '<span><span class=n>\u202eAlex</span> raised a hand.</span>';
      document.body.append(d); }""")
    spoofed = room.evaluate("""() => { const s = document.querySelector('#control .n');
      const r = document.createRange(); r.selectNodeContents(s.nextSibling);
      return r.getBoundingClientRect().right <= s.getBoundingClientRect().left + 1; }""")
    assert spoofed, "control: an unisolated override should reorder the text after it"
    room.evaluate("() => document.getElementById('control').remove()")

    alex.click("#tab-chat")
    alex.click("#thread-room")
    alex.fill("#chat-input", "canary hello from the client")
    alex.press("#chat-input", "Enter")
    room.click("#tab-chat")
    room.click("#thread-room")
    expect(room.locator("#chat-log")).to_contain_text("canary hello from the client")
    assert_not_spoofed(room, "#chat-log > li > strong", "a chat message")
    assert_not_spoofed(room, "#chat-to", "the thread's readers")
    room.click("#tab-people")
    assert_not_spoofed(room, "#people-list .person", "the people list")
    room.click("#tab-chat")

    # 1,500 Cyrillic letters are well within 2,000 characters: sent, no counter shown.
    room.fill("#chat-input", "ж" * 1500)
    expect(room.locator("#chat-count")).to_be_hidden()
    room.press("#chat-input", "Enter")
    expect(alex.locator("#chat-log")).to_contain_text("ж" * 1500)
    # Near the limit the counter shows; over it, it says so and Send is refused here.
    room.fill("#chat-input", "😀" * 1900)
    expect(room.locator("#chat-count")).to_have_text("1900 / 2000")
    room.fill("#chat-input", "😀" * 2001)
    expect(room.locator("#chat-count")).to_have_text("message too long (2001 / 2000)")
    room.press("#chat-input", "Enter")
    refusal = room.locator("#panel-chat .refusal[data-for=chat]")
    expect(refusal).to_have_text("message too long (2001 / 2000)")
    expect(room.locator("#chat-input")).to_be_focused()
    assert room.input_value("#chat-input") == "😀" * 2001  # kept, to shorten
    # Pasting 10,000 characters: a warning, nothing cut off silently, nothing sent.
    room.fill("#chat-input", "")
    room.context.grant_permissions(["clipboard-read", "clipboard-write"])
    room.evaluate("() => navigator.clipboard.writeText('p'.repeat(10000))")
    room.focus("#chat-input")
    room.keyboard.press("Control+V")
    expect(room.locator("#chat-paste")).to_contain_text("10000 characters")
    expect(room.locator("#chat-count")).to_have_text("message too long (10000 / 2000)")
    assert len(room.input_value("#chat-input")) == 10000
    room.press("#chat-input", "Enter")
    expect(refusal).to_have_text("message too long (10000 / 2000)")
    # Shortened: the warnings go and the message is sent.
    room.fill("#chat-input", "canary short again")
    expect(room.locator("#chat-paste")).to_have_count(0)
    expect(refusal).to_have_count(0)
    room.press("#chat-input", "Enter")
    expect(alex.locator("#chat-log")).to_contain_text("canary short again")
    assert "pppppppppp" not in alex.locator("#chat-log").inner_text()
    assert "😀" not in alex.locator("#chat-log").inner_text()

@pytest.mark.timeout(300)
def test_focus_stays_and_shortcuts_work(browser: Browser, server: Server) -> None:
    dr = therapist(browser, server)
    # The client's name starts with a right-to-left override (a canary): it must not
    # reorder the words shown after it.
    room, links = session_with(dr, "Focus", [(RLO_ALEX, "client", None)])
    alex = new_page(browser)
    join(alex, links[RLO_ALEX], silent=True)
    admit_everyone(room, [alex])
    room.click("#tab-chat")
    assert_accessible(room, "the therapist's session page")
    assert_accessible(alex, "a family member's session page")

    # Focus stays on Mute after pressing it, and after someone else raises a hand.
    room.focus("#btn-mic")
    room.keyboard.press("Enter")
    expect(room.locator("#btn-mic")).to_have_text("Unmute")
    assert room.evaluate("() => document.activeElement.id") == "btn-mic"
    alex.click("#btn-hand")
    expect(room.locator("#people-list .hand")).to_have_count(1)
    expect(room.locator(".toast", has_text="Alex raised a hand")).to_be_visible()
    expect(room.locator("#tab-people .badge")).to_be_visible()
    assert room.evaluate("() => document.activeElement.id") == "btn-mic"
    assert_not_spoofed(room, ".toast > span", "the hand toast")
    # Keyboard shortcuts, listed in a help dialog.
    room.keyboard.press("Alt+M")
    expect(room.locator("#btn-mic")).to_have_text("Mute")
    alex.keyboard.press("Alt+H")
    expect(room.locator("#people-list .hand")).to_have_count(0)
    room.keyboard.press("Alt+K")
    expect(room.locator("#shortcuts")).to_be_visible()
    expect(room.locator("#shortcuts")).to_contain_text("Alt+H")
    room.keyboard.press("Escape")
    expect(room.locator("#shortcuts")).to_be_hidden()
    check_chat_length_and_isolation(room, alex)
    # A screen share takes the large tile on the others' pages; focus stays on the button.
    room.focus("#btn-share")
    room.keyboard.press("Enter")
    expect(room.locator("#btn-share")).to_have_text("Stop sharing")
    expect(room.locator("#btn-share")).to_be_focused()
    shared = alex.locator("#stage figure.tile.screen")
    expect(shared).to_have_class(re.compile(r"\bfeatured\b"))
    wait_js(alex, "document.querySelector('#stage figure.tile.screen video')?.videoWidth > 0",
            limit=60)
    expect(shared.locator(".tile-label")).to_contain_text("(screen)")
    g = check_layout(alex, 2, "a screen share", screens=1)
    tiles = cast(list[dict[str, Any]], g["tiles"])
    big = max(tiles, key=lambda t: (t["box"][2] - t["box"][0]) * (t["box"][3] - t["box"][1]))
    assert big["key"].endswith(":screen"), f"the largest tile is {big['key']}"
    room.keyboard.press("Enter")
    expect(room.locator("#btn-share")).to_have_text("Share screen")
    expect(alex.locator("#stage figure.tile.screen")).to_have_count(0)
    expect(room.locator("#btn-share")).to_be_focused()
    check_load_earlier(room)
    # The video area is reachable with the keyboard.
    room.focus("#room-title")
    for _ in range(10):
        room.keyboard.press("Tab")
        if room.evaluate("() => document.activeElement.id") == "stage":
            break
    assert room.evaluate("() => document.activeElement.id") == "stage"
    alex.context.close()
    room.context.close()
    dr.context.close()


@pytest.mark.timeout(300)
def test_knock_shows_a_toast_and_a_locked_room_says_so(browser: Browser, server: Server) -> None:
    dr = therapist(browser, server)
    room, links = session_with(dr, "Knock", [("Late Knocker", "family", None),
                                             ("Locked Out", "family", None)])
    room.add_init_script(COUNT_CHIMES)
    room.reload()
    join(room, room.url, camera_off=True)
    expect(room.locator("#screen-session")).to_be_visible()
    room.click("#tab-chat")
    chimes = room.evaluate("() => window.__chimes")

    # A knock while the therapist reads the chat: a toast, a chime, a badge on People.
    late = new_page(browser)
    join(late, links["Late Knocker"], silent=True)
    expect(late.locator("#screen-lobby")).to_be_visible()
    toast = room.locator(".toast", has_text="Late Knocker is waiting in the lobby")
    expect(toast).to_be_visible()
    assert room.evaluate("() => window.__chimes") > chimes
    expect(room.locator("#tab-people .badge")).to_have_text("1")
    assert_accessible(late, "the lobby")
    toast.get_by_role("button", name="Admit").click()
    expect(late.locator("#screen-session")).to_be_visible()
    expect(toast).to_have_count(0)

    # Knocking on a locked room says so to the knocker.
    room.click("#tab-people")
    room.click("#btn-lock")
    expect(room.locator("#room-label")).to_contain_text("locked")
    locked = new_page(browser)
    join(locked, links["Locked Out"], silent=True)
    expect(locked.locator("#notice-title")).to_have_text("The room is locked")
    # The host decides whether the family may share screens; the button says which.
    share = room.locator("#btn-share-policy")
    expect(share).to_have_attribute("aria-pressed", "true")
    share.click()
    expect(share).to_have_attribute("aria-pressed", "false")
    expect(share).to_have_text("Family may share screens: off")
    expect(share).to_be_focused()
    expect(late.locator("#btn-share")).to_be_hidden()
    share.click()
    expect(share).to_have_attribute("aria-pressed", "true")
    for page in (late, locked):
        page.context.close()
    room.context.close()
    dr.context.close()


@pytest.mark.timeout(300)
def test_person_menu_breakout_refusal_and_a_typed_countdown(browser: Browser,
                                                            server: Server) -> None:
    dr = therapist(browser, server)
    room, links = session_with(dr, "Breakouts", [
        ("Alex", "client", None), ("Blair", "partner", None), ("Kit", "child", "Blair"),
        ("Late Knocker", "family", None)])
    family = {name: new_page(browser) for name in ("Alex", "Blair", "Kit")}
    for name, page in family.items():  # Blair keeps a microphone (to be muted)
        join(page, links[name], silent=name != "Blair", camera_off=True)
    admit_everyone(room, list(family.values()))

    # Per-person menu: one button opens the actions for that person.
    row = room.locator("#people-list > li", has_text="Blair")
    row.get_by_role("button", name="Options for Blair").click()
    menu = row.get_by_role("menu")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("menuitem")).to_have_text(
        ["Mute", "Private message", "Turn child-safe mode on", "Move to a private room with me",
         "Move to a private room with me (tell the others)", "Send to lobby",
         "Remove from session"])
    family["Alex"].click("#btn-hand")  # someone else acts: the open menu stays open
    expect(room.locator("#people-list .hand")).to_have_count(1)
    expect(menu).to_be_visible()
    menu.get_by_role("menuitem", name="Mute").click()
    expect(family["Blair"].locator("#btn-mic")).to_have_text("Unmute")
    expect(menu).to_be_hidden()

    # A refused command shows its reason next to the control: a child alone in a room.
    room.click("#tab-breakouts")
    room.fill("#bo-count", "3")
    room.click("#bo-create button[type=submit]")
    expect(room.locator("select[data-assign]")).to_have_count(3)
    expect(room.locator("li[data-room]")).to_have_count(3)
    # Delete a room in the draft: it is gone, and focus lands on adding rooms.
    room.locator("li[data-room]", has_text="Room 3").get_by_role("button", name="Delete").click()
    expect(room.locator("li[data-room]")).to_have_count(2)
    expect(room.locator("select[data-assign]").first.locator("option")).to_have_count(3)
    expect(room.locator("#bo-count")).to_be_focused()
    for name, target in (("Alex", "Room 1"), ("Blair", "Room 1"), ("Kit", "Room 2")):
        room.get_by_label(f"Room for {name}").select_option(label=target)
        expect(room.locator("li[data-room]", has_text=target)).to_contain_text(name)
    # Rename a room in the draft.
    room.locator("li[data-room]", has_text="Room 2").get_by_role("button", name="Rename").click()
    room.locator("li[data-room] input[name=name]").fill("Quiet room")
    room.locator("li[data-room] input[name=name]").press("Enter")
    expect(room.locator("li[data-room]", has_text="Quiet room")).to_have_count(1)
    room.click("#bo-open button[type=submit]")
    refusal = room.locator("#bo-open .refusal")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("child")
    open_box = room.locator("#bo-open button[type=submit]").bounding_box()
    ref_box = refusal.bounding_box()
    assert open_box is not None
    assert ref_box is not None
    assert abs(ref_box["y"] - (open_box["y"] + open_box["height"])) < 60

    room.get_by_label("Room for Kit").select_option(label="Room 1")
    expect(room.locator("li[data-room]", has_text="Room 1")).to_contain_text("Kit")
    room.click("#bo-open button[type=submit]")
    expect(family["Alex"].locator("#room-label")).to_have_text("Room 1")
    expect(refusal).to_have_count(0)
    assert_accessible(family["Alex"], "a breakout room")

    # Move while open, from the person's menu; a refused move says why beside the person.
    room.click("#tab-people")
    alex_row = room.locator("#people-list > li", has_text="Alex")
    alex_row.get_by_role("button", name="Options for Alex").click()
    alex_row.get_by_role("menuitem", name="Move to Quiet room").click()
    expect(family["Alex"].locator("#room-label")).to_have_text("Quiet room")
    blair_row = room.locator("#people-list > li", has_text="Blair")
    blair_row.get_by_role("button", name="Options for Blair").click()
    blair_row.get_by_role("menuitem", name="Move to Quiet room").click()
    expect(blair_row.locator(".refusal")).to_contain_text("child")
    expect(family["Blair"].locator("#room-label")).to_have_text("Room 1")
    room.click("#tab-breakouts")

    # A half-typed countdown survives someone knocking, and keeps its focus.
    room.fill("#bo-grace", "4")
    room.focus("#bo-grace")
    late = new_page(browser)
    join(late, links["Late Knocker"], silent=True)
    expect(room.locator(".toast", has_text="Late Knocker is waiting")).to_be_visible()
    assert room.input_value("#bo-grace") == "4"
    assert room.evaluate("() => document.activeElement.id") == "bo-grace"
    # Extend by a chosen number of minutes.
    room.fill("#bo-extend-minutes", "7")
    room.click("#bo-extend button[type=submit]")
    expect(room.locator("#room-timer")).to_contain_text(re.compile(r"Time left (2[01]|19):"))

    # A message to someone waiting: an inline form (no prompt), focus in it and back.
    room.click("#tab-people")
    waiting = room.locator("#lobby-list > li", has_text="Late Knocker")
    waiting.get_by_role("button", name="Message Late Knocker").click()
    box = room.get_by_label("Message to Late Knocker (shown in the waiting room)")
    expect(box).to_be_focused()
    box.fill("canary lobby: one minute please")
    box.press("Enter")
    expect(late.locator("#lobby-message")).to_have_text(
        "Message from your therapist: canary lobby: one minute please")
    expect(box).to_have_count(0)
    expect(waiting.get_by_role("button", name="Message Late Knocker")).to_be_focused()
    waiting.get_by_role("button", name="Message Late Knocker").press("Enter")
    expect(box).to_be_focused()
    box.press("Escape")
    expect(box).to_have_count(0)
    expect(waiting.get_by_role("button", name="Message Late Knocker")).to_be_focused()

    # Mute everyone: Blair, speaking again, is muted; focus stays on the button.
    family["Blair"].click("#btn-mic")
    expect(family["Blair"].locator("#btn-mic")).to_have_text("Mute")
    expect(room.locator("#people-list > li", has_text="Blair")).not_to_contain_text("muted")
    room.focus("#mute-all")
    room.keyboard.press("Enter")
    expect(family["Blair"].locator("#btn-mic")).to_have_text("Unmute")
    expect(room.locator("#people-list > li", has_text="Blair")).to_contain_text("muted")
    assert room.evaluate("() => document.activeElement.id") == "mute-all"

    # Close all with a countdown, from the keyboard: the same button then reads "Close
    # now" and keeps focus; pressing it brings everyone back at once, and focus goes to
    # the breakouts heading, never to the page.
    room.click("#tab-breakouts")
    room.fill("#bo-grace", "60")
    room.focus("#bo-close")
    room.keyboard.press("Enter")
    expect(room.locator("#bo-close")).to_have_text("Close now")
    expect(room.locator("#bo-close")).to_be_focused()
    expect(family["Alex"].locator("#room-label")).to_have_text("Quiet room")
    room.keyboard.press("Enter")
    expect(family["Alex"].locator("#room-label")).to_have_text("Main room")
    expect(room.locator("#bo-title")).to_be_focused()
    for page in [*family.values(), late]:
        page.context.close()
    room.context.close()
    dr.context.close()


def test_prejoin_page_is_accessible(browser: Browser, server: Server) -> None:
    dr = therapist(browser, server)
    dr.fill("#ns-title", "Axe")
    dr.click("#new-session button[type=submit]")
    link = add_person(dr, "Alex", "client")
    page = new_page(browser)
    page.goto(link)
    expect(page.locator("#screen-prejoin")).to_be_visible()
    wait_js(page, "document.getElementById('pj-video').videoWidth > 0")
    assert_accessible(page, "pre-join")
    page.context.close()
    dr.context.close()


def test_account_page_sets_display_name_and_two_step_sign_in(browser: Browser,
                                                             server: Server) -> None:
    server.add_therapist("dr.totp")
    page = new_page(browser)
    page.goto(f"{server.url}/console")
    page.fill("#si-username", "dr.totp")
    page.fill("#si-password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#sessions")).to_be_visible()
    expect(page.locator("#si-otp-row")).to_be_hidden()

    page.get_by_role("button", name="Your account").click()
    expect(page.locator("#account-title")).to_be_focused()
    expect(page.locator("#totp-state")).to_contain_text("off")
    page.fill("#acct-name", "Dr. Okafor")
    page.click("#account-name-form button[type=submit]")
    expect(page.locator("#account-name-status")).to_contain_text("Saved")

    page.click("#totp-begin")
    expect(page.locator("#totp-code")).to_be_focused()
    secret = page.locator("#totp-secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret)
    uri = page.locator("#totp-uri").get_attribute("href") or ""
    assert uri.startswith("otpauth://totp/")
    assert f"secret={secret}" in uri
    assert_accessible(page, "the account page")
    page.fill("#totp-code", "000000")
    page.press("#totp-code", "Enter")
    expect(page.locator("#totp-status")).not_to_be_empty()
    expect(page.locator("#totp-code")).to_be_focused()
    expect(page.locator("#totp-state")).to_contain_text("off")
    totp = pyotp.TOTP(secret)
    page.fill("#totp-code", totp.now())
    page.press("#totp-code", "Enter")
    expect(page.locator("#totp-state")).to_contain_text("is on")
    expect(page.locator("#totp-status")).to_contain_text("Two-step sign-in is on")

    # Signing in again asks for a code, in a field that takes the focus.
    page.click("#logout")
    page.fill("#si-username", "dr.totp")
    page.fill("#si-password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-status")).to_contain_text("authenticator")
    expect(page.locator("#si-otp")).to_be_focused()
    page.fill("#si-password", PASSWORD)
    page.fill("#si-otp", totp.at(time.time() + 30))  # the current one was used to confirm
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#sessions")).to_be_visible()

    # People in a session see the display name, never the sign-in name.
    page.fill("#ns-title", "Account check")
    page.click("#new-session button[type=submit]")
    expect(page.locator("#detail-title")).to_have_text("Account check")
    expect(page.locator("#detail")).to_contain_text("Dr. Okafor")
    assert "dr.totp" not in page.locator("#detail table").first.inner_text()
    page.context.close()

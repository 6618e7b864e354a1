"""Chat renders as text (no script, no outbound request); keyboard-only participation."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import Server, new_page, wait_js
from tests.web.test_flow import add_person, prejoin, sign_in


def open_session(browser: Browser, server: Server, names: list[tuple[str, str]]) -> tuple[
        Page, Page, dict[str, str]]:
    dr = new_page(browser)
    dr.on("dialog", lambda d: d.accept())
    sign_in(dr, server)
    dr.fill("#ns-title", "Safety check")
    dr.click("#new-session button[type=submit]")
    links = {name: add_person(dr, name, role) for name, role in names}
    with dr.expect_popup() as popup:
        dr.click("#open-room")
    room = popup.value
    room.set_default_timeout(15000)
    prejoin(room, room.url)
    expect(room.locator("#screen-session")).to_be_visible()
    return dr, room, links


def test_chat_is_text_only_no_script_no_outbound_request(browser: Browser, server: Server) -> None:
    _, room, links = open_session(browser, server, [("<b>Bold</b> Name", "client")])
    guest = new_page(browser)
    requests_seen: list[str] = []
    guest.on("request", lambda r: requests_seen.append(r.url))
    room.on("request", lambda r: requests_seen.append(r.url))
    prejoin(guest, links["<b>Bold</b> Name"])
    room.click("#tab-people")
    room.click("#admit-all")
    expect(guest.locator("#screen-session")).to_be_visible()
    payloads = [
        '<img src=x onerror="window.__pwned=1">',
        '<script>window.__pwned=2</script>',
        '{"__proto__": {"polluted": true}}',
        "https://evil.example/tracker.png",
        '<a href="javascript:window.__pwned=3">click</a>',
    ]
    for text in payloads:
        guest.fill("#chat-input", text)
        guest.press("#chat-input", "Enter")
    room.click("#tab-chat")
    expect(room.locator("#chat-log li")).to_have_count(len(payloads))
    for text in payloads:
        expect(room.locator("#chat-log")).to_contain_text(text)
    for page in (room, guest):
        assert page.evaluate("() => window.__pwned") is None
        assert page.evaluate("() => ({}).polluted") is None
        assert page.locator("#chat-log img, #chat-log script, #chat-log a").count() == 0
    expect(room.locator("#people-list")).to_contain_text("<b>Bold</b> Name")
    assert room.locator("#people-list b").count() == 0
    outside = [u for u in requests_seen
               if not u.startswith((server.url, "data:", "blob:"))]
    assert outside == []


def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching ``selector`` has focus (keyboard only)."""
    for _ in range(limit):
        if page.evaluate(f"() => document.activeElement?.matches({selector!r}) ?? false"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"could not reach {selector} with Tab")


def test_keyboard_only_join_mute_and_chat(browser: Browser, server: Server) -> None:
    _, room, links = open_session(browser, server, [("Kai", "family")])
    kai = new_page(browser)
    kai.goto(links["Kai"])
    expect(kai.locator("#screen-prejoin")).to_be_visible()
    wait_js(kai, "document.getElementById('pj-video').videoWidth > 0")
    tab_to(kai, "#pj-consent")
    kai.keyboard.press("Space")
    tab_to(kai, "#pj-join")
    kai.keyboard.press("Enter")
    expect(kai.locator("#screen-lobby")).to_be_visible()
    room.click("#tab-people")
    room.click("#admit-all")
    expect(kai.locator("#screen-session")).to_be_visible()
    tab_to(kai, "#btn-mic")
    visible_focus = kai.evaluate(
        "() => getComputedStyle(document.activeElement, ':focus-visible').outlineStyle")
    assert visible_focus != "none"
    kai.keyboard.press("Enter")
    expect(kai.locator("#btn-mic")).to_have_text("Unmute")
    tab_to(kai, "#chat-input")
    kai.keyboard.type("typed without a mouse")
    kai.keyboard.press("Enter")
    room.click("#tab-chat")
    expect(room.locator("#chat-log")).to_contain_text("typed without a mouse")
    room.click("#tab-people")
    expect(room.locator("#people-list")).to_contain_text("muted")


def test_idle_console_signs_out(browser: Browser, tmp_path_factory: object) -> None:
    """A console left idle signs itself out (server expiry is tested in tests/server)."""
    import os
    import subprocess

    from testkit.servers import free_port
    from tests.web.conftest import HEARTH, PASSWORD

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    data = tmp_path_factory.mktemp("idle")  # type: ignore[attr-defined]
    env.update(HEARTH_PORT=str(port), HEARTH_TLS="false", HEARTH_DATA_DIR=str(data),
               HEARTH_PUBLIC_URL=f"http://127.0.0.1:{port}", HEARTH_LOGIN_IDLE_MINUTES="0.1")
    subprocess.run([HEARTH, "therapist", "add", "dr.idle"], input=PASSWORD + "\n", env=env,
                   check=True, capture_output=True, text=True, timeout=60)
    proc = subprocess.Popen([HEARTH, "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        page = new_page(browser)
        for _ in range(100):
            try:
                page.goto(f"http://127.0.0.1:{port}/console")
                break
            except Exception:
                page.wait_for_timeout(100)
        page.fill("#si-username", "dr.idle")
        page.fill("#si-password", PASSWORD)
        page.click("#signin-form button[type=submit]")
        expect(page.locator("#sessions")).to_be_visible()
        # No interaction for the idle limit (6 s: room for a slow sign-in) plus one check.
        expect(page.locator("#signin")).to_be_visible(timeout=15000)
        expect(page.locator("#signin-status")).to_contain_text("inactivity")
    finally:
        proc.terminate()
        proc.wait(15)

"""A join the server does not answer in time is tried again: the page gets into the
session instead of staying on "Could not join: the server did not answer" (a server
starved by a full family on a small host answers late, not never)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, WebSocketRoute, expect

from tests.web.conftest import Server, new_page
from tests.web.test_flow import sign_in


@pytest.mark.timeout(120)
def test_a_join_lost_on_the_way_is_tried_again(browser: Browser, server: Server) -> None:
    console = new_page(browser)
    sign_in(console, server)
    console.fill("#ns-title", "Slow answer")
    console.click("#new-session button[type=submit]")
    with console.expect_popup() as popup:
        console.click("#open-room")
    room = popup.value
    room.wait_for_url("**/join?s=*")
    dropped: list[str] = []

    def route(ws: WebSocketRoute) -> None:
        server_side = ws.connect_to_server()

        def upstream(message: str | bytes) -> None:
            if isinstance(message, str) and '["join",' in message and not dropped:
                dropped.append(message)  # as if the answer never came back in time
                return
            server_side.send(message)

        ws.on_message(upstream)

    room.route_web_socket("**/socket.io/**", route)
    room.reload()
    room.check("#pj-camoff")
    room.check("#pj-micoff")
    room.check("#pj-consent")
    room.click("#pj-join")
    # The client waits 10 s for an answer, says so, and tries again.
    expect(room.locator("#screen-session")).to_be_visible(timeout=40000)
    expect(room.locator("#banner")).to_be_hidden(timeout=20000)
    assert len(dropped) == 1
    console.context.close()

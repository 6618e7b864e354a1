"""Invitations and reminders reach a real SMTP server (aiosmtpd) with times and no names."""

from __future__ import annotations

import email
from collections.abc import AsyncIterator, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from server.api_program import MAILER
from server.appkeys import PROGRAM
from testkit.live import Live, start_live
from testkit.servers import RedisServer, free_port
from tests.program.test_series_links import NY, at, evening_series, household


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(
            envelope.original_content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(params=["sqlite", "redis"])
async def mail_live(request: pytest.FixtureRequest, tmp_path: Path,
                    smtp: tuple[Inbox, int]) -> AsyncIterator[Live]:
    url = None
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        url = server.fresh_url()
    live = await start_live(tmp_path, request.param, url,
                            smtp_url=f"smtp://127.0.0.1:{smtp[1]}",
                            smtp_from="sessions@northside.example")
    yield live
    await live.close()


NAMES = ("Maria", "Rivera", "Ben", "Kit", "client", "parent", "child")


def text_of(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    body = part.get_payload(decode=True)
    assert isinstance(body, bytes)
    return str(message["Subject"]) + "\n" + body.decode()


async def test_invitation_and_reminders(mail_live: Live, smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    live = mail_live
    dr = await live.therapist()
    await dr.api("PUT", "/api/clinic", {"name": "Northside IOP", "timezone": NY,
                                        "default_duration_minutes": 90})
    home = await household(dr)
    maria = home["members"][0]
    series = await evening_series(dr, home["id"])
    sid, occ = series["id"], series["occurrences"]
    link = (await dr.api("POST", f"/api/series/{sid}/members/{maria['id']}/link"))["link"]
    at(live, occ[0]["starts_at"] - 3 * 86400)

    await dr.api("POST", f"/api/series/{sid}/members/{maria['id']}/email")
    assert len(inbox.messages) == 1
    rcpt, message = inbox.messages[0]
    assert rcpt == ["maria@example.org"]
    text = text_of(message)
    assert message["From"] == "sessions@northside.example"
    assert "Northside IOP" in text
    assert "Monday 1 March 2027, 19:00 EST (America/New_York)" in text
    assert "Monday 15 March 2027, 19:00 EDT (America/New_York)" in text
    assert link in text
    for name in NAMES:
        assert name not in text, name
    calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    ics = calendar.get_payload(decode=True)
    assert isinstance(ics, bytes)
    assert b"RRULE:FREQ=WEEKLY;COUNT=12;BYDAY=MO,WE,TH" in ics
    for name in NAMES:
        assert name.encode() not in ics, name

    program = live.app[PROGRAM]
    mailer = live.app[MAILER]
    first = occ[0]["starts_at"]
    assert await program.send_due_reminders(mailer, first - 25 * 3600) == 0
    assert await program.send_due_reminders(mailer, first - 24 * 3600 + 30) == 1
    assert await program.send_due_reminders(mailer, first - 24 * 3600 + 90) == 0  # once
    assert await program.send_due_reminders(mailer, first - 3600 + 5) == 1
    day, hour = (text_of(m) for _, m in inbox.messages[1:3])
    assert "tomorrow" in day
    assert "in one hour" in hour
    for body in (day, hour):
        assert "Monday 1 March 2027, 19:00 EST" in body
        assert link in body
        for name in NAMES:
            assert name not in body, name


async def test_without_smtp_the_console_is_told_to_copy(tmp_path: Path) -> None:
    live = await start_live(tmp_path, "sqlite", None)
    try:
        dr = await live.therapist()
        home = await household(dr)
        series = await evening_series(dr, home["id"])
        mid = home["members"][0]["id"]
        await dr.api("POST", f"/api/series/{series['id']}/members/{mid}/link")
        async with dr.http.post(
                f"{live.url}/api/series/{series['id']}/members/{mid}/email") as r:
            assert r.status == 409
            assert (await r.json())["error"]["code"] == "no_smtp"
    finally:
        await live.close()

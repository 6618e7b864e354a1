"""``media_quality``: a person's own connection level reaches exactly the people who
receive their media (never someone in another breakout room), only when it changes;
bad input gets a coded error ack. Real socket.io clients against a live app."""

from __future__ import annotations

import asyncio

import pytest

from rooms.model import Participant, ParticipantStatus, Role, Session, SessionPhase
from signaling.quality import FRESH, QualityBoard
from testkit.live import Live, admitted
from tests.signaling.test_media_race import record


async def test_levels_reach_only_the_people_who_see_the_sender(live: Live) -> None:
    room = await admitted(live, ("Maria", "client"), ("Ben", "partner"), ("Cam", "family"))
    t, maria, ben, cam = room.therapist, *(room.people[n] for n in ("Maria", "Ben", "Cam"))
    everyone = (t, maria, ben, cam)
    for c in everyone:
        record(c, "media_quality")
    mid, bid, cid = room.ids["Maria"], room.ids["Ben"], room.ids["Cam"]

    assert await maria.ok("media_quality", {"level": "poor"}) == {"levels": {}}
    for c in (t, ben, cam):
        await c.wait(lambda x: x.received["media_quality"], "Maria's level arrives")
        assert c.received["media_quality"] == [{"levels": {mid: "poor"}}]
    assert maria.received["media_quality"] == []  # not told about herself
    # The ack carries the levels of the people the sender sees.
    assert (await ben.ok("media_quality", {"level": "good"}))["levels"] == {mid: "poor"}
    await t.wait(lambda x: len(x.received["media_quality"]) == 2, "Ben's level")
    assert t.received["media_quality"][-1] == {"levels": {mid: "poor", bid: "good"}}

    # Repeating a level tells nobody again.
    counts = [len(c.received["media_quality"]) for c in everyone]
    await maria.ok("media_quality", {"level": "poor"})
    await asyncio.sleep(0.3)
    assert [len(c.received["media_quality"]) for c in everyone] == counts

    # Breakouts: Maria and Ben apart; Cam stays in the main room with the therapist.
    await t.ok("breakouts_create", {"names": ["One"]})
    rid = t.state["breakouts"]["rooms"][0]["id"]
    for pid in (mid, bid):
        await t.ok("breakouts_assign", {"participant_id": pid, "room_id": rid})
    await t.ok("breakouts_open", {})
    await cam.wait(lambda x: x.state["breakouts"]["phase"] == "open", "rooms open")
    for c in everyone:
        c.received["media_quality"].clear()
    await maria.ok("media_quality", {"level": "fair"})
    await ben.wait(lambda x: x.received["media_quality"], "Ben hears of Maria")
    assert ben.received["media_quality"] == [{"levels": {mid: "fair"}}]
    await asyncio.sleep(0.3)
    assert t.received["media_quality"] == cam.received["media_quality"] == []
    # Asking does not tell either: each ack carries only the people in one's own room.
    assert (await cam.ok("media_quality", {"level": "good"}))["levels"] == {}
    assert (await t.ok("media_quality", {"level": "good"}))["levels"] == {cid: "good"}
    assert (await ben.ok("media_quality", {"level": "poor"}))["levels"] == {mid: "fair"}
    await asyncio.sleep(0.3)
    assert all(bid not in m["levels"] and mid not in m["levels"]
               for c in (t, cam) for m in c.received["media_quality"])


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
async def test_bad_input_gets_a_coded_error(live: Live) -> None:
    room = await admitted(live, ("Maria", "client"))
    maria = room.people["Maria"]
    assert await maria.error("media_quality", {"level": "excellent"}) == "invalid"
    assert await maria.error("media_quality", {}) == "invalid"
    assert await maria.error("media_quality", {"level": "good", "loss": 0.5}) == "invalid"
    assert await maria.error("media_quality", {"level": "x" * 20000}) == "too_large"
    # Someone still in the lobby has no media and nobody to tell.
    _, token = await room.dr.add(room.sid, "Late", "family")
    late = await live.client(token)
    await late.ok("join", {"consent_version": "v"})
    assert await late.error("media_quality", {"level": "poor"}) == "invalid_state"


def _session(*people: tuple[str, Role]) -> Session:
    return Session(id="s1", owner="t", title="Family", phase=SessionPhase.LIVE, participants={
        pid: Participant(id=pid, role=role, display_name=pid,
                         status=ParticipantStatus.CONNECTED) for pid, role in people})


def test_levels_are_forgotten_when_not_repeated() -> None:
    now = [0.0]
    board = QualityBoard(clock=lambda: now[0])
    session = _session(("t", Role.THERAPIST), ("m", Role.CLIENT), ("o", Role.OBSERVER))
    assert board.report(session, "m", "poor") == ["o", "t"]
    assert board.report(session, "m", "poor") == []
    assert board.seen_by(session, "t") == {"m": "poor"}
    assert board.report(session, "o", "poor") == []  # nobody receives an observer
    now[0] = FRESH + 1
    assert board.seen_by(session, "t") == {}
    board.report(session, "t", "good")  # sweeps the stale entries
    assert board.seen_by(session, "m") == {"t": "good"}
    now[0] = 3 * FRESH
    board.report(_session(("x", Role.CLIENT)), "x", "good")
    assert board.sessions() == 1  # the first session's levels are all gone

"""SECURITY.md rows for links, escalation, leakage, origin, floods and logs."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time

import aiohttp
import jwt
import pytest

from rooms.model import from_json
from server.appkeys import LINKS, STORE
from server.logs import setup_logging
from testkit.live import Live, admitted


async def admitted_family(live: Live) -> tuple:  # type: ignore[type-arg]
    room = await admitted(live, ("Alex Canary", "client"), ("Blair Canary", "partner"),
                          ("Kit Canary", "child", "Blair Canary"))
    names = ("Alex Canary", "Blair Canary", "Kit Canary")
    return (room.dr, room.sid, room.therapist, [room.people[n] for n in names],
            tuple(room.ids[n] for n in names), tuple(room.tokens[n] for n in names))


async def audit_entries(live: Live) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(x) for x in await live.app[STORE].range("audit:log")]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_forged_tokens_refused_at_socket_with_audit(live: Live) -> None:
    dr = await live.therapist()
    sid = await dr.session()
    _, good = await dr.add(sid, "Alex", "client")
    claims = jwt.decode(good, options={"verify_signature": False})
    header = jwt.get_unverified_header(good)
    other_sid = await dr.session("Other family")
    _, other = await dr.add(other_sid, "Other", "client")
    forged = {
        "alg_none": ".".join([b64(json.dumps({**header, "alg": "none"}).encode()),
                              b64(json.dumps({**claims, "role": "therapist"}).encode()), ""]),
        "wrong_key": jwt.encode(claims, b"x" * 40, "HS256", headers={"kid": header["kid"]}),
        "bit_flip": good[:-3] + ("A" if good[-3] != "A" else "B") + good[-2:],
        "garbage": "garbage",
        "expired": jwt.encode({**claims, "exp": int(time.time()) - 120},
                              live.app[LINKS]._keys[header["kid"]], "HS256",
                              headers={"kid": header["kid"]}),
    }
    before = len(await audit_entries(live))
    for name, token in forged.items():
        c = await live.client(token, connect=False)
        code = await c.refused()
        assert code in ("invalid_token", "expired"), (name, code)
    assert len(await audit_entries(live)) >= before + len(forged)
    assert all("eyJ" not in json.dumps(e) for e in await audit_entries(live))
    # A valid token for another session only ever reaches that other session.
    c = await live.client(other)
    await c.ok("join", {"consent_version": "v"})
    assert c.state["session"]["id"] == other_sid != sid
    await dr.close()


async def test_relatives_cannot_escalate_and_state_is_unchanged(live: Live) -> None:
    dr, sid, _t, (_a, b, k), (a_id, b_id, _k_id), _ = await admitted_family(live)
    before = await live.app[STORE].get(f"room:{sid}")
    attempts = [
        ("admit", {"participant_id": a_id}), ("admit_all", {}),
        ("remove", {"participant_id": a_id}),
        ("send_to_lobby", {"participant_id": b_id}), ("mute_request", {"participant_id": a_id}),
        ("lock", {"locked": True}), ("end_session", {}),
        ("breakouts_create", {"names": ["x"]}), ("breakouts_open", {}),
        ("breakouts_move", {"participant_id": a_id, "room_id": "b1"}),
        ("breakouts_visit", {"room_id": "b1"}), ("breakouts_broadcast", {"text": "x"}),
        ("breakouts_close", {}),
    ]
    for person in (k, b):
        for event, payload in attempts:
            assert await person.error(event, payload) == "forbidden", event
    after = await live.app[STORE].get(f"room:{sid}")
    assert after == before
    await dr.close()


async def test_cannot_join_an_unassigned_breakout_or_forge_identity(live: Live) -> None:
    dr, sid, t, (a, b, _k), (a_id, b_id, _k_id), _ = await admitted_family(live)
    await t.ok("breakouts_by_role", {"plan": "each_client_with_clinician"})
    await t.ok("breakouts_open", {})
    await a.wait(lambda c: c.state["me"]["room"], "a in room")
    b_room = (await b.wait(lambda c: c.state["me"]["room"], "b in room"))
    # A asks to go to B's room: only clinicians may visit or move people.
    assert await a.error("breakouts_visit", {"room_id": b_room}) == "forbidden"
    assert await a.error("breakouts_move", {"participant_id": a_id, "room_id": b_room}) \
        == "forbidden"
    # Forged fields are refused, never taken as identity.
    assert await a.error("chat_send", {"scope": "room", "text": "x", "sender_id": b_id}) \
        == "invalid"
    assert await a.error("chat_send", {"scope": "room", "text": "x", "to": b_id}) \
        == "invalid_state"
    assert await a.error("chat_send", {"scope": "clinicians", "text": "x", "to": b_id}) \
        == "forbidden"
    session = from_json((await live.app[STORE].get(f"room:{sid}")).value)  # type: ignore[union-attr]
    assert session.room_of(a_id) != b_room
    await dr.close()


async def test_two_sessions_never_leak(live: Live) -> None:
    dr = await live.therapist()
    s1, s2 = await dr.session("one"), await dr.session("two")
    toks = {}
    for sid in (s1, s2):
        t = await live.client(await dr.join_token(sid))
        await t.ok("join", {"consent_version": "v"})
        await t.ok("chat_send", {"scope": "room", "text": f"canary-{sid}"})
        toks[sid] = t
    await asyncio.sleep(0.3)
    for sid, t in toks.items():
        texts = [m["text"] for m in t.received["chat"]]
        other = s2 if sid == s1 else s1
        assert f"canary-{sid}" in texts
        assert f"canary-{other}" not in texts
        assert all(s["session"]["id"] == sid for s in t.received["state"])
    await dr.close()


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_cross_site_origin_refused(live: Live, transport: str) -> None:
    evil = {"Origin": "https://evil.example"}
    async with aiohttp.ClientSession() as http:
        if transport == "polling":
            async with http.get(f"{live.url}/socket.io/?EIO=4&transport=polling",
                                headers=evil) as r:
                assert r.status >= 400
            base = f"{live.url}/socket.io/?EIO=4&transport=polling"
            async with http.get(base, headers={"Origin": live.url}) as r:
                assert r.status == 200
                sid = json.loads((await r.text())[1:])["sid"]
            async with http.post(f"{base}&sid={sid}", data=b"1",
                                 headers={"Origin": live.url}) as r:  # close the session
                assert r.status == 200
        else:
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await http.ws_connect(f"{live.url}/socket.io/?EIO=4&transport=websocket",
                                      headers=evil)


async def test_bad_events_get_error_acks(live: Live) -> None:
    dr = await live.therapist()
    sid = await dr.session()
    t = await live.client(await dr.join_token(sid))
    await t.ok("join", {"consent_version": "v"})
    assert await t.error("no_such_event", {}) == "unknown_event"
    assert await t.error("chat_send", {"scope": "room", "text": "x" * 9000}) == "too_large"
    assert await t.error("chat_send", {"scope": "room", "text": "x" * 2001}) == "invalid"
    assert await t.error("admit", {"participant_id": "../etc"}) == "invalid"
    assert await t.error("admit", "not an object") == "invalid"
    assert await t.error("admit", {"participant_id": "ghost"}) == "not_found"
    assert await t.error("breakouts_close", {}) == "invalid_state"
    assert (await t.ok("hand", {"raised": True}))["version"] > 0
    await dr.close()


async def test_flood_is_throttled_then_disconnected_others_unaffected(live: Live) -> None:
    dr = await live.therapist()
    s1, s2 = await dr.session("flood"), await dr.session("calm")
    flooder = await live.client(await dr.join_token(s1))
    calm = await live.client(await dr.join_token(s2))
    await calm.ok("join", {"consent_version": "v"})
    acks: list[str] = []

    async def record(res: object) -> None:
        acks.append(json.dumps(res))

    deadline = time.monotonic() + 5
    sent = 0
    while sent < 5000 and time.monotonic() < deadline and flooder.sio.connected:
        await flooder.sio.emit("hand", {"raised": True}, callback=record)
        sent += 1
        if sent % 50 == 0:
            await asyncio.sleep(0.01)  # ~5,000 events/s, bounded in count and time
    await flooder.wait(lambda c: c.disconnected.is_set(), "flooder disconnected", limit=10)
    assert any("rate_limited" in a for a in acks)
    assert (await calm.ok("hand", {"raised": True}))["version"] > 0
    await dr.close()


async def test_debug_logs_carry_no_names_chat_or_tokens(live: Live) -> None:
    stream = io.StringIO()
    setup_logging("DEBUG", stream)
    try:
        dr, _sid, t, (a, _b, _k), _ids, toks = await admitted_family(live)
        await a.ok("chat_send", {"scope": "room", "text": "canary secret words"})
        await t.ok("breakouts_by_role", {"plan": "each_client_with_clinician"})
        await t.ok("breakouts_open", {})
        await t.ok("end_session")
        await asyncio.sleep(0.5)
        bad = await live.client("garbage-token", connect=False)
        await bad.refused()
    finally:
        import logging

        logging.getLogger().handlers.clear()
    text = stream.getvalue()
    assert "connected" in text  # the run did log
    for leaked in ("Alex Canary", "Blair Canary", "Kit Canary", "canary secret", "eyJ",
                   "ice-pwd", *toks):
        assert leaked not in text, leaked
    await dr.close()

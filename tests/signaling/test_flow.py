"""The whole session over real socket.io clients, on both stores."""

from __future__ import annotations

from testkit.live import Live, admitted


def status_is(value: str):  # type: ignore[no-untyped-def]
    return lambda c: c.received["state"] and c.state["me"]["status"] == value


async def test_whole_session_flow(live: Live) -> None:
    dr = await live.therapist()
    sid = await dr.session()
    a_id, a_tok = await dr.add(sid, "Alex Canary", "client")
    b_id, b_tok = await dr.add(sid, "Blair Canary", "partner")
    k_id, k_tok = await dr.add(sid, "Kit Canary", "child", guardians=[b_id])
    co_id, co_tok = await dr.add(sid, "Dr Co", "co_therapist")
    t = await live.client(await dr.join_token(sid))
    assert (await t.ok("join", {"consent_version": "2026-11"}))["status"] == "connected"

    a, b, k = [await live.client(tok) for tok in (a_tok, b_tok, k_tok)]
    for person in (a, b, k):
        assert (await person.ok("join", {"consent_version": "2026-11"}))["status"] == "waiting"
        assert person.state["participants"] == [] or all(
            p["id"] == person.state["me"]["id"] for p in person.state["participants"])
    await t.wait(lambda c: len(c.notices("knock")) == 3, "three knocks")
    await t.wait(lambda c: len(c.state["lobby"]) == 3, "lobby of three")
    co = await live.client(co_tok)
    assert (await co.ok("join", {"consent_version": "2026-11"}))["status"] == "connected"

    await t.ok("lobby_message", {"participant_id": a_id, "text": "Just a minute"})
    await a.wait(lambda c: c.notices("lobby_message"), "lobby message")
    assert a.notices("lobby_message")[0]["text"] == "Just a minute"
    assert not b.notices("lobby_message")

    await t.ok("admit_all")
    for person in (a, b, k):
        await person.wait(status_is("admitted"), "admitted")
        assert (await person.ok("join", {"consent_version": "2026-11"}))["status"] == "connected"
    await t.wait(lambda c: len([p for p in c.state["participants"]
                                if p["status"] == "connected"]) == 5, "everyone connected")

    # Chat: room-wide reaches the room; the child writes only to the clinicians.
    await a.ok("chat_send", {"scope": "room", "text": "hello everyone"})
    for reader in (t, b, co):
        await reader.wait(lambda c: any(m["text"] == "hello everyone"
                                        for m in c.received["chat"]), "room chat")
    assert await k.error("chat_send", {"scope": "room", "text": "hi"}) == "child_safe"
    await k.ok("chat_send", {"scope": "clinicians", "text": "I feel sad"})
    await t.wait(lambda c: any(m["text"] == "I feel sad" for m in c.received["chat"]),
                 "child's private message")
    assert not any(m["text"] == "I feel sad" for m in a.received["chat"] + b.received["chat"])

    # Breakouts by role: each partner alone with a clinician, the child with its guardian.
    await t.ok("breakouts_by_role", {"plan": "each_client_with_clinician"})
    await t.ok("breakouts_open", {"minutes": 15})
    await a.wait(lambda c: c.state["me"]["room"] is not None, "a in a breakout")
    await b.wait(lambda c: c.state["me"]["room"] is not None, "b in a breakout")
    seen_by_a = {p["id"] for p in a.state["participants"]} - {a_id}
    seen_by_b = {p["id"] for p in b.state["participants"]} - {b_id}
    assert seen_by_a == {t.state["me"]["id"]}
    assert seen_by_b == {co_id, k_id}
    await a.ok("chat_send", {"scope": "room", "text": "only for my room"})
    await t.wait(lambda c: any(m["text"] == "only for my room" for m in c.received["chat"]),
                 "breakout chat")
    assert not any(m["text"] == "only for my room" for m in b.received["chat"])

    # Help, broadcast, visit, extend.
    await a.ok("breakouts_help")
    await t.wait(lambda c: c.notices("help_requested"), "help request")
    await co.wait(lambda c: c.notices("help_requested"), "help request (co)")
    assert not b.notices("help_requested")
    await t.ok("breakouts_broadcast", {"text": "Five minutes left"})
    for person in (a, b, k):
        await person.wait(lambda c: c.notices("broadcast"), "broadcast")
    b_room = b.state["me"]["room"]
    await t.ok("breakouts_visit", {"room_id": b_room})
    await b.wait(lambda c: t.state["me"]["id"] in {p["id"] for p in c.state["participants"]},
                 "therapist visiting b")
    await t.ok("breakouts_extend", {"minutes": 5})

    # Close with a short grace: everyone back together, on the same sockets.
    await t.ok("breakouts_close", {"grace_seconds": 0.3})
    for person in (a, b, k):
        await person.wait(lambda c: c.notices("close_all_started"), "countdown")
    await a.wait(lambda c: c.state["breakouts"]["phase"] == "closed", "closed", limit=10)
    await a.wait(lambda c: len(c.state["participants"]) == 5, "everyone visible again")

    # End: every socket is closed and every link refused.
    await t.ok("end_session")
    for person in (a, b, k, co, t):
        await person.wait(lambda c: c.disconnected.is_set(), "socket closed")
    assert a.notices("session_ended")
    again = await live.client(a_tok, connect=False)
    assert await again.refused() == "session_ended"
    await dr.close()


async def test_reconnect_keeps_identity_role_and_room(live: Live) -> None:
    room = await admitted(live, ("Alex", "client"))
    dr, t, a = room.dr, room.therapist, room.people["Alex"]
    a_id, a_tok = room.ids["Alex"], room.tokens["Alex"]
    await a.sio.disconnect()
    await t.wait(lambda c: any(p["id"] == a_id and p["status"] == "reconnecting"
                               for p in c.state["participants"]), "a reconnecting")
    a2 = await live.client(a_tok)
    res = await a2.ok("join", {"consent_version": "v"})
    assert res["status"] == "connected"  # no second trip through the lobby
    assert a2.state["me"]["id"] == a_id
    assert a2.state["me"]["role"] == "client"
    # A second tab with the same link takes over; the first is told why.
    a3 = await live.client(a_tok)
    await a2.wait(lambda c: c.notices("superseded"), "superseded notice")
    await a2.wait(lambda c: c.disconnected.is_set(), "old tab closed")
    assert (await a3.ok("join", {"consent_version": "v"}))["status"] == "connected"
    await dr.close()


async def test_late_joiner_gets_chat_history(live: Live) -> None:
    dr = await live.therapist()
    sid = await dr.session()
    a_id, a_tok = await dr.add(sid, "Alex", "client")
    t = await live.client(await dr.join_token(sid))
    await t.ok("join", {"consent_version": "v"})
    await t.ok("chat_send", {"scope": "room", "text": "welcome, before you came"})
    a = await live.client(a_tok)
    await a.ok("join", {"consent_version": "v"})
    await t.ok("admit", {"participant_id": a_id})
    await a.wait(status_is("admitted"), "admitted")
    await a.ok("join", {"consent_version": "v"})
    await a.wait(lambda c: any(m["text"] == "welcome, before you came"
                               for h in c.received["chat_history"] for m in h["messages"]),
                 "history")
    (history,) = [h for h in a.received["chat_history"] if h["scope"] == "main"][-1:]
    assert [m["text"] for m in history["messages"]] == ["welcome, before you came"]
    assert history["messages"][0]["sender_role"] == "therapist"
    await dr.close()


async def test_removed_participant_cannot_come_back(live: Live) -> None:
    dr = await live.therapist()
    sid = await dr.session()
    a_id, a_tok = await dr.add(sid, "Ex Partner", "partner")
    t = await live.client(await dr.join_token(sid))
    await t.ok("join", {"consent_version": "v"})
    a = await live.client(a_tok)
    await a.ok("join", {"consent_version": "v"})
    await t.ok("remove", {"participant_id": a_id})
    await a.wait(lambda c: c.disconnected.is_set(), "removed socket closed")
    assert a.notices("removed")
    late = await live.client(a_tok, connect=False)
    assert await late.refused() == "revoked"
    await dr.close()



async def test_events_are_counted_in_metrics(live: Live) -> None:
    dr = await live.therapist()
    sid = await dr.session()
    t = await live.client(await dr.join_token(sid))
    await t.ok("join", {"consent_version": "v"})
    await t.call("no_such_event_with_a_secret_name", {})
    async with live.http.get(f"{live.url}/metrics") as r:
        body = await r.text()
    assert 'hearth_signaling_events_total{event="join",outcome="ok"} 1.0' in body
    assert 'event="unknown",outcome="unknown_event"' in body
    assert "secret_name" not in body
    await dr.close()


async def test_ask_to_unmute_reaches_only_the_person(live: Live) -> None:
    room = await admitted(live, ("Alex", "client"), ("Blair", "partner"))
    dr, t, a, b = room.dr, room.therapist, room.people["Alex"], room.people["Blair"]
    a_id = room.ids["Alex"]
    await t.ok("unmute_request", {"participant_id": a_id})
    await a.wait(lambda c: c.notices("unmute_requested"), "unmute request")
    assert not b.notices("unmute_requested")
    assert await b.error("unmute_request", {"participant_id": a_id}) == "forbidden"
    await dr.close()

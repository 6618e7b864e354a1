"""Moderation changes reach the audit log through RoomService's audit sink, with the
verified actor, the subject and the session; a therapist reads only their own."""

from __future__ import annotations

from testkit.live import Live, admitted


async def test_moderation_is_audited_with_actor_and_subject(live: Live) -> None:
    room = await admitted(live, ("Alex", "client"), ("Sam", "partner"))
    t, alex, sam = room.therapist, room.ids["Alex"], room.ids["Sam"]
    await t.ok("lock", {"locked": True})
    await t.ok("breakouts_create", {"names": ["One", "Two"]})
    await t.ok("breakouts_assign", {"participant_id": alex, "room_id": "b1"})
    await t.ok("breakouts_assign", {"participant_id": sam, "room_id": "b2"})
    await t.ok("breakouts_open", {})
    await t.ok("breakouts_move", {"participant_id": sam, "room_id": "b1"})
    await t.ok("breakouts_close", {"grace_seconds": 0})
    await t.ok("send_to_lobby", {"participant_id": sam})
    await t.ok("remove", {"participant_id": alex})
    await t.ok("end_session")
    entries = await room.dr.api("GET", f"/api/sessions/{room.sid}/audit")
    by_action = {e["action"]: e for e in entries}
    for action in ("admit", "breakout_open", "breakout_move", "breakout_close",
                   "send_to_lobby", "remove", "session_end", "link_issued",
                   "settings_change"):
        assert action in by_action, (action, sorted(by_action))
    therapist_id = t.state["me"]["id"]
    assert by_action["remove"]["actor"] == therapist_id
    assert by_action["remove"]["subject"] == alex
    assert by_action["breakout_move"]["subject"] == sam
    assert by_action["settings_change"]["code"] == "locked"
    assert all(e["session"] == room.sid for e in entries)
    stranger = await live.therapist()
    async with stranger.http.get(f"{live.url}/api/sessions/{room.sid}/audit") as r:
        assert r.status == 404
    await stranger.close()

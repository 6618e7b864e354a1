"""Host controls over socket.io: handing the host role to a co-therapist, and the
session-wide switch for whether relatives may share a screen."""

from __future__ import annotations

from testkit.live import Live, admitted


async def test_the_therapist_hands_the_host_role_to_the_co_therapist(live: Live) -> None:
    room = await admitted(live, ("Dr Co", "co_therapist"), ("Alex", "client"))
    t, co, alex = room.therapist, room.people["Dr Co"], room.people["Alex"]
    co_id, alex_id = room.ids["Dr Co"], room.ids["Alex"]
    # Only the host hands it on, and only to a co-therapist.
    assert await co.error("hand_over_host", {"participant_id": co_id}) == "forbidden"
    assert await t.error("hand_over_host", {"participant_id": alex_id}) == "forbidden"
    assert await t.error("hand_over_host", {"participant_id": "nobody"}) in (
        "not_found", "forbidden")
    await t.ok("hand_over_host", {"participant_id": co_id})
    await co.wait(lambda c: c.state["me"]["role"] == "therapist", "the co-therapist hosts")
    await t.wait(lambda c: c.state["me"]["role"] == "co_therapist", "the former host")
    roles = {p["name"]: p["role"] for p in alex.state["participants"]}
    assert roles["Dr Co"] == "therapist"
    # Ending is the new host's now.
    assert await t.error("end_session") == "forbidden"
    entries = await room.dr.api("GET", f"/api/sessions/{room.sid}/audit")
    assert "host_handed_over" in [e["action"] for e in entries]
    await co.ok("end_session")
    await alex.wait(lambda c: c.disconnected.is_set(), "the session ended for Alex")


async def test_relatives_may_share_a_screen_only_when_the_host_allows(live: Live) -> None:
    room = await admitted(live, ("Alex", "client"))
    t, alex = room.therapist, room.people["Alex"]
    assert t.state["session"]["screen_share_relatives"] is True
    assert alex.state["me"]["may_share_screen"] is True
    assert await alex.error("screen_share_policy", {"relatives": False}) == "forbidden"
    await t.ok("screen_share_policy", {"relatives": False})
    await alex.wait(lambda c: c.state["me"]["may_share_screen"] is False, "no sharing")
    assert await alex.error("media_publish", {"sdp": "v=0", "sources": {"9": "screen"}}) \
        == "forbidden"
    await t.ok("screen_share_policy", {"relatives": True})
    await alex.wait(lambda c: c.state["me"]["may_share_screen"] is True, "sharing again")
    assert await t.error("screen_share_policy", {"relatives": "maybe"}) == "invalid"

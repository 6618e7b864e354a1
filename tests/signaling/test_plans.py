"""Session plans and private rooms over the real server and socket.io clients."""

from __future__ import annotations

from typing import Any

import pytest

from testkit.live import Client, Live, admitted

pytestmark = pytest.mark.timeout(120)


def people_seen(c: Client) -> set[str]:
    return {p["name"] for p in c.state["participants"]}


async def couple(live: Live) -> Any:
    room = await admitted(live, ("Alex", "partner"), ("Blair", "partner"),
                          ("Dr Co", "co_therapist"))
    await room.dr.api("PUT", f"/api/sessions/{room.sid}/plan", {"plan_id": "default-couples"})
    return room


async def test_next_phase_moves_each_partner_to_a_different_clinician_and_back(
        live: Live) -> None:
    room = await couple(live)
    dr, co = room.therapist, room.people["Dr Co"]
    alex, blair = room.people["Alex"], room.people["Blair"]
    plan = dr.state["plan"]
    assert [p["name"] for p in plan["phases"]] == ["Joint", "Partners apart", "Joint"]
    assert alex.state["plan"] is None  # clients never see the plan
    assert await alex.error("plan_next") == "forbidden"

    await dr.ok("plan_next")
    await dr.wait(lambda t: t.state["plan"]["index"] == 0, "phase 1")
    assert dr.state["plan"]["started_at"] is not None

    await dr.ok("plan_next")
    await alex.wait(lambda c: people_seen(c) == {"Alex", dr.state["me"]["name"]},
                    "Alex alone with the therapist")
    await blair.wait(lambda c: people_seen(c) == {"Blair", "Dr Co"},
                     "Blair alone with the co-therapist")
    assert co.state["me"]["room"] != dr.state["me"]["room"]
    assert dr.state["plan"]["index"] == 1

    await dr.ok("plan_next", {"grace_seconds": 1})
    closing = await alex.wait(lambda c: c.notices("close_all_started"), "countdown")
    assert closing[-1]["seconds"] == 1  # the grace countdown applies
    await alex.wait(lambda c: people_seen(c) == {"Alex", "Blair", "Dr Co",
                                                 dr.state["me"]["name"]},
                    "everyone back together")
    assert await dr.error("plan_next") == "plan_last_phase"
    await dr.ok("plan_end")  # stop following the plan: nobody moves
    await dr.wait(lambda t: t.state["plan"]["status"] == "finished", "plan finished")
    assert await alex.error("plan_end") == "forbidden"

    status, report = await attendance(room)
    assert status == 200
    minutes = {p["name"]: p["by_phase_minutes"] for p in report["ok"]["people"]}
    assert set(minutes["Alex"]) == {"1. Joint", "2. Partners apart", "3. Joint"}


async def attendance(room: Any) -> tuple[int, Any]:
    async with room.dr.http.get(
            f"{room.dr.live.url}/api/records/sessions/{room.sid}/attendance") as r:
        return r.status, await r.json()


async def test_a_phase_leaving_a_client_without_a_clinician_is_refused(live: Live) -> None:
    room = await admitted(live, ("Alex", "partner"), ("Blair", "partner"))
    await room.dr.api("PUT", f"/api/sessions/{room.sid}/plan",
                      {"plan_id": "default-couples"})
    dr = room.therapist
    await dr.ok("plan_next")
    res = await dr.call("plan_next")
    assert res["error"]["code"] == "no_clinician"
    assert "a clinician must be in every room" in res["error"]["message"]
    assert dr.state["plan"]["index"] == 0
    assert dr.state["breakouts"]["phase"] == "none"


async def test_a_private_room_isolates_chat_and_media(live: Live) -> None:
    room = await couple(live)
    dr = room.therapist
    alex, blair, co = room.people["Alex"], room.people["Blair"], room.people["Dr Co"]
    alex_id = room.ids["Alex"]
    await dr.ok("private_room", {"participant_id": alex_id})
    await alex.wait(lambda c: people_seen(c) == {"Alex", dr.state["me"]["name"]},
                    "Alex in the private room")
    await blair.wait(lambda c: people_seen(c) == {"Blair", "Dr Co"}, "the others apart")
    assert blair.state["private_rooms"] == []  # not announced: nothing said to the others
    assert [r["guest"] for r in dr.state["private_rooms"]] == [alex_id]

    await alex.ok("chat_send", {"scope": "room", "text": "canary-private-room"})
    await blair.ok("chat_send", {"scope": "room", "text": "canary-main-room"})
    await dr.wait(lambda c: any(m["text"] == "canary-private-room" for m in c.received["chat"]),
                  "the therapist reads the private room")
    await co.wait(lambda c: any(m["text"] == "canary-main-room" for m in c.received["chat"]),
                  "the co-therapist reads the main room")
    assert all(m["text"] != "canary-private-room" for m in blair.received["chat"])
    assert all(m["text"] != "canary-private-room" for m in co.received["chat"])
    assert all(m["text"] != "canary-main-room" for m in alex.received["chat"])
    assert all(m["text"] != "canary-main-room" for m in dr.received["chat"])

    from rooms.visibility import visible_publishers
    from server.appkeys import ROOMS

    session = await live.app[ROOMS].get(room.sid)
    assert session is not None
    dr_id = dr.state["me"]["id"]
    assert visible_publishers(session, alex_id) == {dr_id}
    assert visible_publishers(session, room.ids["Blair"]) == {room.ids["Dr Co"]}

    await dr.ok("private_room_end", {"participant_id": alex_id})
    await blair.wait(lambda c: people_seen(c) == {"Alex", "Blair", "Dr Co",
                                                  dr.state["me"]["name"]}, "everyone back")


async def test_an_announced_private_room_tells_the_others_who_stepped_out(live: Live) -> None:
    room = await couple(live)
    dr, blair = room.therapist, room.people["Blair"]
    await dr.ok("private_room", {"participant_id": room.ids["Alex"], "announce": True})
    told = await blair.wait(lambda c: c.state["private_rooms"], "the announcement")
    assert told[0]["guest_name"] == "Alex"
    assert told[0]["clinician_name"] == dr.state["me"]["name"]
    assert told[0]["room"] is None  # the others are told who, never where
    assert await blair.error("private_room", {"participant_id": room.ids["Alex"]}) \
        == "forbidden"


async def test_between_two_split_phases_the_rooms_count_down_before_they_re_form(
        live: Live) -> None:
    room = await admitted(live, ("Alex", "partner"), ("Blair", "partner"),
                          ("Dr Co", "co_therapist"))
    dr, alex = room.therapist, room.people["Alex"]
    plan = await room.dr.api("POST", "/api/plans", {"name": "Apart, then both", "phases": [
        {"name": "Apart", "minutes": 10, "layout": "each_client_with_clinician"},
        {"name": "Both", "minutes": 10, "layout": "custom", "rooms": [
            {"name": "Couple", "roles": ["partner", "therapist"]},
            {"name": "Team", "roles": ["co_therapist"]}]}]})
    await room.dr.api("PUT", f"/api/sessions/{room.sid}/plan", {"plan_id": plan["id"]})
    await dr.ok("plan_next")
    await alex.wait(lambda c: people_seen(c) == {"Alex", dr.state["me"]["name"]}, "apart")

    await dr.ok("plan_next")
    # People are warned and stay in their rooms while the countdown runs.
    closing = await alex.wait(lambda c: c.notices("close_all_started"), "countdown")
    assert closing[-1]["seconds"] > 1
    await dr.wait(lambda t: t.state["plan"]["pending"] == 1, "rooms change after it")
    assert dr.state["plan"]["index"] == 0
    assert people_seen(alex) == {"Alex", dr.state["me"]["name"]}
    # "Next phase" again (or "Change now") does not wait for the end of it.
    await dr.ok("plan_next")
    await alex.wait(lambda c: people_seen(c) == {"Alex", "Blair", dr.state["me"]["name"]},
                    "the couple with the therapist")
    await dr.wait(lambda t: (t.state["plan"]["index"], t.state["plan"]["pending"]) == (1, None),
                  "second phase")

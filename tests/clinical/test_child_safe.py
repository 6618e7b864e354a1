"""Child-safe mode, enforced by the server: on for every child from the start, shown to
the clinicians, switched only by them. A child in the mode is refused a screen share,
a message to anyone but the clinicians, and a move of their own, each with a code."""

from __future__ import annotations

from testkit.live import Live
from tests.clinical.helpers import family

PEOPLE = (("Alex", "client", None), ("Blair", "partner", None), ("Kit", "child", "Blair"))


def person(state: dict[str, object], name: str) -> dict[str, object]:
    return next(p for p in state["participants"] if p["name"] == name)  # type: ignore[attr-defined,index]


async def test_child_safe_mode_is_enforced_and_switched_by_clinicians(live: Live) -> None:
    fam = await family(live, PEOPLE)
    dr, blair, kit = fam.clients["Dr"], fam.clients["Blair"], fam.clients["Kit"]
    me = kit.state["me"]
    assert me["child_safe"] is True
    assert me["may_share_screen"] is False
    assert me["chat_scopes"] == ["clinicians"]
    assert person(dr.state, "Kit")["child_safe"] is True
    assert person(dr.state, "Alex")["child_safe"] is False
    # Refused with a code a person can read, whatever the page shows or hides.
    sent = await kit.call("chat_send", {"scope": "room", "text": "hello everyone"})
    assert sent["error"]["code"] == "child_safe"
    assert "clinicians only" in sent["error"]["message"]
    shared = await kit.call("media_publish", {"sdp": "v=0", "sources": {"0": "screen"}})
    assert shared["error"]["code"] == "child_safe"
    assert await kit.error("breakouts_visit", {"room_id": None}) == "forbidden"
    assert await kit.error("child_safe", {"participant_id": fam.ids["Kit"], "on": False}) \
        == "forbidden"
    assert await blair.error("child_safe", {"participant_id": fam.ids["Kit"], "on": False}) \
        == "forbidden"
    assert await dr.error("child_safe", {"participant_id": fam.ids["Kit"]}) == "invalid"
    await kit.ok("chat_send", {"scope": "clinicians", "text": "can we talk"})
    assert not any(m["text"] == "hello everyone" for m in blair.received["chat"])
    # A clinician switches it off: the same child may now write to the room.
    await dr.ok("child_safe", {"participant_id": fam.ids["Kit"], "on": False})
    await kit.wait(lambda c: c.state["me"]["child_safe"] is False, "mode off")
    assert kit.state["me"]["chat_scopes"] == ["room", "clinicians"]
    await kit.ok("chat_send", {"scope": "room", "text": "hi all"})
    await blair.wait(lambda c: any(m["text"] == "hi all" for m in c.received["chat"]),
                     "Kit's message")
    # And on again, for an adult too.
    await dr.ok("child_safe", {"participant_id": fam.ids["Alex"], "on": True})
    await fam.clients["Alex"].wait(lambda c: c.state["me"]["child_safe"] is True, "mode on")
    sent = await fam.clients["Alex"].call("chat_send", {"scope": "room", "text": "x"})
    assert sent["error"]["code"] == "child_safe"

"""Small gaps: names capped the same way everywhere, readable length errors, and
``bad_candidate`` with a human message for every bogus ICE candidate."""

from __future__ import annotations

import pytest

from testkit.live import Live, admitted

BOGUS = [
    "garbage",
    "candidate:1 1 udp 2122260223 999.1.1.1 5000 typ host",
    "candidate:1 1 udp 2122260223 224.0.0.1 5000 typ host",  # multicast
    "candidate:1 1 udp 2122260223 0.0.0.0 5000 typ host",
    "candidate:1 1 udp 2122260223 10.0.0.1 70000 typ host",
    "candidate:1 1 sctp 2122260223 10.0.0.1 5000 typ host",
    "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ bogus",
    "candidate:" + "a" * 600,
]


async def test_bogus_candidates_get_bad_candidate_with_a_message(live: Live) -> None:
    room = await admitted(live, ("Alex", "client"))
    alex = room.people["Alex"]
    for line in BOGUS:
        res = await alex.call("media_ice", {"leg": "publish", "candidate": {
            "candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}})
        assert res["error"]["code"] == "bad_candidate", line
        message = res["error"]["message"]
        assert message.startswith("the ICE candidate"), message
        assert "Error" not in message
    res = await alex.call("media_ice", {"leg": "publish", "candidate": {
        "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host",
        "sdpMid": "0", "sdpMLineIndex": 999}})
    assert res["error"]["code"] == "bad_candidate"


async def test_breakout_names_are_capped_at_create_as_at_rename(live: Live) -> None:
    room = await admitted(live, ("Alex", "client"))
    res = await room.therapist.call("breakouts_create", {"names": ["x" * 3000]})
    assert res["error"]["code"] == "invalid"
    assert "too long (3000 / 40)" in res["error"]["message"]
    await room.therapist.ok("breakouts_create", {"names": ["ж" * 40]})


@pytest.mark.parametrize("char", ["ж", "🙂", "a"])
async def test_too_long_chat_says_how_long_in_characters(live: Live, char: str) -> None:
    room = await admitted(live, ("Alex", "client"))
    res = await room.people["Alex"].call("chat_send", {"scope": "room", "text": char * 2001})
    assert res["error"]["message"] == "message too long (2001 / 2000)"

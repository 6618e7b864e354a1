"""Abuse control per link and per address, and frames over the cap.

A flooder cut off once is refused at connect for a growing back-off (5 s, 30 s,
5 min), on every process (the record is in the store); a 1 MB event gets the
gate's ``too_large`` error ack instead of a dropped connection.
"""

from __future__ import annotations

import asyncio
import json
import time

from rooms.stores import Store
from signaling.namespace import OVERSIZED, oversized_substitute
from signaling.ratelimit import Penalties
from testkit.live import Client, Live, admitted


async def flood_until_cut(client: Client) -> int:
    """Send ~5,000 events/s (bounded: 5,000 events, 5 s) until the server cuts us off."""
    sent = 0
    deadline = time.monotonic() + 5
    while sent < 5000 and time.monotonic() < deadline and client.sio.connected:
        await client.sio.emit("hand", {"raised": True})
        sent += 1
        if sent % 50 == 0:
            await asyncio.sleep(0.01)
    await client.wait(lambda c: c.disconnected.is_set(), "flooder cut off")
    return sent


async def test_reconnecting_flooder_is_refused_for_a_growing_backoff(live: Live) -> None:
    room = await admitted(live, ("Flo", "client"), ("Calm", "partner"))
    flo = room.people["Flo"]
    await flood_until_cut(flo)
    again = await live.client(room.tokens["Flo"], connect=False)
    assert await again.refused() == "rate_limited"
    data = again.received["connect_error"][-1]
    assert 1 <= data["data"]["retry_after"] <= 5
    # The calm family member on the same address is still connected and served.
    await room.people["Calm"].ok("hand", {"raised": True})


async def test_penalties_grow_and_hold_across_processes(any_store: Store) -> None:
    now = [1000.0]
    first = Penalties(any_store, b"salt", clock=lambda: now[0])
    other_process = Penalties(any_store, b"salt", clock=lambda: now[0])
    link, addr = first.link("jti1"), first.address("203.0.113.9")
    assert "203.0.113.9" not in addr  # addresses are stored as keyed hashes only
    assert await first.refused_for(link, addr) == 0
    assert await first.cut_off(link, addr) == 5
    assert await other_process.refused_for(link) == 5
    now[0] += 6
    assert await other_process.refused_for(link, addr) == 0
    assert await other_process.cut_off(link) == 30
    now[0] += 31
    assert await first.cut_off(link) == 300
    assert await first.cut_off(link) == 300  # capped at 5 minutes
    assert 299 <= await other_process.refused_for(link) <= 300


async def test_one_megabyte_event_gets_too_large_ack(live: Live) -> None:
    room = await admitted(live, ("Alex", "client"))
    alex = room.people["Alex"]
    res = await alex.call("chat_send", {"scope": "room", "text": "x" * 1_000_000})
    assert res["error"]["code"] == "too_large"
    assert alex.sio.connected  # answered, not dropped
    await alex.ok("chat_send", {"scope": "room", "text": "still here"})


async def test_multibyte_text_counts_characters_not_escapes(live: Live) -> None:
    """1,500 Cyrillic characters (limit 2,000) pass the gate; emoji too."""
    room = await admitted(live, ("Alex", "client"))
    alex = room.people["Alex"]
    await alex.ok("chat_send", {"scope": "room", "text": "ж" * 1500})
    await alex.ok("chat_send", {"scope": "room", "text": "🙂" * 1500})
    res = await alex.call("chat_send", {"scope": "room", "text": "ж" * 2001})
    assert res["error"]["code"] == "invalid"


def test_oversized_substitute_keeps_event_and_ack_id() -> None:
    frame = '421' + json.dumps(["chat_send", {"text": "x" * 5000}])
    sub = oversized_substitute(frame, 100)
    assert sub is not None
    assert sub.startswith("421[")
    name, payload = json.loads(sub[3:])
    assert name == "chat_send"
    assert payload == {OVERSIZED: len(frame)}
    assert oversized_substitute("451-" + "x" * 300, 100) is None  # binary: engine.io refuses

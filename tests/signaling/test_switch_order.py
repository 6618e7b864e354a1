"""A breakout switch moves the relay before it sends the new rooms' chat histories: the
people of a room stop seeing and hearing the room they left without waiting for a dozen
history pages to be read and sent, and every history still goes out, in commit order.
Real RoomService and Outbox on the real stores; the relay is a recorder."""

from __future__ import annotations

import asyncio
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rooms import commands as c
from rooms.service import RoomService
from rooms.stores import Store
from signaling.chat import ChatLog
from signaling.outbox import Outbox
from tests.signaling.test_outbox_rounds import crowd

N = 6


async def test_the_relay_moves_before_the_chat_histories_go_out(any_store: Store) -> None:
    log: list[tuple[str, str]] = []  # (what, to whom), in the order it happened

    async def emit(event: str, data: Any, room: str | list[str]) -> None:
        for one in [room] if isinstance(room, str) else room:  # one emit may reach many
            log.append((event, one.rsplit(":", 1)[1]))

    async def kick(session_id: str, pid: str | None) -> None:
        return None

    class Relay:
        def set_visible(self, session_id: str, subscriber_id: str,
                        publisher_ids: frozenset[str]) -> None:
            log.append(("relay", subscriber_id))

    outbox = Outbox(emit, kick, ChatLog(any_store, AESGCM(AESGCM.generate_key(256))))
    rooms = RoomService(any_store, sinks=[outbox], media=Relay())
    await rooms.create(crowd(N))
    await rooms.execute("big", c.CreateBreakouts(actor="t", names=("One", "Two")))
    for i in range(N):
        await rooms.execute("big", c.Assign(actor="t", target=f"p{i}",
                                            room_id="b1" if i % 2 else "b2"))
    log.clear()
    await rooms.execute("big", c.OpenBreakouts(actor="t"))
    moved = [i for i, (what, _) in enumerate(log) if what == "relay"]
    assert len(moved) == N + 1  # everyone's visibility changed, the therapist's too
    assert [what for what, _ in log[:moved[0]]].count("chat_history") == 0, log
    everyone = {"t", *(f"p{i}" for i in range(N))}
    for _ in range(500):  # bounded: the histories follow on the loop, one page at a time
        if {who for what, who in log if what == "chat_history"} >= everyone:
            break
        await asyncio.sleep(0.01)
    histories = [i for i, (what, _) in enumerate(log) if what == "chat_history"]
    assert histories, log
    assert min(histories) > max(moved), log
    assert {who for what, who in log if what == "chat_history"} == everyone
    await rooms.close()

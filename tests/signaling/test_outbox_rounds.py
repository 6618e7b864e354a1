"""Mass disconnects: N disconnects in one event-loop tick are one commit and one state
round to everyone (not N rounds of N snapshots), and state rounds of commits that land
together are shared, with no commit returning before a snapshot carrying its version
went out. Real RoomService on the real embedded and Redis stores."""

from __future__ import annotations

import asyncio
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rooms import commands as c
from rooms.machine import handle, new_session
from rooms.model import Role, Session
from rooms.service import RoomService
from rooms.stores import Store
from signaling.chat import ChatLog
from signaling.leaves import LeaveBatcher
from signaling.outbox import Outbox, session_of_room
from testkit.figures import figure

NOW = 1_000.0
N = 40


def crowd(n: int) -> Session:
    """A therapist and ``n`` family members, all admitted and connected."""
    s = new_session("big", owner_id="t", owner_name="T", title="Group", now=NOW,
                    max_participants=n + 10)
    pids = ["t"] + [f"p{i}" for i in range(n)]
    for pid in pids[1:]:
        s, _ = handle(s, c.AddParticipant(actor="t", participant_id=pid, role=Role.FAMILY,
                                          display_name=pid), now=NOW)
    for pid in pids:
        s, _ = handle(s, c.Knock(actor=pid, consent_version="v"), now=NOW)
    s, _ = handle(s, c.AdmitAll(actor="t"), now=NOW)
    for pid in pids:
        s, _ = handle(s, c.Connect(actor=pid), now=NOW)
    return s


async def make(store: Store) -> tuple[RoomService, Outbox, list[tuple[str, str, int]]]:
    sent: list[tuple[str, str, int]] = []  # (room, event, version)

    async def emit(event: str, data: Any, room: str) -> None:
        assert session_of_room(room) == "big"
        sent.append((room, event, data.get("version", -1) if isinstance(data, dict) else -1))

    async def kick(session_id: str, pid: str | None) -> None:
        return None

    outbox = Outbox(emit, kick, ChatLog(store, AESGCM(AESGCM.generate_key(256))))
    rooms = RoomService(store, sinks=[outbox])
    await rooms.create(crowd(N))
    return rooms, outbox, sent


async def test_disconnects_in_one_tick_are_one_commit_and_one_round(any_store: Store) -> None:
    rooms, outbox, sent = await make(any_store)
    leaves = LeaveBatcher(rooms)
    await asyncio.gather(*(leaves.leave("big", f"p{i}") for i in range(N)),
                         leaves.leave("big", "nobody"))  # refused by the machine: skipped
    session = await rooms.get("big")
    assert session is not None
    assert all(session.participants[f"p{i}"].status.value == "reconnecting" for i in range(N))
    states = [(room, v) for room, e, v in sent if e == "state"]
    figure(f"\n{N} disconnects in one tick: {leaves.commits} commit(s), {outbox.rounds} state "
          f"round(s), {len(states)} snapshots for {N + 1} people")
    assert leaves.commits == 1
    assert outbox.rounds == 1
    assert len(states) == N + 1
    assert {v for _, v in states} == {session.version}
    await rooms.close()


async def test_commits_landing_together_share_state_rounds(any_store: Store) -> None:
    rooms, outbox, sent = await make(any_store)

    async def drop(pid: str) -> tuple[int, int]:
        session, _ = await rooms.execute("big", c.Disconnect(actor=pid))
        # When the commit returns, its own snapshot (or a newer one) is already out.
        seen = max(v for room, e, v in sent if e == "state" and room == "p:big:t")
        return session.version, seen

    results = await asyncio.gather(*(drop(f"p{i}") for i in range(N)))
    assert all(seen >= version for version, seen in results)
    final = max(version for version, _ in results)
    states = [(room, v) for room, e, v in sent if e == "state"]
    figure(f"\n{N} separate commits at once: {outbox.rounds} state rounds, "
          f"{len(states)} snapshots for {N + 1} people")
    # Commits are serialized by the store, so rounds can only be shared by commits
    # that land while one is going out; never more rounds than commits.
    assert outbox.rounds <= N
    # Everyone's newest snapshot is the final state, and versions only grow per person.
    for pid in ["t"] + [f"p{i}" for i in range(N)]:
        mine = [v for room, v in states if room == f"p:big:{pid}"]
        assert mine
        assert mine[-1] == final
        assert mine == sorted(mine)
    await rooms.close()

"""Mass disconnects: N disconnects in one event-loop tick are one commit and one state
round (not N rounds of N snapshots) that reaches only the people who still have a
socket, and state rounds of commits that land together are shared, with no commit
returning before a snapshot carrying its version went out. A message to many people is
one emit. Real RoomService on the real embedded and Redis stores."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rooms import commands as c
from rooms.machine import handle, new_session
from rooms.model import Role, Session
from rooms.service import RoomService
from rooms.stores import Store
from signaling.chat import ChatLog
from signaling.leaves import LeaveBatcher
from signaling.media import MediaHealth
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

    async def emit(event: str, data: Any, room: str | list[str]) -> None:
        sent.append(("emit", event, -1))  # one per call, whatever it is addressed to
        for one in [room] if isinstance(room, str) else room:
            assert session_of_room(one) == "big"
            sent.append((one, event,
                         data.get("version", -1) if isinstance(data, dict) else -1))

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
    states = [(room, v) for room, e, v in sent if e == "state" and room != "emit"]
    figure(f"\n{N} disconnects in one tick: {leaves.commits} commit(s), {outbox.rounds} state "
          f"round(s), {len(states)} snapshot(s) for the 1 person still connected")
    assert leaves.commits == 1
    assert outbox.rounds == 1
    # The crowd has no socket left: only the therapist is sent the new state.
    assert states == [("p:big:t", session.version)]
    await rooms.close()


async def test_a_crowd_trickling_in_over_many_ticks_is_still_one_commit(any_store: Store
                                                                        ) -> None:
    # The server reads each dead socket's end in its own tick: the batch must not be
    # cut at the first tick, or its round goes to everyone not yet marked gone.
    rooms, outbox, sent = await make(any_store)
    leaves = LeaveBatcher(rooms)

    async def trickle() -> None:
        waiting = []
        for i in range(N):
            waiting.append(asyncio.ensure_future(leaves.leave("big", f"p{i}")))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        await asyncio.gather(*waiting)

    await trickle()
    states = [room for room, e, _ in sent if e == "state" and room != "emit"]
    assert leaves.commits == 1
    assert outbox.rounds == 1
    assert states == ["p:big:t"]
    await rooms.close()


async def test_someone_back_before_the_batch_is_written_stays_connected(any_store: Store
                                                                        ) -> None:
    rooms, _, _ = await make(any_store)
    leaves = LeaveBatcher(rooms)
    back = {"p1"}  # p1's page reconnected while the batch was gathering

    def connected(pid: str) -> Callable[[], bool]:
        return lambda: pid in back

    await asyncio.gather(*(leaves.leave("big", pid, connected(pid)) for pid in ("p0", "p1")))
    session = await rooms.get("big")
    assert session is not None
    assert session.participants["p0"].status.value == "reconnecting"
    assert session.participants["p1"].status.value == "connected"
    assert leaves.skipped == 1
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
    states = [(room, v) for room, e, v in sent if e == "state" and room != "emit"]
    figure(f"\n{N} separate commits at once: {outbox.rounds} state rounds, "
          f"{len(states)} snapshots for {N + 1} people")
    # Commits are serialized by the store, so rounds can only be shared by commits
    # that land while one is going out; never more rounds than commits.
    assert outbox.rounds <= N
    # The therapist's newest snapshot is the final state, versions only grow, and
    # nobody is sent a snapshot after their own disconnect committed.
    mine = [v for room, v in states if room == "p:big:t"]
    assert mine[-1] == final
    assert mine == sorted(mine)
    for (version, _), pid in zip(results, [f"p{i}" for i in range(N)], strict=True):
        assert all(v < version for room, v in states if room == f"p:big:{pid}")
    await rooms.close()


async def test_a_message_to_many_people_is_one_emit(any_store: Store) -> None:
    rooms, outbox, sent = await make(any_store)
    session = await rooms.get("big")
    assert session is not None
    everyone = list(session.participants)
    await outbox.to("big", everyone, "chat", {"text": "hello"})
    chats = sorted(room for room, e, _ in sent if e == "chat" and room != "emit")
    assert chats == sorted(f"p:big:{pid}" for pid in everyone)
    emits = [room for room, e, _ in sent if room == "emit" and e == "chat"]
    assert len(emits) == 1  # encoded once for N + 1 people, not N + 1 times
    await outbox.to("big", [], "chat", {"text": "nobody"})
    assert len([room for room, e, _ in sent if room == "emit" and e == "chat"]) == 1
    await rooms.close()


async def test_people_reconnecting_get_no_snapshot_until_they_join(any_store: Store) -> None:
    rooms, _, sent = await make(any_store)
    await rooms.execute("big", c.Disconnect(actor="p0"))
    sent.clear()
    await rooms.execute("big", c.SetMedia(actor="p1", mic_on=True, camera_on=False))
    states = {room for room, e, _ in sent if e == "state" and room != "emit"}
    assert "p:big:p0" not in states
    assert len(states) == N  # the therapist and everyone else still connected
    sent.clear()
    await rooms.execute("big", c.Enter(actor="p0", consent_version="v"))
    assert "p:big:p0" in {room for room, e, _ in sent if e == "state"}
    await rooms.close()


async def test_a_big_round_lets_other_sessions_run_between_snapshots(any_store: Store
                                                                     ) -> None:
    session = crowd(N)
    ticks = 0
    seen: list[int] = []  # the other task's tick count at each snapshot

    async def other_session() -> None:  # stands for another family's chat acks
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def emit(event: str, data: Any, room: str | list[str]) -> None:
        seen.append(ticks)

    async def kick(session_id: str, pid: str | None) -> None:
        return None

    outbox = Outbox(emit, kick, ChatLog(any_store, AESGCM(AESGCM.generate_key(256))))
    other = asyncio.ensure_future(other_session())
    await asyncio.sleep(0)
    await outbox.send_state(session, list(session.participants))
    other.cancel()
    # Snapshots of a 41-person session sent within one tick of the other task: a few
    # hundred people's worth (YIELD_AFTER), not the whole round.
    assert len(seen) == N + 1
    longest = max(seen.count(t) for t in set(seen))
    assert longest * (N + 1) <= 300
    assert outbox.yields >= 1


async def test_a_crowd_lost_at_once_is_one_media_health_recheck() -> None:
    session = crowd(N)
    for i in range(N):
        session, _ = handle(session, c.Disconnect(actor=f"p{i}"), now=NOW)
    sent: list[tuple[str, Any]] = []
    reads = 0

    async def current(session_id: str) -> Session:
        nonlocal reads
        reads += 1  # each recheck reads (and parses) the whole session
        return session

    async def emit(event: str, data: Any, room: str) -> None:
        sent.append((room, data))

    health = MediaHealth(None, current, emit, lost_after=0.1)  # type: ignore[arg-type]
    await health.session_changed(session)
    for _ in range(100):  # bounded: the recheck is due after 0.15 s
        if health.rechecks:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)
    assert health.rechecks == 1
    assert reads == 1
    assert ("p:big:t", {"stalled": sorted(f"p{i}" for i in range(N))}) in sent
    health.close()

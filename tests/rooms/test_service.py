"""RoomService on both stores: persistence, concurrency, events to ports, timers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from rooms import commands as c
from rooms.errors import Conflict, Forbidden, InvalidTransition, NotFound
from rooms.events import Event
from rooms.machine import new_session
from rooms.model import BreakoutPhase, ParticipantStatus, Role, Session
from rooms.service import RoomService
from rooms.stores import Store
from rooms.visibility import visible_publishers


class Recorder:
    """A real port implementation that keeps what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, list[str]]] = []

    async def publish(self, session: Session, events: Sequence[Event]) -> None:
        self.calls.append((session.version, [e.kind for e in events]))


async def seeded(store: Store, sid: str = "s1", **kw: object) -> RoomService:
    svc = RoomService(store, **kw)  # type: ignore[arg-type]
    await svc.create(new_session(sid, owner_id="t", owner_name="Dr", title="x", now=0.0))
    for pid, role in (("a", Role.CLIENT), ("b", Role.PARTNER), ("co", Role.CO_THERAPIST)):
        await svc.execute(sid, c.AddParticipant(actor="t", participant_id=pid, role=role,
                                                display_name=pid))
    return svc


async def test_commands_persist_and_reload(any_store: Store) -> None:
    svc = await seeded(any_store)
    await svc.execute("s1", c.Knock(actor="a", consent_version="v"))
    fresh = RoomService(any_store)  # e.g. another process
    s = await fresh.get("s1")
    assert s is not None
    assert s.participants["a"].status is ParticipantStatus.WAITING
    with pytest.raises(Conflict):
        await fresh.create(new_session("s1", owner_id="t", owner_name="Dr", title="x", now=0))
    await svc.close()


async def test_refused_command_leaves_store_unchanged(any_store: Store) -> None:
    svc = await seeded(any_store)
    before = await any_store.get("room:s1")
    with pytest.raises(Forbidden):
        await svc.execute("s1", c.Admit(actor="a", target="b"))
    with pytest.raises(InvalidTransition):
        await svc.execute("s1", c.Admit(actor="t", target="b"))  # b never knocked
    with pytest.raises(NotFound):
        await svc.execute("nope", c.Knock(actor="a", consent_version="v"))
    assert await any_store.get("room:s1") == before
    await svc.close()


async def test_concurrent_commands_on_two_services_lose_nothing(any_store: Store) -> None:
    one = await seeded(any_store)
    two = RoomService(any_store)  # a second process sharing the store: only CAS protects
    cmds = [c.Knock(actor=p, consent_version="v") for p in ("a", "b", "co")]
    await asyncio.gather(
        one.execute("s1", cmds[0]), two.execute("s1", cmds[1]), one.execute("s1", cmds[2]),
        two.execute("s1", c.SetMedia(actor="t", mic_on=True, camera_on=True)),
    )
    s = await one.get("s1")
    assert s is not None
    assert s.participants["a"].status is ParticipantStatus.WAITING
    assert s.participants["b"].status is ParticipantStatus.WAITING
    assert s.participants["co"].status is ParticipantStatus.ADMITTED
    assert s.participants["t"].mic_on
    assert s.version == 3 + 4  # three adds, four concurrent commands: none lost
    await one.close()
    await two.close()


async def test_events_reach_every_port_with_versions(any_store: Store) -> None:
    outbox, media = Recorder(), Recorder()
    svc = await seeded(any_store, sinks=[outbox, media])
    s, _ = await svc.execute("s1", c.Knock(actor="a", consent_version="v"))
    assert outbox.calls[-1] == (s.version, ["knock", "state_changed"])
    assert media.calls == outbox.calls
    await svc.close()


async def test_timer_closes_breakouts_through_the_service(any_store: Store) -> None:
    clock = [1000.0]
    svc = await seeded(any_store, clock=lambda: clock[0])
    for p in ("t", "a", "b", "co"):
        await svc.execute("s1", c.Knock(actor=p, consent_version="v"))
    await svc.execute("s1", c.AdmitAll(actor="t"))
    await svc.execute("s1", c.AssignByRole(actor="t"))
    await svc.execute("s1", c.OpenBreakouts(actor="t"))
    s, _ = await svc.execute("s1", c.CloseAll(actor="t", grace=0.05))
    assert s.breakouts.phase is BreakoutPhase.CLOSING
    assert visible_publishers(s, "a") == {"t"}
    clock[0] += 0.05  # the grace has passed; the armed timer ticks by itself
    for _ in range(100):  # bounded wait for the real loop timer
        s2 = await svc.get("s1")
        assert s2 is not None
        if s2.breakouts.phase is BreakoutPhase.CLOSED:
            break
        await asyncio.sleep(0.02)
    assert s2.breakouts.phase is BreakoutPhase.CLOSED
    assert visible_publishers(s2, "a") == {"t", "b", "co"}
    await svc.close()

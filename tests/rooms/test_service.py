"""RoomService on both stores: persistence, concurrency, events to ports, timers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

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
    assert s2 is not None
    assert s2.breakouts.phase is BreakoutPhase.CLOSED
    assert visible_publishers(s2, "a") == {"t", "b", "co"}
    await svc.close()


class Relay:
    """A real media-port implementation that keeps the desired visibility per subscriber
    (synchronous, like ``media.relay.Relay.set_visible``)."""

    def __init__(self) -> None:
        self.visible: dict[tuple[str, str], frozenset[str]] = {}
        self.calls = 0

    def set_visible(
        self, session_id: str, subscriber_id: str, publisher_ids: Iterable[str]
    ) -> dict[str, object]:
        self.calls += 1
        self.visible[(session_id, subscriber_id)] = frozenset(publisher_ids)
        return {"overflow": []}


class AsyncRelay(Relay):
    """The same port as a coroutine (e.g. a relay in another process)."""

    async def set_visible(  # type: ignore[override]
        self, session_id: str, subscriber_id: str, publisher_ids: Iterable[str]
    ) -> dict[str, object]:
        await asyncio.sleep(0)
        return super().set_visible(session_id, subscriber_id, publisher_ids)


@pytest.mark.parametrize("relay_type", [Relay, AsyncRelay])
async def test_media_port_follows_visibility(any_store: Store, relay_type: type[Relay]) -> None:
    relay = relay_type()
    svc = await seeded(any_store, media=relay)
    for p in ("t", "a", "b", "co"):
        await svc.execute("s1", c.Knock(actor=p, consent_version="v"))
    s, _ = await svc.execute("s1", c.AdmitAll(actor="t"))
    for pid in s.participants:
        assert relay.visible.get(("s1", pid), frozenset()) == visible_publishers(s, pid)
    calls = relay.calls
    await svc.execute("s1", c.SetMedia(actor="a", mic_on=True, camera_on=True))
    assert relay.calls == calls  # nothing about who sees whom changed
    await svc.execute("s1", c.AssignByRole(actor="t"))
    s, _ = await svc.execute("s1", c.OpenBreakouts(actor="t"))
    assert relay.visible[("s1", "a")] == {"t"}
    assert relay.visible[("s1", "b")] == {"co"}
    for pid in s.participants:
        assert relay.visible.get(("s1", pid), frozenset()) == visible_publishers(s, pid)
    relay.visible.clear()  # e.g. the relay restarted
    await svc.reconcile_media("s1")
    assert relay.visible[("s1", "co")] == {"b"}
    await svc.close()


async def test_an_early_tick_rearms_and_a_due_tick_applies(any_store: Store) -> None:
    """The tick path without waiting: a wake-up before the deadline must not lose it."""
    clock = [1000.0]
    svc = await seeded(any_store, clock=lambda: clock[0])
    for p in ("t", "a", "b"):
        await svc.execute("s1", c.Knock(actor=p, consent_version="v"))
    await svc.execute("s1", c.AdmitAll(actor="t"))
    await svc.execute("s1", c.AssignByRole(actor="t"))
    await svc.execute("s1", c.OpenBreakouts(actor="t", duration=600))
    assert svc.armed_deadline("s1") == 1600.0
    clock[0] = 1599.0
    s = await svc.tick("s1")  # early: nothing due
    assert s.breakouts.phase is BreakoutPhase.OPEN
    assert svc.armed_deadline("s1") == 1600.0
    clock[0] = 1600.0
    s = await svc.tick("s1")  # timer expiry starts the close-all countdown
    assert s.breakouts.phase is BreakoutPhase.CLOSING
    assert svc.armed_deadline("s1") == 1660.0
    clock[0] = 1660.0
    s = await svc.tick("s1")
    assert s.breakouts.phase is BreakoutPhase.CLOSED
    assert svc.armed_deadline("s1") is None
    assert all(s.room_of(p) is None for p in s.participants)
    with pytest.raises(NotFound):
        await svc.tick("gone")
    await svc.close()


async def test_a_second_node_resumes_timers_from_the_store(any_store: Store) -> None:
    clock = [0.0]
    one = await seeded(any_store, clock=lambda: clock[0])
    await one.execute("s1", c.Knock(actor="a", consent_version="v"))
    await one.execute("s1", c.Admit(actor="t", target="a"))
    await one.execute("s1", c.Disconnect(actor="a"))
    await one.close()
    two = RoomService(any_store, clock=lambda: clock[0])
    assert two.armed_deadline("s1") is None
    await two.resume("s1")
    assert two.armed_deadline("s1") == 60.0  # the reconnect grace
    clock[0] = 60.0
    s = await two.tick("s1")
    assert s.participants["a"].status is ParticipantStatus.LEFT
    await two.close()


class LockstepStore:
    """A real store whose first two reads of a key wait for each other, so two writers
    hold the same version and one compare-and-set must lose (a forced race, no mocks)."""

    def __init__(self, inner: Store, key: str) -> None:
        self.inner = inner
        self.key = key
        self.barrier = asyncio.Barrier(2)
        self.reads = 0
        self.lost = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def get(self, key: str) -> object:
        found = await self.inner.get(key)
        if key == self.key and self.reads < 2:
            self.reads += 1
            await asyncio.wait_for(self.barrier.wait(), timeout=10)
        return found

    async def cas(self, key: str, value: bytes, *, expected_version: int,
                  ttl: float | None = None) -> int | None:
        written = await self.inner.cas(key, value, expected_version=expected_version, ttl=ttl)
        self.lost += written is None
        return written


async def test_a_forced_race_between_two_nodes_loses_nothing(any_store: Store) -> None:
    await seeded(any_store)
    racing = LockstepStore(any_store, "room:s1")
    one = RoomService(racing)  # type: ignore[arg-type]
    two = RoomService(racing)  # type: ignore[arg-type]
    await asyncio.gather(one.execute("s1", c.Knock(actor="a", consent_version="v")),
                         two.execute("s1", c.Knock(actor="b", consent_version="v")))
    assert racing.lost == 1  # the race really happened, and the loser retried
    s = await one.get("s1")
    assert s is not None
    assert s.participants["a"].status is ParticipantStatus.WAITING
    assert s.participants["b"].status is ParticipantStatus.WAITING
    assert s.version == 3 + 2
    await one.close()
    await two.close()


async def test_people_are_told_then_the_relay_moves_then_records_are_written(
        any_store: Store) -> None:
    """The relay's re-pointing is a room change's privacy cut-off: the records and the
    other nodes (audit, bus, attendance) are written after it, never before."""
    order: list[str] = []

    class Named(Recorder):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        async def publish(self, session: Session, events: Sequence[Event]) -> None:
            order.append(self.name)

    class Port(Relay):
        def set_visible(self, session_id: str, subscriber_id: str,
                        publisher_ids: Iterable[str]) -> dict[str, object]:
            order.append("relay")
            return super().set_visible(session_id, subscriber_id, publisher_ids)

    svc = await seeded(any_store, sinks=[Named("told")], media=Port(),
                       later_sinks=[Named("records")])
    for p in ("t", "a", "b", "co"):
        await svc.execute("s1", c.Knock(actor=p, consent_version="v"))
    await svc.execute("s1", c.AdmitAll(actor="t"))
    await svc.execute("s1", c.AssignByRole(actor="t"))
    order.clear()
    await svc.execute("s1", c.OpenBreakouts(actor="t"))
    assert order[0] == "told"
    assert order[-1] == "records"
    assert set(order[1:-1]) == {"relay"}
    await svc.close()

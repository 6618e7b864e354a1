"""Attendance from a scripted session through the real RoomService, on both stores."""

from __future__ import annotations

import csv
import io
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rooms import commands as c
from rooms.machine import new_session
from rooms.model import Role
from rooms.service import RoomService
from rooms.stores import Store
from server.records.attendance import (
    AttendanceBook,
    AttendanceSink,
    intervals_csv,
    person_summary,
    range_report,
)
from server.records.people import Member
from server.records.sealed import RecordError, Sealer

T0 = 1_795_564_800.0  # Tuesday 24 Nov 2026, 19:00 in New York (Wednesday in UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = T0 + seconds


class Household:
    """A resolver as the program layer would plug in: participant → member."""

    async def member_of(self, session_id: str, participant_id: str) -> Member:
        if participant_id in ("alex", "blair"):
            return Member(f"mem-{participant_id}", "house-1")
        return Member()


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(AESGCM(os.urandom(32)))


async def scripted(store: Store, sealer: Sealer) -> tuple[AttendanceBook, Clock]:
    clock = Clock()
    book = AttendanceBook(store, sealer, Household())
    svc = RoomService(store, sinks=[AttendanceSink(book, clock)], clock=clock,
                      arms=lambda sid: False)
    sid = "s1"
    await svc.create(new_session(sid, owner_id="t", owner_name="Dr", title="Evening",
                                 now=T0, reconnect_grace=60.0))
    for pid, role in (("alex", Role.CLIENT), ("blair", Role.PARTNER)):
        await svc.execute(sid, c.AddParticipant(actor="t", participant_id=pid, role=role,
                                                display_name=pid.title()))
    run = svc.execute
    await run(sid, c.Knock(actor="t", consent_version="v"))
    await run(sid, c.Connect(actor="t"))
    clock.at(10)
    await run(sid, c.Knock(actor="alex", consent_version="v", camera_on=True))
    clock.at(20)
    await run(sid, c.Knock(actor="blair", consent_version="v", camera_on=False))
    clock.at(70)
    await run(sid, c.Admit(actor="t", target="alex"))
    clock.at(72)
    await run(sid, c.Connect(actor="alex"))
    clock.at(80)
    await run(sid, c.Admit(actor="t", target="blair"))
    await run(sid, c.Connect(actor="blair"))
    clock.at(300)
    await run(sid, c.CreateBreakouts(actor="t", names=("Alex", "Blair")))
    await run(sid, c.Assign(actor="t", target="alex", room_id="b1"))
    await run(sid, c.Assign(actor="t", target="blair", room_id="b2"))
    clock.at(310)
    await run(sid, c.OpenBreakouts(actor="t", duration=None))
    clock.at(400)
    await run(sid, c.Disconnect(actor="alex"))  # a network drop ...
    clock.at(430)
    await run(sid, c.Connect(actor="alex"))  # ... back inside the 60 s grace
    clock.at(610)
    await run(sid, c.CloseAll(actor="t", grace=0))
    clock.at(700)
    await run(sid, c.SetMedia(actor="blair", mic_on=True, camera_on=True))
    clock.at(900)
    await run(sid, c.Leave(actor="alex"))
    clock.at(950)
    await run(sid, c.Disconnect(actor="blair"))  # never comes back
    clock.at(1100)
    await svc.tick(sid)  # the grace ran out: Blair's time ends at the drop
    clock.at(1200)
    await run(sid, c.EndSession(actor="t"))
    await svc.close()
    return book, clock


async def test_scripted_session_totals_to_the_second(any_store: Store, sealer: Sealer) -> None:
    book, clock = await scripted(any_store, sealer)
    tracks = {t.participant_id: t for t in await book.session_tracks("s1")}
    alex = person_summary(tracks["alex"], clock.now)
    blair = person_summary(tracks["blair"], clock.now)

    assert alex["lobby_seconds"] == 60
    assert alex["attended_seconds"] == 240 + 300 + 290
    assert alex["by_room_seconds"] == {"main": 240 + 290, "b1": 300}
    assert [(i["room"], i["start"] - T0, i["end"] - T0) for i in alex["intervals"]] == [
        ("lobby", 10, 70), ("main", 70, 310), ("b1", 310, 610), ("main", 610, 900)]
    assert alex["drops"] == [{"at": T0 + 400, "back": T0 + 430}]  # one drop, no split
    assert alex["left_reason"] == "left"
    assert alex["member_id"] == "mem-alex"

    assert blair["lobby_seconds"] == 60
    assert blair["attended_seconds"] == 230 + 300 + 90 + 250
    assert blair["by_media_seconds"] == {"audio_only": 620, "camera": 250}
    assert blair["left_at"] == T0 + 950
    assert blair["intervals"][-1]["end"] == T0 + 950

    # The CSV carries the same intervals: its seconds add up to the same totals.
    rows = list(csv.DictReader(io.StringIO(intervals_csv(tracks.values(), {"s1": "Evening"},
                                                         clock.now))))
    per_person: dict[str, float] = {}
    for row in rows:
        if row["kind"] == "session":
            per_person[row["name"]] = per_person.get(row["name"], 0) + float(row["seconds"])
    assert per_person["Alex"] == alex["attended_seconds"]
    assert per_person["Blair"] == blair["attended_seconds"]
    assert {r["session_title"] for r in rows} == {"Evening"}
    assert rows[0]["start_utc"].endswith("+00:00")


async def test_weekly_totals_against_household_target(any_store: Store, sealer: Sealer) -> None:
    from zoneinfo import ZoneInfo

    book, clock = await scripted(any_store, sealer)
    await book.set_target("house-1", 600)
    tracks = await book.session_tracks("s1")
    report = range_report(tracks, T0 - 86400, T0 + 86400, ZoneInfo("America/New_York"),
                          {"house-1": await book.target("house-1")}, {"s1": "Evening"},
                          clock.now)
    people = {p["member_id"]: p for p in report["people"]}
    assert people["mem-alex"]["total_seconds"] == 830
    assert people["mem-alex"]["weeks"] == [
        {"week": "2026-W48", "attended_seconds": 830, "target_seconds": 600, "met": True}]
    assert people["mem-alex"]["occurrences"][0]["title"] == "Evening"
    assert await book.target("other") == 9 * 3600


async def test_tracks_are_sealed_and_versioned(any_store: Store, sealer: Sealer) -> None:
    await scripted(any_store, sealer)
    raw = await any_store.get("att:s1:alex")
    assert raw is not None
    assert raw.value.startswith(b'{"schema":1,"sealed":')
    assert b"Alex" not in raw.value
    assert b"mem-alex" not in raw.value
    other = AttendanceBook(any_store, Sealer(AESGCM(os.urandom(32))))
    with pytest.raises(RecordError, match="does not open"):
        await other.track("s1", "alex")


async def test_repeated_or_late_delivery_changes_nothing(any_store: Store,
                                                         sealer: Sealer) -> None:
    book, clock = await scripted(any_store, sealer)
    before = await any_store.get("att:s1:alex")
    svc = RoomService(any_store)
    session = await svc.get("s1")
    assert session is not None
    await AttendanceSink(book, clock).publish(session, [])  # a fresh node sees it again
    assert await any_store.get("att:s1:alex") == before


async def test_a_record_of_an_unknown_schema_is_refused(any_store: Store,
                                                        sealer: Sealer) -> None:
    book = AttendanceBook(any_store, sealer)
    await any_store.put("att:s9:x", b'{"schema":2,"sealed":"AAAA"}')
    with pytest.raises(RecordError, match="unknown record schema"):
        await book.track("s9", "x")


def test_an_interval_across_midnight_sunday_counts_in_both_weeks() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from server.records.attendance import Segment, Track

    tz = ZoneInfo("America/New_York")
    monday = dt.datetime(2026, 11, 30, 0, 0, tzinfo=tz).timestamp()
    t = Track("s", "p", "client", "P", "m1", "h1",
              segments=[Segment("lobby", "Lobby", "camera", monday - 3700, monday - 3600),
                        Segment("main", "Main room", "camera", monday - 3600, monday + 1800)])
    report = range_report([t], monday - 7 * 86400, monday + 7 * 86400, tz, {"h1": 3600},
                          {}, monday + 9000)
    (person,) = report["people"]
    assert [(w["week"], w["attended_seconds"], w["met"]) for w in person["weeks"]] == [
        ("2026-W48", 3600, True), ("2026-W49", 1800, False)]
    assert person["total_seconds"] == 5400
    # A range that starts at the Monday clips the Sunday evening away.
    clipped = range_report([t], monday, monday + 86400, tz, {}, {}, monday + 9000)
    assert clipped["people"][0]["total_seconds"] == 1800


async def test_minutes_per_plan_phase(any_store: Store, sealer: Sealer) -> None:
    """Each phase change starts new intervals; the report sums minutes per phase."""
    from rooms.model import PlanLayout, PlanPhase

    clock = Clock()
    book = AttendanceBook(any_store, sealer, Household())
    svc = RoomService(any_store, sinks=[AttendanceSink(book, clock)], clock=clock,
                      arms=lambda sid: False)
    sid = "plan1"
    await svc.create(new_session(sid, owner_id="t", owner_name="Dr", title="Couple", now=T0))
    for pid, role in (("co", Role.CO_THERAPIST), ("alex", Role.PARTNER),
                      ("blair", Role.PARTNER)):
        await svc.execute(sid, c.AddParticipant(actor="t", participant_id=pid, role=role,
                                                display_name=pid.title()))
    for pid in ("t", "co", "alex", "blair"):
        await svc.execute(sid, c.Knock(actor=pid, consent_version="v"))
    await svc.execute(sid, c.AdmitAll(actor="t"))
    await svc.execute(sid, c.SetPlan(actor="t", plan_id="p", name="Couples", phases=(
        PlanPhase("Joint", 20), PlanPhase("Apart", 15, PlanLayout.EACH_CLIENT_WITH_CLINICIAN),
        PlanPhase("Joint", 10))))
    await svc.execute(sid, c.NextPhase(actor="t"))
    clock.at(20 * 60)
    await svc.execute(sid, c.NextPhase(actor="t"))
    clock.at(35 * 60)
    await svc.execute(sid, c.NextPhase(actor="t"))
    clock.at(35 * 60 + 60)
    await svc.execute(sid, c.Tick(actor=c.SYSTEM, now=clock.now))  # the countdown ends
    clock.at(40 * 60)
    await svc.execute(sid, c.StepAside(actor="t", target="alex"))
    clock.at(42 * 60)
    await svc.execute(sid, c.BringBack(actor="t", target="alex"))
    clock.at(45 * 60)
    await svc.execute(sid, c.EndSession(actor="t"))
    alex = person_summary(await book.track(sid, "alex"), clock.now)  # type: ignore[arg-type]
    assert alex["by_phase_minutes"] == {"1. Joint": 20.0, "2. Apart": 15.0, "3. Joint": 10.0}
    aside = [i for i in alex["intervals"] if i["room_name"] == "Private room"]
    assert [(i["seconds"], i["phase"]) for i in aside] == [(120, "3. Joint")]
    phases = {i["phase"] for i in alex["intervals"] if i["seconds"] > 0}
    assert phases == {"1. Joint", "2. Apart", "3. Joint"}

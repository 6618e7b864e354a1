"""One personal link per person per series, resolved to the occurrence open now.

A live server on both backends; the program's clock is moved to the moments the
test needs (the link itself is a real signed link checked against real time).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import jwt

from server.appkeys import LIVE, PROGRAM, ROOMS
from server.program import recurrence
from testkit.live import Live, Therapist, accept_consent, token_of

NY = "America/New_York"


async def household(dr: Therapist) -> dict[str, Any]:
    return dict(await dr.api("POST", "/api/households", {
        "label": "Rivera household",
        "members": [
            {"name": "Maria Rivera", "role": "client", "email": "maria@example.org",
             "emergency_contact": "Ana Rivera +1 555 0100"},
            {"name": "Ben Rivera", "role": "parent", "guardian_of": ["#2"]},
            {"name": "Kit Rivera", "role": "child", "date_of_birth": "2015-05-01"},
        ],
    }))


async def evening_series(dr: Therapist, hid: str) -> dict[str, Any]:
    return dict(await dr.api("POST", "/api/series", {
        "household_id": hid, "timezone": NY, "weekdays": [0, 2, 3], "start_time": "19:00",
        "duration_minutes": 90, "first_date": "2027-03-01", "count": 12,
    }))


def at(live: Live, ts: float) -> None:
    live.app[PROGRAM].clock = lambda: ts


async def status(live: Live, token: str) -> dict[str, Any]:
    async with live.http.post(f"{live.url}/api/join/status", json={"token": token}) as r:
        assert r.status == 200
        return dict((await r.json())["ok"])


async def test_same_link_in_two_occurrences_refused_between_and_after_revocation(
    live: Live,
) -> None:
    dr = await live.therapist()
    home = await household(dr)
    maria = home["members"][0]
    series = await evening_series(dr, home["id"])
    occ = series["occurrences"]
    issued = await dr.api("POST", f"/api/series/{series['id']}/members/{maria['id']}/link")
    token = token_of(issued["link"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sid"] == f"series:{series['id']}"
    assert "name" not in claims  # links travel by email: no names in them

    # Occurrence 1: the link opens, as Maria, in the occurrence's own session.
    at(live, occ[0]["starts_at"] - 10 * 60)
    await accept_consent(live.url, token)  # as the pre-join page does
    first = await live.client(token)
    await first.ok("join", {"consent_version": "v"})
    await first.sio.disconnect()
    rooms = live.app[ROOMS]

    # Between occurrence 1 and 2: refused, and the join page learns the next start.
    at(live, occ[0]["ends_at"] + 3 * 3600)
    between = await live.client(token, connect=False)
    assert await between.refused() == "outside_window"
    shown = await status(live, token)
    assert shown == {"open": False, "code": "outside_window", "next_start": occ[1]["starts_at"],
                     "message": "this link opens 15 minutes before each session"}

    # Occurrence 2: the same link opens again, in a different session.
    at(live, occ[1]["starts_at"] + 60)
    second = await live.client(token)
    await second.ok("join", {"consent_version": "v"})
    await second.sio.disconnect()
    program = live.app[PROGRAM]
    one = await program.occurrence(await program.series_record(series["id"]), 0)
    two = await program.occurrence(await program.series_record(series["id"]), 1)
    assert one is not None
    assert two is not None
    assert one.session_id != two.session_id
    for record in (one, two):
        session = await rooms.get(record.session_id)
        assert session is not None
        people = {p.display_name: p.role.value for p in session.participants.values()}
        assert people["Maria Rivera"] == "client"
        assert people["Kit Rivera"] == "child"
        assert await program.member_of(record.session_id, maria["id"]) == maria["id"]
        linked = await program.occurrence_of_session(record.session_id)
        assert linked is not None
        assert linked[0].household_id == home["id"]
        assert linked[1].index == record.index

    # Showing the link again does not revoke it; revoking it stops it everywhere.
    again = await dr.api("GET", f"/api/series/{series['id']}/members/{maria['id']}/link")
    assert again["link"] == issued["link"]
    await dr.api("DELETE", f"/api/series/{series['id']}/members/{maria['id']}/link")
    for moment in (occ[1]["starts_at"], occ[2]["starts_at"], occ[5]["starts_at"]):
        at(live, moment)
        refused = await live.client(token, connect=False)
        assert await refused.refused() == "revoked"


async def test_cancelled_refused_moved_opens_at_new_time(live: Live) -> None:
    dr = await live.therapist()
    home = await household(dr)
    ben = home["members"][1]
    series = await evening_series(dr, home["id"])
    sid = series["id"]
    occ = series["occurrences"]
    token = token_of((await dr.api("POST", f"/api/series/{sid}/members/{ben['id']}/link"))
                     ["link"])
    await dr.api("POST", f"/api/series/{sid}/occurrences/3", {"cancelled": True})
    at(live, occ[3]["starts_at"])
    assert await (await live.client(token, connect=False)).refused() == "cancelled"
    shown = await status(live, token)
    assert shown["code"] == "cancelled"
    assert shown["message"] == "this session was cancelled"
    assert shown["next_start"] == occ[4]["starts_at"]

    # Occurrence 7 (Wednesday 17 March, EDT) moves to Friday 19 March 18:30 local.
    updated = await dr.api("POST", f"/api/series/{sid}/occurrences/7",
                           {"move_to": "2027-03-19T18:30"})
    new_start = dt.datetime(2027, 3, 19, 18, 30, tzinfo=ZoneInfo(NY)).timestamp()
    assert updated["occurrences"][7]["starts_at"] == new_start
    assert updated["occurrences"][7]["moved"] is True
    async with dr.http.post(f"{live.url}/api/series/{sid}/occurrences/8",
                            json={"move_to": "2027-06-01T19:00"}) as r:
        assert r.status == 400  # a move, not a new schedule
    at(live, occ[7]["starts_at"])  # the old time: closed, pointing at the next start
    assert await (await live.client(token, connect=False)).refused() == "outside_window"
    at(live, new_start - 14 * 60)
    await accept_consent(live.url, token)
    person = await live.client(token)
    await person.ok("join", {"consent_version": "v"})


async def test_member_not_attending_one_occurrence(live: Live) -> None:
    dr = await live.therapist()
    home = await household(dr)
    maria, ben = home["members"][0], home["members"][1]
    series = await evening_series(dr, home["id"])
    sid = series["id"]
    await dr.api("POST", f"/api/series/{sid}/occurrences/0",
                 {"absent": {"member_id": ben["id"], "absent": True}})
    ben_token = token_of((await dr.api("POST", f"/api/series/{sid}/members/{ben['id']}/link"))
                         ["link"])
    maria_token = token_of((await dr.api("POST", f"/api/series/{sid}/members/{maria['id']}/link"))
                           ["link"])
    at(live, series["occurrences"][0]["starts_at"])
    assert await (await live.client(ben_token, connect=False)).refused() == "not_expected"
    await accept_consent(live.url, maria_token)
    await (await live.client(maria_token)).ok("join", {"consent_version": "v"})
    program = live.app[PROGRAM]
    record = await program.occurrence(await program.series_record(sid), 0)
    assert record is not None
    assert ben["id"] not in record.members
    session = await live.app[ROOMS].get(record.session_id)
    assert session is not None
    assert {p.display_name for p in session.participants.values()} >= {"Maria Rivera",
                                                                        "Kit Rivera"}
    assert "Ben Rivera" not in {p.display_name for p in session.participants.values()}


async def test_bad_time_zones_are_coded_errors(live: Live) -> None:
    dr = await live.therapist()
    home = await household(dr)
    for zone in ("America", "a" * 60, "../etc/passwd", "Mars/Olympus"):
        async with dr.http.post(f"{live.url}/api/series", json={
                "household_id": home["id"], "timezone": zone, "weekdays": [0],
                "start_time": "19:00", "first_date": "2027-03-01", "count": 2}) as r:
            assert r.status == 400, zone
            assert (await r.json())["error"]["code"] == "invalid"


async def test_series_limits_are_coded_errors(live: Live) -> None:
    dr = await live.therapist()
    home = await household(dr)
    bodies = [
        {"weekdays": [0, 1, 2, 3, 4, 5, 6], "until": "2028-12-31"},  # over 400 sessions
        {"weekdays": [0], "until": "2027-03-01", "first_date": "2027-03-02"},  # before start
        {"weekdays": [0], "count": 3, "until": "2027-05-01"},  # both ends
        {"weekdays": [7], "count": 3},
        {"weekdays": [0], "count": 3, "start_time": "7pm"},
    ]
    for extra in bodies:
        body = {"household_id": home["id"], "start_time": "19:00", "first_date": "2027-03-01",
                **extra}
        async with dr.http.post(f"{live.url}/api/series", json=body) as r:
            assert r.status == 400, extra
            assert (await r.json())["error"]["code"] == "invalid"


async def test_removing_a_member_revokes_their_series_link(live: Live) -> None:
    dr = await live.therapist()
    home = await household(dr)
    ben, kit = home["members"][1], home["members"][2]
    series = await evening_series(dr, home["id"])
    token = token_of((await dr.api("POST", f"/api/series/{series['id']}/members/{ben['id']}/link"))
                     ["link"])
    left = await dr.api("DELETE", f"/api/households/{home['id']}/members/{ben['id']}")
    assert [m["name"] for m in left["members"]] == ["Maria Rivera", "Kit Rivera"]
    at(live, series["occurrences"][0]["starts_at"])
    assert await (await live.client(token, connect=False)).refused() == "revoked"
    kept = await dr.api("GET", f"/api/households/{home['id']}")
    assert all(kit["id"] not in m["guardian_of"] for m in kept["members"])


async def test_concurrent_joins_make_one_session_per_occurrence(live: Live) -> None:
    dr = await live.therapist()
    home = await household(dr)
    series = await evening_series(dr, home["id"])
    program = live.app[PROGRAM]
    record = await program.series_record(series["id"])
    assert record is not None
    occ = recurrence.occurrences(record)[0]
    made = await asyncio.gather(*(program.materialize(record, occ) for _ in range(5)))
    assert len({m.session_id for m in made}) == 1


async def test_editing_a_member_in_place_keeps_their_link_and_is_audited(live: Live) -> None:
    dr = await live.therapist()
    home = await household(dr)
    maria, kit = home["members"][0], home["members"][2]
    series = await evening_series(dr, home["id"])
    link = (await dr.api("POST", f"/api/series/{series['id']}/members/{maria['id']}/link"))
    path = f"/api/households/{home['id']}/members/{maria['id']}"
    edited = await dr.api("PATCH", path, {"name": "María Rivera-Cruz", "email": None,
                                          "emergency_contact": "Ana Rivera +1 555 0199"})
    now = next(m for m in edited["members"] if m["id"] == maria["id"])
    assert (now["name"], now["email"], now["emergency_contact"]) == (
        "María Rivera-Cruz", None, "Ana Rivera +1 555 0199")
    assert now["role"] == "client"  # what was not given stays
    shown = await dr.api("GET", f"/api/series/{series['id']}/members/{maria['id']}/link")
    assert token_of(shown["link"]) == token_of(link["link"])  # same person, same link

    # Role or birth date recompute "minor"; a change that breaks guardianship is refused
    # and loses nothing.
    kid_path = f"/api/households/{home['id']}/members/{kit['id']}"
    older = await dr.api("PATCH", kid_path, {"date_of_birth": "2001-01-01"})
    assert next(m for m in older["members"] if m["id"] == kit["id"])["minor"] is True
    for bad in ({"role": "parent"}, {"name": None}, {}, {"name": ""}, {"colour": "red"}):
        async with dr.http.patch(f"{live.url}{kid_path}", json=bad) as r:
            assert r.status == 400, bad
            assert (await r.json())["error"]["code"] == "invalid"
    kept = await dr.api("GET", f"/api/households/{home['id']}")
    assert next(m for m in kept["members"] if m["id"] == kit["id"])["role"] == "child"
    async with dr.http.patch(f"{live.url}/api/households/{home['id']}/members/mffffffffffffff0",
                             json={"name": "X"}) as r:
        assert r.status == 404

    entries = await live.app[LIVE].audit_log.entries()
    edits = [e for e in entries if e["action"] == "household_member_edited"]
    assert len(edits) == 2
    assert [e["subject"] for e in edits] == [maria["id"], kit["id"]]
    assert "Rivera" not in repr(edits)

"""Records over the real server: socket.io sessions, REST reports and exports, the
consent ledger and its gate, on both stores."""

from __future__ import annotations

import csv
import io
from typing import Any

import aiohttp
import pytest

from server.appkeys import STORE
from server.records.api import ROUTES
from testkit.live import Live, Therapist, accept_consent, admitted

pytestmark = pytest.mark.timeout(120)


async def raw(dr: Therapist, method: str, path: str, body: Any = None,
              token: str | None = None) -> tuple[int, Any]:
    http = dr.http if token is None else aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {token}"})
    try:
        async with http.request(method, f"{dr.live.url}{path}", json=body) as r:
            if r.content_type == "text/csv":
                return r.status, await r.text()
            return r.status, await r.json()
    finally:
        if token is not None:
            await http.close()


async def consent_of(dr: Therapist, token: str) -> dict[str, Any]:
    status, data = await raw(dr, "GET", "/api/consent", token=token)
    assert status == 200, data
    return dict(data["ok"])


async def test_attendance_over_socketio_with_a_drop_inside_the_grace(live: Live) -> None:
    room = await admitted(live, ("Alex", "client"))
    alex = room.people["Alex"]
    await alex.sio.disconnect()  # the network drops ...
    await room.therapist.wait(
        lambda t: any(p["status"] == "reconnecting" for p in t.state["participants"]),
        "Alex reconnecting")
    alex.sio = alex.new_socket()  # ... and Alex is back inside the grace
    await alex.connect()
    assert (await alex.ok("join", {"consent_version": "v"}))["status"] == "connected"
    await alex.ok("leave")

    status, data = await raw(room.dr, "GET", f"/api/records/sessions/{room.sid}/attendance")
    assert status == 200, data
    people = {p["name"]: p for p in data["ok"]["people"]}
    a = people["Alex"]
    assert [i["kind"] for i in a["intervals"]] == ["lobby", "session"]  # one interval
    assert len(a["drops"]) == 1
    assert a["drops"][0]["back"] is not None
    assert a["left_reason"] == "left"
    assert a["attended_seconds"] > 0
    assert a["intervals"][1]["media"] == "camera"

    status, text = await raw(room.dr, "GET",
                             f"/api/records/sessions/{room.sid}/attendance?format=csv")
    assert status == 200
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["name"] == "Alex"]
    assert [r["kind"] for r in rows] == ["lobby", "session"]
    assert float(rows[1]["seconds"]) == pytest.approx(a["attended_seconds"], abs=0.001)

    day = rows[0]["start_utc"][:10]
    status, data = await raw(room.dr, "GET", f"/api/records/attendance?from={day}&to={day}")
    assert status == 200, data
    mine = [p for p in data["ok"]["people"] if p["name"] == "Alex"]
    assert mine[0]["total_seconds"] == pytest.approx(a["attended_seconds"], abs=0.001)
    assert mine[0]["weeks"][0]["target_seconds"] == 9 * 3600


async def test_child_is_held_until_a_guardian_consents_from_their_own_link(live: Live) -> None:
    dr = await live.therapist()
    sid = await dr.session()
    blair, blair_token = await dr.add(sid, "Blair", "parent")
    kit, kit_token = await dr.add(sid, "Kit", "child", guardians=[blair], consent=False)
    therapist = await live.client(await dr.join_token(sid))
    await therapist.ok("join", {"consent_version": "v"})
    child = await live.client(kit_token)
    assert (await child.ok("join", {"consent_version": "v"}))["status"] == "waiting"

    # The therapist's admit is refused with a reason a person can read.
    res = await therapist.call("admit", {"participant_id": kit})
    assert res["error"]["code"] == "guardian_consent_required"
    assert "no guardian consent is on file" in res["error"]["message"]
    assert (await therapist.ok("admit_all"))["held"] == [kit]
    mine = await consent_of(dr, kit_token)
    assert mine["hold"] is not None
    # The child cannot consent for themselves; another adult cannot either.
    doc = mine["documents"][0]
    status, data = await raw(dr, "POST", "/api/consent/accept",
                             {"kind": "telehealth", "hash": doc["hash"]}, token=kit_token)
    assert (status, data["error"]["code"]) == (403, "guardian_required")
    _, other_token = await dr.add(sid, "Sam", "family")
    status, data = await raw(dr, "POST", "/api/consent/accept",
                             {"kind": "telehealth", "hash": doc["hash"],
                              "for_participant": kit}, token=other_token)
    assert (status, data["error"]["code"]) == (403, "forbidden")

    await accept_consent(live.url, blair_token, for_child=kit)
    assert (await consent_of(dr, kit_token))["hold"] is None
    await therapist.ok("admit", {"participant_id": kit})
    await child.wait(lambda c: c.state["me"]["status"] == "admitted", "Kit admitted")

    status, data = await raw(dr, "GET", f"/api/records/sessions/{sid}/consent")
    assert status == 200
    kit_row = next(p for p in data["ok"]["people"] if p["participant_id"] == kit)
    assert kit_row["documents"][0]["state"] == "accepted"
    assert kit_row["documents"][0]["by_guardian"] is True
    status, data = await raw(dr, "GET", "/api/records/consent/ledger")
    entry = next(e for e in data["ok"]["entries"] if e["participant_id"] == kit)
    assert entry["actor_participant_id"] == blair
    assert entry["on_behalf"] is True
    assert entry["jti"]


async def test_withdrawal_stops_joins_until_accepted_again(live: Live) -> None:
    dr = await live.therapist(admin=True)  # publishes a new consent text
    sid = await dr.session()
    pid, token = await dr.add(sid, "Alex", "client", consent=False)
    alex = await live.client(token)
    res = await alex.call("join", {"consent_version": "v"})
    assert res["error"]["code"] == "consent_required"
    assert "telehealth consent" in res["error"]["message"]

    await accept_consent(live.url, token)
    assert (await alex.ok("join", {"consent_version": "v"}))["status"] == "waiting"
    await alex.ok("leave")
    status, _ = await raw(dr, "POST", "/api/consent/withdraw", {"kind": "telehealth"},
                          token=token)
    assert status == 201
    res = await alex.call("join", {"consent_version": "v"})
    assert res["error"]["code"] == "consent_required"
    assert "withdrew" in res["error"]["message"]

    # A new version of the text makes an old acceptance outdated.
    text = "Sessions happen by video. They are not recorded. You may leave at any time."
    status, doc = await raw(dr, "POST", "/api/records/consent/documents",
                            {"kind": "telehealth", "title": "Telehealth consent",
                             "text": text})
    assert status == 201, doc
    assert doc["ok"]["version"] == 2
    old = (await consent_of(dr, token))["documents"][0]
    assert old["hash"] == doc["ok"]["hash"]
    status, data = await raw(dr, "POST", "/api/consent/accept",
                             {"kind": "telehealth", "hash": "0" * 64}, token=token)
    assert (status, data["error"]["code"]) == (409, "outdated")
    await accept_consent(live.url, token)
    assert (await alex.ok("join", {"consent_version": "v"}))["status"] == "waiting"

    status, text_csv = await raw(dr, "GET", "/api/records/consent/ledger?format=csv")
    rows = [r for r in csv.DictReader(io.StringIO(text_csv)) if r["participant_id"] == pid]
    assert [(r["action"], r["version"]) for r in rows] == [
        ("accept", "1"), ("withdraw", "1"), ("accept", "2")]
    assert all(r["via"] == "link" and r["jti"] for r in rows)

    # At rest: every ledger line is sealed; the names never appear in the store.
    store = live.app[STORE]
    for line in await store.range("consent-ledger"):
        assert line.startswith(b'{"schema":1,"sealed":')
        assert b"Alex" not in line


async def test_every_records_route_refuses_without_the_right_identity(live: Live) -> None:
    """Generated from the route table: no sign-in → 401; another therapist's session →
    404; link routes without a valid link → 401."""
    room = await admitted(live, ("Alex", "client"))
    stranger = await live.therapist()
    anonymous = aiohttp.ClientSession()
    try:
        for route in ROUTES:
            path = route["path"].format(session_id=room.sid, participant_id=room.ids["Alex"],
                                        household_id="house-1")
            method = route["method"].upper()
            body = {} if method in ("POST", "PUT") else None
            async with anonymous.request(method, f"{live.url}{path}", json=body) as r:
                assert r.status == 401, (method, path, r.status)
            if route.get("auth", True):
                if "{session_id}" in route["path"]:
                    async with stranger.http.request(method, f"{live.url}{path}",
                                                     json=body) as r:
                        assert r.status in (404, 400), (method, path, r.status)
                        if r.status == 400:  # the body is checked first only for POST
                            assert method == "POST"
            else:
                status, _ = await raw(room.dr, method, path, body, token="not.a.token")
                assert status == 401, (method, path)
        # A stranger's range export and ledger never include another therapist's people.
        status, data = await raw(stranger, "GET", "/api/records/consent/ledger")
        assert status == 200
        assert data["ok"]["entries"] == []
        day = "2026-01-01"
        status, data = await raw(stranger, "GET",
                                 f"/api/records/attendance?from={day}&to=2026-12-31")
        assert status == 200
        assert data["ok"]["people"] == []
    finally:
        await anonymous.close()
        await stranger.close()


@pytest.mark.parametrize("query", [
    "from=2026-02-01&to=2026-01-01", "from=2026-01-01&to=2026-01-02&tz=Mars/Olympus",
    "from=nope&to=2026-01-01", "from=2026-01-01&to=2026-01-02&evil=1",
    "from=2025-01-01&to=2026-12-31", "from=2026-01-01&to=2026-01-02&format=xml",
])
async def test_bad_queries_get_coded_errors(live: Live, query: str) -> None:
    dr = await live.therapist()
    status, data = await raw(dr, "GET", f"/api/records/attendance?{query}")
    assert (status, data["error"]["code"]) == (400, "invalid")


async def test_household_target_and_bad_bodies(live: Live) -> None:
    dr = await live.therapist(admin=True)
    home = await dr.api("POST", "/api/households", {
        "label": "Rivera", "members": [{"name": "Maria", "role": "client"}]})
    target = f"/api/records/households/{home['id']}/target"
    status, data = await raw(dr, "GET", "/api/records/households/not-theirs/target")
    assert (status, data["error"]["code"]) == (404, "not_found")
    status, data = await raw(dr, "GET", target)
    assert (status, data["ok"]["hours"]) == (200, 9)
    status, data = await raw(dr, "PUT", target,
                             {"hours": 12})
    assert status == 200
    assert (await raw(dr, "GET", target))[1]["ok"][
        "hours"] == 12
    for body in ({"hours": 0}, {"hours": "x"}, {"hours": 9, "extra": 1}):
        status, data = await raw(dr, "PUT", target, body)
        assert (status, data["error"]["code"]) == (400, "invalid")
    status, data = await raw(dr, "POST", "/api/records/consent/documents",
                             {"kind": "surgery", "title": "x", "text": "y" * 30})
    assert (status, data["error"]["code"]) == (400, "invalid")


async def test_a_withdrawal_in_session_sends_the_person_back_to_the_held_lobby(
        live: Live) -> None:
    room = await admitted(live, ("Alex", "client"), ("Blair", "parent"),
                          ("Kit", "child", "Blair"))
    alex, kit = room.ids["Alex"], room.ids["Kit"]
    # Alex withdraws from their own link while in the room.
    status, _ = await raw(room.dr, "POST", "/api/consent/withdraw", {"kind": "telehealth"},
                          token=room.tokens["Alex"])
    assert status == 201
    await room.people["Alex"].wait(lambda c: c.state["me"]["status"] == "waiting",
                                   "Alex back in the lobby")
    # The gate now holds Alex: the clinician's admit is refused with the reason.
    res = await room.therapist.call("admit", {"participant_id": alex})
    assert res["error"]["code"] == "consent_required"
    # A guardian's withdrawal stated to the clinician holds the child the same way.
    status, _ = await raw(room.dr, "POST",
                          f"/api/records/sessions/{room.sid}/participants/{kit}/consent/withdraw",
                          {"kind": "telehealth"})
    assert status == 201
    await room.people["Kit"].wait(lambda c: c.state["me"]["status"] == "waiting",
                                  "Kit back in the lobby")
    assert sorted((await room.therapist.ok("admit_all"))["held"]) == sorted([alex, kit])
    # Blair stayed in the room throughout.
    assert room.people["Blair"].state["me"]["status"] in ("admitted", "connected")
    entries = await room.dr.api("GET", f"/api/sessions/{room.sid}/audit")
    actions = [e["action"] for e in entries]
    assert actions.count("consent_hold") == 2

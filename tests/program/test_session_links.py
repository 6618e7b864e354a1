"""Single sessions: links shown again without revoking, .ics never revokes, default end."""

from __future__ import annotations

import time

from server.appkeys import PROGRAM
from testkit.live import Live, accept_consent, token_of


async def test_show_and_ics_keep_the_link_working_only_reissue_revokes(live: Live) -> None:
    dr = await live.therapist()
    start = time.time() + 60
    made = await dr.api("POST", "/api/sessions", {"title": "Family", "starts_at": start})
    assert made["ends_at"] == start + 60 * 60  # the clinic's default duration, shown
    assert made["default_duration_minutes"] == 60
    sid = made["id"]
    pid, token = await dr.add(sid, "Sam", "partner")
    shown = await dr.api("GET", f"/api/sessions/{sid}/participants/{pid}/link")
    assert token_of(shown["link"]) == token
    async with dr.http.get(f"{live.url}/api/sessions/{sid}/participants/{pid}/invite.ics") as r:
        assert r.status == 200
        assert token in (await r.read()).decode().replace("\r\n ", "")
    again = await dr.api("GET", f"/api/sessions/{sid}/participants/{pid}/link")
    assert token_of(again["link"]) == token
    await accept_consent(live.url, token)
    person = await live.client(token)
    await person.ok("join", {"consent_version": "v"})
    await person.sio.disconnect()

    fresh = await dr.api("POST", f"/api/sessions/{sid}/participants/{pid}/link")
    assert token_of(fresh["link"]) != token
    assert await (await live.client(token, connect=False)).refused() == "revoked"
    await dr.api("DELETE", f"/api/sessions/{sid}/participants/{pid}/link")
    gone = await dr.api("GET", f"/api/sessions/{sid}/participants/{pid}/link")
    assert gone["link"] is None


async def test_too_early_single_session_link_reports_its_start(live: Live) -> None:
    dr = await live.therapist()
    start = time.time() + 3 * 3600
    sid = (await dr.api("POST", "/api/sessions", {"title": "Later", "starts_at": start,
                                                   "ends_at": start + 3600}))["id"]
    _, token = await dr.add(sid, "Sam", "partner", consent=False)  # the link is not open yet
    assert await (await live.client(token, connect=False)).refused() == "not_yet_valid"
    async with live.http.post(f"{live.url}/api/join/status", json={"token": token}) as r:
        status = (await r.json())["ok"]
    assert status["code"] == "not_yet_valid"
    assert status["next_start"] == start
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    async with live.http.post(f"{live.url}/api/join/status", json={"token": forged}) as r:
        assert (await r.json())["ok"]["next_start"] is None


async def test_one_off_session_for_a_household_seats_its_people(live: Live) -> None:
    dr = await live.therapist()
    home = await dr.api("POST", "/api/households", {"label": "Lee", "members": [
        {"name": "Jo Lee", "role": "parent", "guardian_of": ["#1"]},
        {"name": "Kim Lee", "role": "child"}]})
    made = await dr.api("POST", "/api/sessions", {"title": "Family check-in",
                                                  "household_id": home["id"]})
    detail = await dr.api("GET", f"/api/sessions/{made['id']}")
    people = {p["display_name"]: p for p in detail["participants"]}
    jo, kim = home["members"]
    assert people["Jo Lee"]["id"] == jo["id"]
    assert people["Kim Lee"]["role"] == "child"
    assert people["Jo Lee"]["guardian_of"] == [kim["id"]]
    assert await live.app[PROGRAM].member_of(made["id"], kim["id"]) == kim["id"]
    other = await live.therapist()
    async with other.http.post(f"{live.url}/api/sessions", json={
            "title": "x", "household_id": home["id"]}) as r:
        assert r.status == 404

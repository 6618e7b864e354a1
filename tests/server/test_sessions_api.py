"""REST for therapists: sessions, participants, links, invites, OpenAPI."""

from __future__ import annotations

import time
from typing import Any

import jwt
from icalendar import Calendar

from server.openapi import OPERATIONS
from tests.server.conftest import AppClient
from tests.server.test_login import PASSWORD, login_cookie, signup


async def signed_in(make_client: AppClient) -> tuple[Any, dict[str, str]]:
    client = await make_client()
    name = await signup(client)
    resp = await client.post("/api/login", json={"username": name, "password": PASSWORD})
    return client, {"Cookie": f"hearth_login={login_cookie(resp)}"}


async def test_session_crud_participants_and_links(make_client: AppClient) -> None:
    client, auth = await signed_in(make_client)
    start = time.time() + 3600
    resp = await client.post("/api/sessions", headers=auth, json={
        "title": "Tuesday family", "starts_at": start, "ends_at": start + 3600})
    assert resp.status == 201
    session = (await resp.json())["ok"]
    sid = session["id"]
    assert session["phase"] == "scheduled"
    listed = (await (await client.get("/api/sessions", headers=auth)).json())["ok"]
    assert [s["id"] for s in listed] == [sid]

    resp = await client.post(f"/api/sessions/{sid}/participants", headers=auth,
                             json={"display_name": "Sam", "role": "partner"})
    assert resp.status == 201
    added = (await resp.json())["ok"]
    token = added["link"].split("/join#", 1)[1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sid"] == sid
    assert not {"role", "name"} & set(claims)  # opaque ids only
    assert claims["nbf"] == int(start - 15 * 60)  # opens 15 minutes early
    assert claims["exp"] == int(start + 3600 + 3600)  # closes an hour after the end
    resp = await client.post(f"/api/sessions/{sid}/participants", headers=auth,
                             json={"display_name": "Kit", "role": "child",
                                   "guardian_of": [added["participant_id"]]})
    assert resp.status == 201
    detail = (await (await client.get(f"/api/sessions/{sid}", headers=auth)).json())["ok"]
    roles = {p["display_name"]: p["role"] for p in detail["participants"]}
    assert roles["Sam"] == "partner"
    assert roles["Kit"] == "child"

    pid = added["participant_id"]
    resp = await client.post(f"/api/sessions/{sid}/participants/{pid}/link", headers=auth)
    new_token = (await resp.json())["ok"]["link"].split("#", 1)[1]
    assert new_token != token
    ics = await client.get(f"/api/sessions/{sid}/participants/{pid}/invite.ics", headers=auth)
    assert ics.status == 200
    assert ics.headers["Content-Type"].startswith("text/calendar")
    event = next(iter(Calendar.from_ical(await ics.read()).walk("VEVENT")))
    assert str(event["summary"]) == "Tuesday family"
    assert "/join#" in str(event["url"])
    assert int(event.decoded("dtstart").timestamp()) == int(start)

    ended = await client.post(f"/api/sessions/{sid}/end", headers=auth)
    assert (await ended.json())["ok"]["phase"] == "ended"
    detail = (await (await client.get(f"/api/sessions/{sid}", headers=auth)).json())["ok"]
    assert detail["phase"] == "ended"


async def test_reissued_link_revokes_the_old_one(make_client: AppClient) -> None:
    from server.appkeys import LINKS

    client, auth = await signed_in(make_client)
    sid = (await (await client.post("/api/sessions", headers=auth, json={"title": "x"})).json()
           )["ok"]["id"]
    added = (await (await client.post(f"/api/sessions/{sid}/participants", headers=auth,
                                      json={"display_name": "A", "role": "client"})).json())["ok"]
    old = added["link"].split("#", 1)[1]
    await client.app[LINKS].verify(old)
    await client.post(f"/api/sessions/{sid}/participants/{added['participant_id']}/link",
                      headers=auth)
    import pytest

    from signaling.tokens import LinkError

    with pytest.raises(LinkError):
        await client.app[LINKS].verify(old)


async def test_other_therapists_sessions_are_not_found(make_client: AppClient) -> None:
    client, auth = await signed_in(make_client)
    sid = (await (await client.post("/api/sessions", headers=auth, json={"title": "x"})).json()
           )["ok"]["id"]
    name = await signup(client)
    resp = await client.post("/api/login", json={"username": name, "password": PASSWORD})
    other = {"Cookie": f"hearth_login={login_cookie(resp)}"}
    for method, path in (("GET", f"/api/sessions/{sid}"), ("POST", f"/api/sessions/{sid}/end"),
                         ("POST", f"/api/sessions/{sid}/participants")):
        r = await client.request(method, path, headers=other,
                                 json={"display_name": "x", "role": "client"})
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "not_found"
    assert (await client.get("/api/sessions")).status == 401


async def test_bad_session_bodies(make_client: AppClient) -> None:
    client, auth = await signed_in(make_client)
    for body in ({"title": ""}, {"title": "x", "ends_at": 10}, {"title": "x", "starts_at": 10,
                 "ends_at": 5}, {"title": "x", "owner": "me"}, {"title": "x" * 200}):
        r = await client.post("/api/sessions", headers=auth, json=body)
        assert r.status == 400, body
    sid = (await (await client.post("/api/sessions", headers=auth, json={"title": "x"})).json()
           )["ok"]["id"]
    for body in ({"display_name": "x", "role": "therapist"}, {"display_name": "x",
                 "role": "admin"}, {"display_name": "", "role": "client"},
                 {"display_name": "k", "role": "child", "guardian_of": ["nobody"]}):
        r = await client.post(f"/api/sessions/{sid}/participants", headers=auth, json=body)
        assert r.status in (400, 404, 409), body


async def test_openapi_documents_every_api_route(make_client: AppClient) -> None:
    client = await make_client()
    doc = await (await client.get("/api/openapi.json")).json()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    registered = {
        (r.method, r.resource.canonical)  # type: ignore[union-attr]
        for r in client.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/")
        and r.method != "HEAD" and r.resource.canonical != "/api/openapi.json"
    }
    assert registered == documented
    assert len(OPERATIONS) == len(documented)

"""Every REST route's real success body matches the response schema the OpenAPI document
publishes for it (generated from server/responses.py; unknown fields refused)."""

from __future__ import annotations

import json
import time
from typing import Any

import jsonschema_rs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.appkeys import RUNTIME
from server.openapi import OPERATIONS, build_document
from testkit.documented import DocumentedResponses
from tests.server.conftest import AppClient
from tests.server.test_login import PASSWORD, login_cookie

ORIGIN = {"Origin": "https://hearth.test"}
ACCOUNT_AND_SESSION_PATHS = {
    "/api/setup", "/api/login", "/api/logout", "/api/me", "/api/sessions",
    "/api/sessions/{session_id}", "/api/sessions/{session_id}/participants",
    "/api/sessions/{session_id}/participants/{participant_id}/link",
    "/api/sessions/{session_id}/participants/{participant_id}/invite.ics",
    "/api/sessions/{session_id}/join", "/api/sessions/{session_id}/end",
    # session plans
    "/api/plans", "/api/plans/{pid}", "/api/sessions/{session_id}/plan",
    "/api/series/{sid}/plan",
}


def test_every_route_documents_its_success_body() -> None:
    """No JSON route answers an undescribed ``ok``: each names its response model."""
    undocumented = [(op.method, op.path) for op in OPERATIONS
                    if op.content == "application/json" and op.response is None
                    and not op.logout]
    assert undocumented == []
    doc = build_document("https://hearth.test")
    for op in OPERATIONS:
        success = doc["paths"][op.path][op.method]["responses"][str(op.ok)]
        assert success["content"][op.content]["schema"], (op.method, op.path)


async def test_an_answer_its_schema_refuses_is_reported() -> None:
    """The check every live suite runs catches a handler that drifts from its model."""
    documented = DocumentedResponses()
    app = web.Application(middlewares=[documented.middleware()])
    good = {"account_id": "a", "username": "u", "display_name": "Dr. A", "totp": False,
            "idle_seconds": 1}

    async def me(request: web.Request) -> web.Response:
        body = good if request.query.get("good") else {**good, "password": "x"}
        return web.json_response({"ok": body})

    app.router.add_get("/api/me", me)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.get("/api/me?good=1")).status == 200
        assert documented.problems == []
        assert documented.checked == {("get", "/api/me")}
        assert (await client.get("/api/me")).status == 200
    assert len(documented.problems) == 1
    assert "password" in documented.problems[0]


# The first-run setup link exists only on an empty store (the Redis fixture is shared).
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_every_route_answers_what_its_schema_says(make_client: AppClient) -> None:
    client = await make_client()
    doc = await (await client.get("/api/openapi.json")).json()
    setup_url = client.app[RUNTIME].setup_url
    assert setup_url is not None
    answers: dict[tuple[str, str], tuple[int, str, Any]] = {}

    async def call(method: str, path: str, template: str, body: Any = None,
                   auth: dict[str, str] | None = None) -> Any:
        r = await client.request(method.upper(), path, json=body,
                                 headers={**ORIGIN, **(auth or {})})
        text = await r.text()
        answers[(method, template)] = (r.status, r.content_type, text)
        assert r.status < 300, (path, r.status, text)
        return (await r.json())["ok"] if r.content_type == "application/json" else text

    await call("post", "/api/setup", "/api/setup",
               {"token": setup_url.split("#", 1)[1], "username": "dr.schema",
                "password": PASSWORD})
    r = await client.post("/api/login", json={"username": "dr.schema", "password": PASSWORD},
                          headers=ORIGIN)
    auth = {"Cookie": f"hearth_login={login_cookie(r)}"}
    await call("post", "/api/login", "/api/login",
               {"username": "dr.schema", "password": PASSWORD})
    await call("get", "/api/me", "/api/me", auth=auth)
    await call("patch", "/api/me", "/api/me", {"display_name": "Dr. Schema"}, auth=auth)
    now = time.time()
    sid = (await call("post", "/api/sessions", "/api/sessions",
                      {"title": "Family", "starts_at": now, "ends_at": now + 3600},
                      auth=auth))["id"]
    await call("get", "/api/sessions", "/api/sessions", auth=auth)
    base = "/api/sessions/{session_id}"
    pid = (await call("post", f"/api/sessions/{sid}/participants", base + "/participants",
                      {"display_name": "Alex", "role": "client"}, auth=auth))["participant_id"]
    await call("get", f"/api/sessions/{sid}", base, auth=auth)
    link = base + "/participants/{participant_id}/link"
    await call("post", f"/api/sessions/{sid}/participants/{pid}/link", link, auth=auth)
    await call("get", f"/api/sessions/{sid}/participants/{pid}/link", link, auth=auth)
    await call("get", f"/api/sessions/{sid}/participants/{pid}/invite.ics",
               base + "/participants/{participant_id}/invite.ics", auth=auth)
    await call("delete", f"/api/sessions/{sid}/participants/{pid}/link", link, auth=auth)
    await call("post", f"/api/sessions/{sid}/join", base + "/join", auth=auth)
    plan = {"name": "Short", "phases": [{"name": "Joint", "minutes": 20}]}
    made = await call("post", "/api/plans", "/api/plans", plan, auth=auth)
    await call("get", "/api/plans", "/api/plans", auth=auth)
    await call("get", f"/api/plans/{made['id']}", "/api/plans/{pid}", auth=auth)
    await call("put", f"/api/plans/{made['id']}", "/api/plans/{pid}", plan, auth=auth)
    await call("put", f"/api/sessions/{sid}/plan", base + "/plan", {"plan_id": made["id"]},
               auth=auth)
    await call("delete", f"/api/plans/{made['id']}", "/api/plans/{pid}", auth=auth)
    home = await client.post("/api/households", headers={**ORIGIN, **auth}, json={
        "label": "H", "members": [{"name": "M", "role": "client"}]})
    series = await client.post("/api/series", headers={**ORIGIN, **auth}, json={
        "household_id": (await home.json())["ok"]["id"], "weekdays": [0],
        "start_time": "19:00", "first_date": "2027-01-04", "count": 2})
    srid = (await series.json())["ok"]["id"]
    await call("put", f"/api/series/{srid}/plan", "/api/series/{sid}/plan",
               {"plan_id": "default-couples"}, auth=auth)
    await call("get", f"/api/series/{srid}/plan", "/api/series/{sid}/plan", auth=auth)
    await call("post", f"/api/sessions/{sid}/end", base + "/end", auth=auth)
    await call("post", "/api/logout", "/api/logout", auth=auth)

    # The account, session and plan routes are all called here; the program, records and join
    # routes are checked wherever the live suites call them (testkit/documented.py).
    assert set(answers) == {(op.method, op.path) for op in OPERATIONS
                            if op.path in ACCOUNT_AND_SESSION_PATHS}
    for (method, path), (status, content_type, text) in answers.items():
        responses = doc["paths"][path][method]["responses"]
        assert str(status) in responses, (method, path, status)
        schema = responses[str(status)]["content"][content_type]["schema"]
        body: Any = text
        if content_type == "application/json":
            body = json.loads(text)
        # Resolve #/components/... against the served document itself.
        jsonschema_rs.validate({**schema, "components": doc["components"]}, body)
    # A field the schema does not know is refused (the models are closed).
    me = doc["paths"]["/api/me"]["get"]["responses"]["200"]["content"]["application/json"]
    closed = jsonschema_rs.validator_for({**me["schema"], "components": doc["components"]})
    me_body = {"account_id": "a", "username": "u", "display_name": "Dr. A", "totp": False,
               "idle_seconds": 1}
    assert closed.is_valid({"ok": me_body})
    assert not closed.is_valid({"ok": {**me_body, "extra": 1}})

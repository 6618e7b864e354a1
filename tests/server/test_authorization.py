"""Every REST route for every staff role, from one table that must list every route.

The table is checked against the app's router, so a route added without a row
fails here. Each cell is the status the role gets on the same objects: an
occurrence session of a series (its therapist is "owner", its co-therapist "co"),
a household and a member of it. Rows run in order, so the owner's destructive
calls (end, sign out) come last.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, PROGRAM
from tests.server.conftest import AppClient
from tests.server.test_login import PASSWORD

ROLES = ("anon", "deactivated", "other", "co", "admin", "owner")
S = "/api/sessions/{session_id}"
P = S + "/participants/{participant_id}"
R = "/api/series/{sid}"
L = R + "/members/{mid}"
RS = "/api/records/sessions/{session_id}"
C = "/api/clinical/sessions/{session_id}"
RH = "/api/records/households/{household_id}/target"
CONSENT_DOC = {"kind": "telehealth", "title": "T",
               "text": "Consent text, second version, for the clinic."}
PLAN_BODY = {"name": "Short", "phases": [{"name": "Joint", "minutes": 20}]}
SERIES_BODY = {"household_id": "{hid}", "weekdays": [1], "start_time": "18:00",
               "first_date": "2027-01-05", "count": 2}

# (method, path, body): statuses for anon, deactivated, other, co, admin, owner
TABLE: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("POST", "/api/setup", {"token": "x" * 20, "username": "nobody", "password": "x" * 12},
     (400, 400, 400, 400, 400, 400)),
    ("POST", "/api/login", {"username": "nobody", "password": "wrong"},
     (401, 401, 401, 401, 401, 401)),
    ("GET", "/api/me", None, (401, 200, 200, 200, 200, 200)),
    ("GET", "/api/openapi.json", None, (200, 200, 200, 200, 200, 200)),
    ("POST", "/api/join/status", {"token": "not-a-real-token"}, (200,) * 6),
    ("GET", "/api/clinic", None, (401, 403, 200, 200, 200, 200)),
    ("PUT", "/api/clinic", {"name": "Northside IOP", "timezone": "America/Chicago",
                            "default_duration_minutes": 60},
     (401, 403, 403, 403, 200, 403)),
    ("GET", "/api/staff", None, (401, 403, 200, 403, 200, 200)),
    ("POST", "/api/staff/invites", {"role": "therapist"}, (401, 403, 403, 403, 201, 403)),
    ("POST", "/api/staff/{account_id}/deactivate", None, (401, 403, 403, 403, 200, 403)),
    ("POST", "/api/staff/{account_id}/activate", None, (401, 403, 403, 403, 200, 403)),
    ("GET", "/api/households", None, (401, 403, 200, 200, 200, 200)),
    ("POST", "/api/households", {"label": "H", "members": [{"name": "A", "role": "client"}]},
     (401, 403, 201, 403, 201, 201)),
    ("GET", "/api/households/{hid}", None, (401, 403, 404, 404, 200, 200)),
    ("POST", "/api/households/{hid}/members", {"name": "B", "role": "partner"},
     (401, 403, 404, 404, 201, 201)),
    ("PATCH", "/api/households/{hid}/members/{mid}", {"emergency_contact": "555 0100"},
     (401, 403, 404, 404, 200, 200)),
    ("DELETE", "/api/households/{hid}/members/{mid}", None,
     (401, 403, 404, 404, 200, 404)),  # the admin removed them first
    ("GET", "/api/series", None, (401, 403, 200, 200, 200, 200)),
    ("POST", "/api/series", SERIES_BODY, (401, 403, 404, 403, 201, 201)),
    ("GET", R, None, (401, 403, 404, 200, 200, 200)),
    ("POST", R + "/occurrences/{index}", {"cancelled": True}, (401, 403, 404, 404, 200, 200)),
    ("POST", R + "/occurrences/{index}/join", None, (401, 403, 404, 200, 403, 200)),
    ("POST", L + "/link", None, (401, 403, 404, 404, 201, 201)),
    ("GET", L + "/link", None, (401, 403, 404, 404, 200, 200)),
    ("GET", L + "/invite.ics", None, (401, 403, 404, 404, 200, 200)),
    ("POST", L + "/email", None, (401, 403, 404, 404, 409, 409)),  # no SMTP here
    ("DELETE", L + "/link", None, (401, 403, 404, 404, 200, 200)),
    ("GET", "/api/plans", None, (401, 403, 200, 200, 200, 200)),
    ("POST", "/api/plans", PLAN_BODY, (401, 403, 201, 403, 201, 201)),
    ("GET", "/api/plans/{pid}", None, (401, 403, 200, 200, 200, 200)),
    ("PUT", "/api/plans/{pid}", PLAN_BODY, (401, 403, 200, 403, 200, 200)),
    ("DELETE", "/api/plans/{pid}", None, (401, 403, 200, 403, 200, 200)),
    ("GET", R + "/plan", None, (401, 403, 404, 200, 200, 200)),
    ("PUT", R + "/plan", {"plan_id": "default-couples"}, (401, 403, 404, 404, 200, 200)),
    ("PUT", S + "/plan", {"plan_id": "default-couples"}, (401, 403, 404, 403, 403, 200)),
    ("GET", "/api/sessions", None, (401, 403, 200, 200, 200, 200)),
    ("POST", "/api/sessions", {"title": "One-off"}, (401, 403, 201, 403, 201, 201)),
    ("GET", S, None, (401, 403, 404, 200, 200, 200)),
    ("POST", S + "/participants", {"display_name": "Gran", "role": "family"},
     (401, 403, 404, 403, 403, 201)),
    ("POST", P + "/link", None, (401, 403, 404, 403, 403, 200)),
    ("GET", P + "/link", None, (401, 403, 404, 403, 403, 200)),
    ("GET", P + "/invite.ics", None, (401, 403, 404, 403, 403, 200)),
    ("DELETE", P + "/link", None, (401, 403, 404, 403, 403, 200)),
    ("POST", S + "/join", None, (401, 403, 404, 200, 403, 200)),
    ("GET", C + "/notes", None, (401, 403, 404, 200, 200, 200)),  # admin: shared only
    ("POST", C + "/notes", {"text": "A note"}, (401, 403, 404, 201, 403, 201)),
    ("PUT", C + "/notes/{note_id}", {"text": "Edited"}, (401, 403, 404, 404, 403, 404)),
    ("DELETE", C + "/notes/{note_id}", None, (401, 403, 404, 404, 403, 404)),
    ("GET", C + "/notes/export?format=json", None, (401, 403, 404, 200, 200, 200)),
    ("GET", C + "/safety", None, (401, 403, 404, 200, 200, 200)),
    ("GET", "/api/clinical/settings", None, (401, 403, 200, 200, 200, 200)),
    ("PUT", "/api/clinical/settings", {"location_at_join": False, "crisis_lines": []},
     (401, 403, 403, 403, 200, 403)),
    ("GET", "/api/clinical/location", None, (401,) * 6),  # a personal link only
    ("PUT", "/api/clinical/location", {"place": "Home", "region": "Oregon"}, (401,) * 6),
    ("POST", S + "/end", None, (401, 403, 404, 403, 403, 200)),
    ("GET", "/api/join/{session_id}", None, (401,) * 6),
    ("POST", "/api/join/exchange", {"token": "not-a-real-token"}, (403,) * 6),
    ("POST", "/api/join/{session_id}/leave", None, (200,) * 6),
    ("PATCH", "/api/me", {"display_name": "Dr. R"}, (401, 200, 200, 200, 200, 200)),
    ("POST", "/api/me/totp", None, (401, 200, 200, 200, 200, 200)),
    ("POST", "/api/me/totp/confirm", {"otp": "000000"}, (401, 400, 400, 400, 400, 400)),
    ("GET", S + "/audit", None, (401, 403, 404, 200, 200, 200)),
    ("POST", P + "/restore", None, (401, 403, 404, 403, 403, 409)),
    ("GET", RS + "/attendance", None, (401, 403, 404, 200, 200, 200)),
    ("GET", "/api/records/attendance?from=2027-01-01&to=2027-01-31", None,
     (401, 403, 200, 200, 200, 200)),
    ("GET", RH, None, (401, 403, 404, 404, 200, 200)),
    ("PUT", RH, {"hours": 9}, (401, 403, 404, 404, 200, 200)),
    ("GET", "/api/records/consent/documents", None, (401, 403, 200, 200, 200, 200)),
    ("POST", "/api/records/consent/documents", CONSENT_DOC, (401, 403, 403, 403, 201, 403)),
    ("GET", RS + "/consent", None, (401, 403, 404, 200, 200, 200)),
    ("POST", RS + "/participants/{participant_id}/consent/withdraw", {"kind": "telehealth"},
     (401, 403, 404, 201, 201, 201)),
    ("GET", "/api/records/consent/ledger", None, (401, 403, 200, 200, 200, 200)),
    ("GET", "/api/consent", None, (401,) * 6),
    ("POST", "/api/consent/accept", {"kind": "telehealth", "hash": "0" * 64}, (401,) * 6),
    ("POST", "/api/consent/withdraw", {"kind": "telehealth"}, (401,) * 6),
    ("POST", "/api/logout", None, (200,) * 6),
]


async def staff(client: TestClient[Any, Any], name: str, role: str) -> tuple[str, str]:
    """Create a staff account through an invite; return (account id, login cookie)."""
    program = client.app[PROGRAM]
    link = await program.invite_staff(role)  # type: ignore[arg-type]
    account = await program.accept_invite(link.split("#", 1)[1], name, PASSWORD)
    resp = await client.post("/api/login", json={"username": name, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return account.id, str(resp.cookies["hearth_login"].value)


async def test_every_route_for_every_role(make_client: AppClient) -> None:
    client = await make_client()
    admin = await client.app[ACCOUNTS].create("admin.a", PASSWORD)
    await client.app[PROGRAM].make_admin(admin)
    resp = await client.post("/api/login", json={"username": "admin.a", "password": PASSWORD})
    cookies = {"admin": str(resp.cookies["hearth_login"].value)}
    ids: dict[str, str] = {}
    for role, kind in (("owner", "therapist"), ("other", "therapist"), ("co", "co_therapist"),
                       ("deactivated", "therapist"), ("spare", "therapist")):
        ids[role], cookies[role] = await staff(client, f"{role}.x", kind)

    def auth(role: str) -> dict[str, str]:
        return {"Cookie": f"hearth_login={cookies[role]}"} if role in cookies else {}

    async def ok(method: str, path: str, body: Any = None) -> Any:
        r = await client.request(method, path, json=body, headers=auth("owner"))
        assert r.status < 300, await r.text()
        return (await r.json())["ok"]

    home = await ok("POST", "/api/households", {"label": "Rivera", "members": [
        {"name": "Maria", "role": "client"}, {"name": "Ben", "role": "parent"},
        {"name": "Gran", "role": "other_family"}]})
    series = await ok("POST", "/api/series", {**SERIES_BODY, "household_id": home["id"],
                                              "co_therapist": ids["co"]})
    joined = await ok("POST", f"/api/series/{series['id']}/occurrences/0/join")
    member = home["members"][0]["id"]
    await ok("POST", f"/api/sessions/{joined['session_id']}/participants/{member}/link")
    resp = await client.post(f"/api/staff/{ids['deactivated']}/deactivate",
                             headers=auth("admin"))
    assert resp.status == 200
    fill = {"session_id": joined["session_id"], "participant_id": member, "sid": series["id"],
            "mid": member, "hid": home["id"], "index": "0", "account_id": ids["spare"],
            "spare_member": home["members"][2]["id"], "household_id": home["id"],
            "pid": "default-couples", "note_id": "0000000000000000"}

    registered = {(r.method, r.resource.canonical)  # type: ignore[union-attr]
                  for r in client.app.router.routes()
                  if r.resource is not None and r.resource.canonical.startswith("/api/")
                  and r.method != "HEAD"}
    assert {(m, p.split("?")[0]) for m, p, _, _ in TABLE} == registered

    got: dict[tuple[str, str], tuple[int, ...]] = {}
    for method, template, body, _ in TABLE:
        path = template.format(**fill)
        if template == "/api/households/{hid}/members/{mid}":
            path = template.format(**{**fill, "mid": fill["spare_member"]})
        if template.endswith("/occurrences/{index}"):
            path = template.format(**{**fill, "index": "1"})  # cancel the second one
        data = body
        if isinstance(body, dict) and body.get("household_id") == "{hid}":
            data = {**body, "household_id": home["id"]}
        row = []
        for role in ROLES:
            if template == "/api/login":  # one account per role: stay under the rate limit
                data = {**body, "username": f"nobody.{role}"}
            r = await client.request(method, path, json=data, headers=auth(role))
            if r.status >= 400 and r.content_type == "application/json":
                assert "code" in (await r.json())["error"]
            row.append(r.status)
        got[(method, template)] = tuple(row)
    assert got == {(m, p): want for m, p, _, want in TABLE}


async def test_deactivated_cannot_sign_in_and_admin_still_reads_their_sessions(
    make_client: AppClient,
) -> None:
    client = await make_client()
    admin = await client.app[ACCOUNTS].create("admin.b", PASSWORD)
    await client.app[PROGRAM].make_admin(admin)
    resp = await client.post("/api/login", json={"username": "admin.b", "password": PASSWORD})
    admin_auth = {"Cookie": f"hearth_login={resp.cookies['hearth_login'].value}"}
    tid, cookie = await staff(client, "leaving.t", "therapist")
    made = await client.post("/api/sessions", json={"title": "Thursday"},
                             headers={"Cookie": f"hearth_login={cookie}"})
    sid = (await made.json())["ok"]["id"]
    assert (await client.post(f"/api/staff/{tid}/deactivate", headers=admin_auth)).status == 200
    refused = await client.post("/api/login", json={"username": "leaving.t",
                                                    "password": PASSWORD})
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "deactivated"
    still = await client.get("/api/sessions", headers={"Cookie": f"hearth_login={cookie}"})
    assert still.status == 403
    listed = await (await client.get("/api/sessions", headers=admin_auth)).json()
    assert sid in [s["id"] for s in listed["ok"]]
    assert (await client.get(f"/api/sessions/{sid}", headers=admin_auth)).status == 200
    staff_list = (await (await client.get("/api/staff", headers=admin_auth)).json())["ok"]
    shown = {s["username"]: s["active"] for s in staff_list}
    assert shown["admin.b"] is True
    assert shown["leaving.t"] is False
    # The admin cannot lock themselves out.
    own = await client.post(f"/api/staff/{admin.id}/deactivate", headers=admin_auth)
    assert own.status == 409

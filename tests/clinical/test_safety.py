"""The safety panel: location confirmed at pre-join (required when the clinic asks),
each person's emergency contact, crisis line for their region and safety plan link,
read only by the session's clinicians; locations sealed at rest."""

from __future__ import annotations

import uuid
from typing import Any

from testkit.live import Live, accept_consent, token_of
from tests.clinical.helpers import at_rest, audit_actions, rest

LINES = [{"region": "Oregon", "label": "Oregon crisis line", "phone": "988"},
         {"region": "*", "label": "Emergency services", "phone": "911"}]


async def household_session(live: Live, dr: Any) -> tuple[str, dict[str, str]]:
    household = await dr.api("POST", "/api/households", {"label": "Rivera", "members": [
        {"name": "Alex", "role": "client", "emergency_contact": "Sam Rivera, +1 503 555 0100",
         "safety_plan_url": "https://plans.example/alex"},
        {"name": "Blair", "role": "partner"}]})
    sid = (await dr.api("POST", "/api/sessions",
                        {"title": "Couple", "household_id": household["id"]}))["id"]
    tokens = {}
    for m in household["members"]:
        link = await dr.api("POST", f"/api/sessions/{sid}/participants/{m['id']}/link")
        tokens[m["name"]] = token_of(link["link"])
        await accept_consent(live.url, tokens[m["name"]])
    tokens["Dr"] = await dr.join_token(sid)
    return sid, tokens


async def test_location_is_required_when_asked_and_shown_to_clinicians(live: Live) -> None:
    dr = await live.therapist(admin=True)
    status, _ = await rest(live, "none", "PUT", "/api/clinical/settings", {})
    assert status == 401
    settings = await dr.api("PUT", "/api/clinical/settings",
                            {"location_at_join": True, "crisis_lines": LINES})
    assert settings["location_at_join"] is True
    sid, tokens = await household_session(live, dr)
    therapist = await live.client(tokens["Dr"])
    await therapist.ok("join", {"consent_version": "v"})
    alex = await live.client(tokens["Alex"])
    assert await alex.error("join", {"consent_version": "v"}) == "location_required"
    status, mine = await rest(live, tokens["Alex"], "GET", "/api/clinical/location")
    assert status == 200
    assert mine["ok"] == {"asked": True, "location": None}
    for bad in ({"place": "x", "region": "Oregon"}, {"place": "Home office"},
                {"place": "Home", "region": "<b>"}, {"place": "Home", "region": "OR", "x": 1}):
        status, answer = await rest(live, tokens["Alex"], "PUT", "/api/clinical/location", bad)
        assert status == 400, bad
        assert answer["error"]["code"] == "invalid"
    canary = f"Cabin {uuid.uuid4().hex}"
    status, _ = await rest(live, tokens["Alex"], "PUT", "/api/clinical/location",
                           {"place": canary, "region": "oregon"})
    assert status == 200
    await alex.ok("join", {"consent_version": "v"})
    blair = await live.client(tokens["Blair"])
    await rest(live, tokens["Blair"], "PUT", "/api/clinical/location",
               {"place": "At work", "region": "Ontario"})
    await blair.ok("join", {"consent_version": "v"})
    # Clinicians only: from the session page's link, or signed in.
    for reader in (tokens["Dr"], None):
        if reader is None:
            panel = await dr.api("GET", f"/api/clinical/sessions/{sid}/safety")
        else:
            status, body = await rest(live, reader, "GET", f"/api/clinical/sessions/{sid}/safety")
            assert status == 200
            panel = body["ok"]
        people = {p["name"]: p for p in panel["people"]}
        assert set(people) == {"Alex", "Blair"}
        assert people["Alex"]["location"]["place"] == canary
        assert people["Alex"]["location"]["region"] == "oregon"
        assert people["Alex"]["emergency_contact"] == "Sam Rivera, +1 503 555 0100"
        assert people["Alex"]["safety_plan_url"] == "https://plans.example/alex"
        assert [c["phone"] for c in people["Alex"]["crisis_lines"]] == ["988"]
        assert [c["phone"] for c in people["Blair"]["crisis_lines"]] == ["911"]
        assert people["Blair"]["emergency_contact"] is None
    status, body = await rest(live, tokens["Alex"], "GET", f"/api/clinical/sessions/{sid}/safety")
    assert status == 404
    assert body["error"]["code"] == "not_found"
    for name, events in ((n, c.received) for n, c in (("Alex", alex), ("Blair", blair))):
        assert canary not in str(dict(events)), name
    assert canary.encode() not in await at_rest(live)
    actions = [e["action"] for e in await audit_actions(live)]
    assert actions.count("safety_panel_read") == 2
    assert actions.count("location_confirmed") == 2
    assert "safety_settings_changed" in actions


async def test_location_not_asked_unless_the_clinic_asks(live: Live) -> None:
    dr = await live.therapist(admin=True)
    _, tokens = await household_session(live, dr)
    status, mine = await rest(live, tokens["Alex"], "GET", "/api/clinical/location")
    assert status == 200
    assert mine["ok"] == {"asked": False, "location": None}
    alex = await live.client(tokens["Alex"])
    await alex.ok("join", {"consent_version": "v"})
    co = await live.therapist()
    async with co.http.put(f"{live.url}/api/clinical/settings",
                           json={"location_at_join": True}) as r:
        assert r.status == 403
    bad = {"crisis_lines": [{"region": "X1", "label": "L", "phone": "call me"}]}
    async with dr.http.put(f"{live.url}/api/clinical/settings", json=bad) as r:
        assert r.status == 400

"""Session-plan templates over REST: shipped defaults, edits, validation, audit, and a
series' plan reaching each occurrence's session. A live server on both backends."""

from __future__ import annotations

import pytest

from rooms.model import PlanLayout, PlanStatus
from server.appkeys import LIVE, PROGRAM, ROOMS
from server.clinical.plans import PlanRecord
from server.clinical.plans_api import ROUTES
from server.program import recurrence
from testkit.live import Live, Therapist
from tests.program.test_series_links import evening_series, household

pytestmark = pytest.mark.timeout(120)


async def status_of(dr: Therapist, method: str, path: str, body: object = None
                    ) -> tuple[int, dict[str, object]]:
    async with dr.http.request(method, f"{dr.live.url}{path}", json=body) as r:
        return r.status, await r.json()


async def audit_actions(live: Live) -> list[str]:
    return [e["action"] for e in await live.app[LIVE].audit_log.entries()]


async def test_defaults_edits_and_coded_refusals(live: Live) -> None:
    dr = await live.therapist()
    plans = await dr.api("GET", "/api/plans")
    for plan in plans:  # the documented response model, unknown fields refused
        PlanRecord.model_validate(plan)
    assert [p["id"] for p in plans][:3] == ["default-couples", "default-family",
                                            "default-group"]
    couples = plans[0]
    assert [(p["name"], p["minutes"]) for p in couples["phases"]] == [
        ("Joint", 20), ("Partners apart", 15), ("Joint", 10)]

    edited = {"name": "Couples, longer apart", "phases": [
        {"name": "Joint", "minutes": 15}, {"name": "Apart", "minutes": 25,
                                           "layout": "each_client_with_clinician"}]}
    saved = await dr.api("PUT", "/api/plans/default-couples", edited)
    PlanRecord.model_validate(saved)
    assert saved["owner"] is not None
    assert (await dr.api("GET", "/api/plans/default-couples"))["name"] == "Couples, longer apart"
    await dr.api("DELETE", "/api/plans/default-couples")  # back to how it shipped
    assert (await dr.api("GET", "/api/plans/default-couples"))["phases"][1]["minutes"] == 15

    custom = await dr.api("POST", "/api/plans", {"name": "Two rooms", "phases": [
        {"name": "Split", "minutes": 10, "layout": "custom", "rooms": [
            {"name": "Adults", "roles": ["partner", "therapist"]},
            {"name": "Kids", "roles": ["child", "co_therapist"]}]}]})
    assert custom["id"].startswith("plan-")
    assert custom["id"] in [p["id"] for p in await dr.api("GET", "/api/plans")]

    for body, where in (
        ({"name": "x", "phases": []}, "phases"),
        ({"name": "x", "phases": [{"name": "a", "minutes": 0}]}, "minutes"),
        ({"name": "x", "phases": [{"name": "a", "minutes": 5, "layout": "custom"}]}, "rooms"),
        ({"name": "x", "phases": [{"name": "a", "minutes": 5, "layout": "teleport"}]},
         "layout"),
        ({"name": "x", "phases": [{"name": "a", "minutes": 5}], "owner": "me"}, "owner"),
    ):
        status, data = await status_of(dr, "POST", "/api/plans", body)
        assert status == 400, data
        error = data["error"]
        assert isinstance(error, dict)
        assert error["code"] == "invalid"
        assert where in str(error["message"])
    status, data = await status_of(dr, "PUT", "/api/plans/plan-nothere", edited)
    assert status == 404
    actions = await audit_actions(live)
    assert {"plan_update", "plan_delete", "plan_create"} <= set(actions)


async def test_a_series_plan_reaches_each_occurrence(live: Live) -> None:
    dr = await live.therapist()
    home = await household(dr)
    series = await evening_series(dr, home["id"])
    await dr.api("PUT", f"/api/series/{series['id']}/plan", {"plan_id": "default-family"})
    assert (await dr.api("GET", f"/api/series/{series['id']}/plan"))["plan_id"] == \
        "default-family"
    program = live.app[PROGRAM]
    record = await program.series_record(series["id"])
    assert record is not None
    occ = await program.materialize(record, recurrence.occurrences(record)[0])
    session = await live.app[ROOMS].get(occ.session_id)
    assert session is not None
    assert session.plan.status is PlanStatus.READY
    assert session.plan.plan_id == "default-family"
    assert session.plan.phases[1].layout is PlanLayout.PARENTS_AND_CHILDREN
    # Household members carry their household, for the "each household alone" layout.
    assert {p.household for p in session.participants.values() if not p.clinician} == \
        {home["id"]}
    assert "plan_attach_series" in await audit_actions(live)


def test_every_plan_route_names_its_response_model() -> None:
    assert all(r["response"] is not None for r in ROUTES)


async def test_attaching_to_a_session_needs_its_therapist(live: Live) -> None:
    owner, other = await live.therapist(), await live.therapist()
    sid = await owner.session()
    status, data = await status_of(other, "PUT", f"/api/sessions/{sid}/plan",
                                   {"plan_id": "default-couples"})
    assert status == 404, data
    await owner.api("PUT", f"/api/sessions/{sid}/plan", {"plan_id": "default-couples"})
    session = await live.app[ROOMS].get(sid)
    assert session is not None
    assert session.plan.name.startswith("Couples")
    status, data = await status_of(owner, "PUT", f"/api/sessions/{sid}/plan",
                                   {"plan_id": "nope"})
    assert status == 404, data

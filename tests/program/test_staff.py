"""Staff invited with a one-time setup link, through the same /api/setup the first admin uses."""

from __future__ import annotations

import aiohttp

from server.appkeys import ACCOUNTS, LIVE, PROGRAM
from testkit.live import PASSWORD, Live, Therapist


async def admin(live: Live) -> Therapist:
    account = await live.app[ACCOUNTS].create("clinic.admin", PASSWORD)
    await live.app[PROGRAM].make_admin(account)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(f"{live.url}/api/login", json={"username": "clinic.admin",
                                                         "password": PASSWORD}) as r:
        assert r.status == 200
    return Therapist(live, http)


async def test_invite_setup_sign_in_with_role(live: Live) -> None:
    boss = await admin(live)
    try:
        await boss.api("PUT", "/api/clinic", {
            "name": "Northside IOP", "timezone": "America/Chicago",
            "default_duration_minutes": 75,
            "crisis_lines": [{"label": "988 Suicide & Crisis Lifeline", "phone": "988"}]})
        invite = await boss.api("POST", "/api/staff/invites", {"role": "co_therapist"})
        token = invite["link"].split("/setup#", 1)[1]
        body = {"token": token, "username": "co.lee", "password": PASSWORD}
        async with live.http.post(f"{live.url}/api/setup", json=body) as r:
            assert r.status == 201
        async with live.http.post(f"{live.url}/api/setup",
                                  json={**body, "username": "co.other"}) as r:
            assert r.status == 400
            assert "expired or already used" in (await r.json())["error"]["message"]
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        try:
            async with http.post(f"{live.url}/api/login", json={"username": "co.lee",
                                                                 "password": PASSWORD}) as r:
                assert r.status == 200
            async with http.get(f"{live.url}/api/clinic") as r:
                clinic = (await r.json())["ok"]
            assert clinic["role"] == "co_therapist"
            assert clinic["name"] == "Northside IOP"
            assert clinic["timezone"] == "America/Chicago"
            assert clinic["crisis_lines"][0]["phone"] == "988"
            async with http.post(f"{live.url}/api/households", json={
                    "label": "x", "members": [{"name": "y", "role": "client"}]}) as r:
                assert r.status == 403
        finally:
            await http.close()
        staff = await boss.api("GET", "/api/staff")
        roles = {s["username"]: s["role"] for s in staff}  # the Redis store is shared
        assert {k: roles.get(k) for k in ("clinic.admin", "co.lee")} == {
            "clinic.admin": "admin", "co.lee": "co_therapist"}
    finally:
        await boss.close()


async def test_first_run_setup_account_is_the_clinic_admin(live: Live) -> None:
    token = await live.app[ACCOUNTS].issue_setup_token(600)
    async with live.http.post(f"{live.url}/api/setup", json={
            "token": token, "username": "first.admin", "password": PASSWORD}) as r:
        assert r.status == 201
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        async with http.post(f"{live.url}/api/login", json={"username": "first.admin",
                                                             "password": PASSWORD}) as r:
            assert r.status == 200
        async with http.get(f"{live.url}/api/clinic") as r:
            assert (await r.json())["ok"]["role"] == "admin"
    finally:
        await http.close()


async def test_co_therapist_added_to_a_one_off_session_sees_and_joins_it(live: Live) -> None:
    boss = await admin(live)
    try:
        invite = await boss.api("POST", "/api/staff/invites", {"role": "co_therapist"})
        co = await live.app[PROGRAM].accept_invite(invite["link"].split("#", 1)[1], "co.kim",
                                                   PASSWORD)
        dr = await live.therapist()
        sid = await dr.session("Couples session")
        other = await dr.session("Someone else's")
        await dr.api("POST", f"/api/sessions/{sid}/participants", {
            "display_name": "Kim (co-therapist)", "role": "co_therapist", "account_id": co.id})
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        try:
            async with http.post(f"{live.url}/api/login", json={"username": "co.kim",
                                                                 "password": PASSWORD}) as r:
                assert r.status == 200
            async with http.get(f"{live.url}/api/sessions") as r:
                assert [s["id"] for s in (await r.json())["ok"]] == [sid]
            async with http.get(f"{live.url}/api/sessions/{other}") as r:
                assert r.status == 404
            async with http.post(f"{live.url}/api/sessions/{sid}/join") as r:
                link = (await r.json())["ok"]["link"]
            async with http.post(f"{live.url}/api/sessions/{sid}/end") as r:
                assert r.status == 403
        finally:
            await http.close()
        me = await live.client(link.split("#", 1)[1])
        joined = await me.ok("join", {"consent_version": "v"})
        assert joined is not None
    finally:
        await boss.close()


async def test_staff_and_series_link_actions_are_audited(live: Live) -> None:
    from tests.program.test_series_links import evening_series, household

    boss = await admin(live)
    try:
        invite = await boss.api("POST", "/api/staff/invites", {"role": "therapist"})
        token = invite["link"].split("/setup#", 1)[1]
        async with live.http.post(f"{live.url}/api/setup", json={
                "token": token, "username": "dr.audit", "password": PASSWORD}) as r:
            assert r.status == 201
        staff = {s["username"]: s["account_id"] for s in await boss.api("GET", "/api/staff")}
        await boss.api("POST", f"/api/staff/{staff['dr.audit']}/deactivate")
        await boss.api("POST", f"/api/staff/{staff['dr.audit']}/activate")
        home = await household(boss)
        maria = home["members"][0]["id"]
        series = (await evening_series(boss, home["id"]))["id"]
        await boss.api("POST", f"/api/series/{series}/members/{maria}/link")
        await boss.api("DELETE", f"/api/series/{series}/members/{maria}/link")
        entries = await live.app[LIVE].audit_log.entries()
        me = staff["clinic.admin"]
        seen = [(e["action"], e["actor"], e["subject"], e["session"], e["code"], e["outcome"])
                for e in entries if e["actor"] == me]
        assert ("staff_invited", me, None, None, "therapist", "ok") in seen
        assert ("staff_deactivated", me, staff["dr.audit"], None, None, "ok") in seen
        assert ("staff_activated", me, staff["dr.audit"], None, None, "ok") in seen
        assert ("series_link_issued", me, maria, series, None, "ok") in seen
        assert ("series_link_revoked", me, maria, series, None, "ok") in seen
        assert all(e["address"] for e in entries if e["actor"] == me)
        assert await live.app[LIVE].audit_log.verify() == []
        # Entries carry ids only: no name or email from the household.
        text = repr(entries)
        for secret in ("Maria", "Rivera", "maria@example.org", "dr.audit"):
            assert secret not in text
    finally:
        await boss.close()

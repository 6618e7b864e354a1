"""Sign-in throttling that cannot be turned against the therapist, TOTP with real codes,
and a display name so the sign-in name never reaches clients."""

from __future__ import annotations

import time
from typing import Any

import pyotp
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, LIVE, LOGINS
from server.auth import SignInThrottle
from tests.server.conftest import AppClient
from tests.server.test_login import PASSWORD, login_cookie, signup

PROXY = {"trusted_proxies": ("127.0.0.1",)}


def from_(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def attempt(client: TestClient[Any, Any], name: str, password: str, address: str,
                  otp: str | None = None) -> Any:
    body: dict[str, Any] = {"username": name, "password": password}
    if otp is not None:
        body["otp"] = otp
    return await client.post("/api/login", json=body, headers=from_(address))


async def test_a_spray_of_failures_never_locks_the_therapist_out(
        make_client: AppClient) -> None:
    client = await make_client(**PROXY)
    client.app[LOGINS].throttle.base_delay = 0.001  # the curve, scaled down for the test
    name = await signup(client)
    statuses = [(await attempt(client, name, "wrong password!", f"203.0.113.{i}")).status
                for i in range(12)]  # twelve addresses, one wrong guess each
    assert set(statuses) == {401}  # never 429: no address hit its own limit
    assert await client.app[LOGINS].throttle.account_delay(name) > 0  # but it slows down
    ok = await attempt(client, name, PASSWORD, "198.51.100.20")
    assert ok.status == 200  # the owner still gets in
    assert await client.app[LOGINS].throttle.account_delay(name) == 0


async def test_one_address_guessing_is_refused_then_backs_off(make_client: AppClient) -> None:
    client = await make_client(**PROXY)
    client.app[LOGINS].throttle.base_delay = 0.0
    name = await signup(client)
    codes = [(await attempt(client, name, "wrong password!", "203.0.113.66")).status
             for _ in range(11)]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    refused = await attempt(client, name, PASSWORD, "203.0.113.66")
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    # The therapist at another address is not affected.
    assert (await attempt(client, name, PASSWORD, "198.51.100.20")).status == 200


async def test_throttle_curves(any_store: Any) -> None:
    now = [1000.0]
    t = SignInThrottle(any_store, b"salt", clock=lambda: now[0])
    delays = []
    for _ in range(10):
        delays.append(await t.account_delay("dr.x"))
        await t.failed("dr.x", f"addr{len(delays)}")
    assert delays[:3] == [0, 0, 0]
    assert delays[3:7] == [0.5, 1, 2, 4]
    assert max(delays) == 8  # capped: a delay, never a lock-out
    waits = []
    for _ in range(13):
        await t.failed("dr.y", "one-address")
        waits.append(await t.address_wait("one-address"))
    assert waits[:9] == [0] * 9
    assert waits[9:12] == [5, 10, 20]
    now[0] += 21
    assert await t.address_wait("one-address") == 19  # 40 s back-off, 21 s elapsed


async def test_totp_with_real_codes(make_client: AppClient) -> None:
    client = await make_client()
    name = await signup(client)
    cookie = login_cookie(await client.post("/api/login",
                                            json={"username": name, "password": PASSWORD}))
    auth = {"Cookie": f"hearth_login={cookie}"}
    offer = (await (await client.post("/api/me/totp", headers=auth)).json())["ok"]
    assert offer["uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(offer["secret"])
    bad = await client.post("/api/me/totp/confirm", json={"otp": "000000"}, headers=auth)
    assert bad.status == 400
    ok = await client.post("/api/me/totp/confirm", json={"otp": totp.now()}, headers=auth)
    assert ok.status == 200
    missing = await client.post("/api/login", json={"username": name, "password": PASSWORD})
    assert missing.status == 401
    assert (await missing.json())["error"]["code"] == "otp_required"
    wrong = await client.post("/api/login", json={"username": name, "password": PASSWORD,
                                                  "otp": totp.at(time.time() - 3600)})
    assert (await wrong.json())["error"]["code"] == "bad_otp"
    # A code works once (the confirm used the current one): the next step's code signs in.
    code = totp.at(time.time() + 30)
    good = await client.post("/api/login", json={"username": name, "password": PASSWORD,
                                                 "otp": code})
    assert good.status == 200, await good.text()
    replay = await client.post("/api/login", json={"username": name, "password": PASSWORD,
                                                   "otp": code})
    assert (await replay.json())["error"]["code"] == "bad_otp"
    actions = [e["action"] for e in await client.app[LIVE].audit_log.entries()]
    assert {"sign_in", "sign_in_failed", "settings_change"} <= set(actions)


async def test_clients_see_the_display_name_never_the_sign_in_name(
        make_client: AppClient) -> None:
    client = await make_client()
    name = await signup(client)
    cookie = login_cookie(await client.post("/api/login",
                                            json={"username": name, "password": PASSWORD}))
    auth = {"Cookie": f"hearth_login={cookie}"}
    sid = (await (await client.post("/api/sessions", json={"title": "T"}, headers=auth)
                  ).json())["ok"]["id"]
    detail = (await (await client.get(f"/api/sessions/{sid}", headers=auth)).json())["ok"]
    shown = [p["display_name"] for p in detail["participants"]]
    assert name not in shown
    assert shown == ["Therapist"]
    renamed = await client.patch("/api/me", json={"display_name": "Dr. Rivera"}, headers=auth)
    assert (await renamed.json())["ok"]["display_name"] == "Dr. Rivera"
    sid2 = (await (await client.post("/api/sessions", json={"title": "T2"}, headers=auth)
                   ).json())["ok"]["id"]
    detail = (await (await client.get(f"/api/sessions/{sid2}", headers=auth)).json())["ok"]
    assert [p["display_name"] for p in detail["participants"]] == ["Dr. Rivera"]
    account = await client.app[ACCOUNTS].get(name)
    assert account is not None
    assert account.display_name == "Dr. Rivera"

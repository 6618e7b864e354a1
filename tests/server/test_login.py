"""Therapist sign-in: cookie flags, rotation, idle logoff, rate limits, origin checks."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, LOGINS
from tests.server.conftest import AppClient

PASSWORD = "a perfectly long password"


async def signup(client: TestClient[Any, Any]) -> str:
    name = f"dr.{uuid.uuid4().hex[:8]}"
    await client.app[ACCOUNTS].create(name, PASSWORD)
    return name


def login_cookie(resp: Any) -> str:
    return str(resp.cookies["hearth_login"].value)


async def test_login_sets_strict_secure_httponly_cookie(make_client: AppClient) -> None:
    client = await make_client()
    name = await signup(client)
    resp = await client.post("/api/login", json={"username": name, "password": PASSWORD})
    assert resp.status == 200
    header = resp.headers["Set-Cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert flag in header
    cookie = login_cookie(resp)
    me = await client.get("/api/me", headers={"Cookie": f"hearth_login={cookie}"})
    assert me.status == 200
    assert (await me.json())["ok"]["username"] == name


async def test_login_rotates_and_logout_ends(make_client: AppClient) -> None:
    client = await make_client()
    name = await signup(client)
    first = login_cookie(await client.post(
        "/api/login", json={"username": name, "password": PASSWORD}))
    second_resp = await client.post(
        "/api/login", json={"username": name, "password": PASSWORD},
        headers={"Cookie": f"hearth_login={first}"})
    second = login_cookie(second_resp)
    assert first != second
    old = await client.get("/api/me", headers={"Cookie": f"hearth_login={first}"})
    assert old.status == 401  # the pre-login id no longer works (no fixation)
    assert (await old.json())["error"]["code"] == "unauthenticated"
    await client.post("/api/logout", headers={"Cookie": f"hearth_login={second}"})
    gone = await client.get("/api/me", headers={"Cookie": f"hearth_login={second}"})
    assert gone.status == 401


async def test_idle_session_expires(make_client: AppClient) -> None:
    client = await make_client()
    name = await signup(client)
    client.app[LOGINS].idle_seconds = 1.5
    cookie = login_cookie(await client.post(
        "/api/login", json={"username": name, "password": PASSWORD}))
    headers = {"Cookie": f"hearth_login={cookie}"}
    for _ in range(3):  # activity keeps it alive (sliding window): 2.1 s > 1.5 s in all
        await asyncio.sleep(0.7)
        assert (await client.get("/api/me", headers=headers)).status == 200
    await asyncio.sleep(2.5)
    assert (await client.get("/api/me", headers=headers)).status == 401


async def test_wrong_password_and_unknown_user(make_client: AppClient) -> None:
    client = await make_client()
    name = await signup(client)
    for body in ({"username": name, "password": "wrong password!!"},
                 {"username": "nobody", "password": PASSWORD}):
        resp = await client.post("/api/login", json=body)
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "bad_credentials"


async def test_bad_bodies_are_4xx_with_codes(make_client: AppClient) -> None:
    client = await make_client()
    for body in (b"", b"{", b'{"username": 5}', b'{"username":"a","password":"b","x":1}',
                 b"[]"):
        resp = await client.post("/api/login", data=body)
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "invalid"
    big = await client.post("/api/login", data=b"x" * (70 * 1024))
    assert big.status == 413


async def test_cross_site_post_refused(make_client: AppClient) -> None:
    client = await make_client()
    name = await signup(client)
    resp = await client.post("/api/login", json={"username": name, "password": PASSWORD},
                             headers={"Origin": "https://evil.example"})
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden_origin"
    ok = await client.post("/api/login", json={"username": name, "password": PASSWORD},
                           headers={"Origin": "https://hearth.test"})
    assert ok.status == 200

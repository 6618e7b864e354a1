"""REST: therapist sign-in, sign-out and who-am-I. Thin: parse, delegate, answer."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.accounts import Account
from server.auth import COOKIE
from server.http import ApiError, error_json, parse_body
from server.state import ACCOUNTS, LOGINS, PROGRAM

log = logging.getLogger("hearth.auth")


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginBody)
    logins = request.app[LOGINS]
    now = time.monotonic()
    account_key = "acct:" + body.username.strip().lower()
    address_key = "addr:" + client_address(request)
    if logins.per_account.blocked(account_key, now) or logins.per_address.blocked(address_key, now):
        return error_json(429, "rate_limited", "too many attempts; try again in 15 minutes")
    account = await request.app[ACCOUNTS].verify(body.username, body.password)
    if account is None:
        logins.per_account.fail(account_key, now)
        logins.per_address.fail(address_key, now)
        log.info("sign-in refused")
        return error_json(401, "bad_credentials", "wrong username or password")
    if not await request.app[PROGRAM].may_sign_in(account.id):
        log.info("sign-in refused: deactivated", extra={"account": account.id})
        return error_json(403, "deactivated", "this account has been deactivated")
    logins.per_account.clear(account_key)
    response = web.json_response({"ok": {"account_id": account.id, "username": account.username}})
    await logins.start(account, response, request.cookies.get(COOKIE))
    log.info("signed in", extra={"account": account.id})
    return response


async def logout(request: web.Request) -> web.Response:
    response = web.json_response({"ok": True})
    await request.app[LOGINS].end(request, response)
    return response


async def require_therapist(request: web.Request) -> Account:
    """The signed-in therapist, or 401: every clinician REST route starts here."""
    account = await request.app[LOGINS].account(request)
    if account is None:
        raise ApiError(401, "unauthenticated", "sign in first")
    return account


async def me(request: web.Request) -> web.Response:
    account = await require_therapist(request)
    idle = request.app[LOGINS].idle_seconds
    return web.json_response({"ok": {"account_id": account.id, "username": account.username,
                                     "idle_seconds": idle}})


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)

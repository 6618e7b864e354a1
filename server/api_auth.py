"""REST: therapist sign-in, sign-out and who-am-I. Thin: parse, delegate, answer."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import pyotp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.accounts import Account
from server.appkeys import ACCOUNTS, LIVE, LOGINS, PROGRAM, SETTINGS
from server.auth import COOKIE
from server.http import ApiError, client_address, error_json, parse_body

log = logging.getLogger("hearth.auth")


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    otp: str | None = Field(None, pattern=r"^[0-9]{6}$",
                            description="The authenticator's current code, if enabled")


class DisplayNameBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    display_name: str = Field(min_length=1, max_length=60)


class OtpBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    otp: str = Field(pattern=r"^[0-9]{6}$")


def _address(request: web.Request) -> str:
    return client_address(request, request.app[SETTINGS].trusted_proxies)


async def _audit(request: web.Request, action: str, actor: str | None, outcome: str,
                 code: str | None = None) -> None:
    await request.app[LIVE].audit(action, {"actor": actor, "address": _address(request),
                                           "outcome": outcome, "code": code})


async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginBody)
    throttle = request.app[LOGINS].throttle
    address = _address(request)
    wait = await throttle.address_wait(address)
    if wait > 0:
        await _audit(request, "sign_in", None, "refused", "rate_limited")
        return web.json_response(
            {"error": {"code": "rate_limited",
                       "message": f"too many failed attempts from here; try again in "
                                  f"{math.ceil(wait)} s", "retry_after": math.ceil(wait)}},
            status=429, headers={"Retry-After": str(math.ceil(wait))})
    # Guessing one account gets slower and slower, but its owner still gets in.
    await asyncio.sleep(await throttle.account_delay(body.username))
    account = await request.app[ACCOUNTS].verify(body.username, body.password)
    if account is not None and not await request.app[ACCOUNTS].totp_ok(account, body.otp):
        await throttle.failed(body.username, address)
        await _audit(request, "sign_in_failed", account.id, "refused", "otp")
        code = "otp_required" if body.otp is None else "bad_otp"
        return error_json(401, code, "enter the current code from your authenticator app"
                          if body.otp is None else "that code is not valid; try the next one")
    if account is None:
        await throttle.failed(body.username, address)
        await _audit(request, "sign_in_failed", None, "refused", "bad_credentials")
        log.info("sign-in refused")
        return error_json(401, "bad_credentials", "wrong username or password")
    if not await request.app[PROGRAM].may_sign_in(account.id):
        await _audit(request, "sign_in_failed", account.id, "refused", "deactivated")
        log.info("sign-in refused: deactivated", extra={"account": account.id})
        return error_json(403, "deactivated", "this account has been deactivated")
    await throttle.succeeded(body.username, address)
    response = web.json_response({"ok": account_view(account)})
    await request.app[LOGINS].start(account, response, request.cookies.get(COOKIE))
    await _audit(request, "sign_in", account.id, "ok")
    log.info("signed in", extra={"account": account.id})
    return response


def account_view(account: Account) -> dict[str, Any]:
    return {"account_id": account.id, "username": account.username,
            "display_name": account.shown_name, "totp": account.totp_secret is not None}


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
    return web.json_response({"ok": {**account_view(account), "idle_seconds": idle}})


async def set_display_name(request: web.Request) -> web.Response:
    """The name people in a session see (the sign-in name is never shown to them)."""
    account = await require_therapist(request)
    body = await parse_body(request, DisplayNameBody)
    account = await request.app[ACCOUNTS].set_display_name(account, body.display_name)
    await _audit(request, "settings_change", account.id, "ok", "display_name")
    return web.json_response({"ok": account_view(account)})


async def totp_begin(request: web.Request) -> web.Response:
    """Offer a TOTP secret; it protects sign-in once confirmed with a current code."""
    account = await require_therapist(request)
    secret = await request.app[ACCOUNTS].totp_begin(account)
    uri = pyotp.TOTP(secret).provisioning_uri(name=account.username, issuer_name="Hearth")
    return web.json_response({"ok": {"secret": secret, "uri": uri}})


async def totp_confirm(request: web.Request) -> web.Response:
    account = await require_therapist(request)
    body = await parse_body(request, OtpBody)
    if not await request.app[ACCOUNTS].totp_confirm(account, body.otp):
        await _audit(request, "settings_change", account.id, "refused", "totp")
        raise ApiError(400, "bad_otp", "that code is not valid; try the next one")
    await _audit(request, "settings_change", account.id, "ok", "totp")
    return web.json_response({"ok": {"totp": True}})


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_patch("/api/me", set_display_name)
    app.router.add_post("/api/me/totp", totp_begin)
    app.router.add_post("/api/me/totp/confirm", totp_confirm)

"""REST for the join page: trade a link for a session cookie, and read who one is.

A link in the address bar ends up in the browser's history, where anyone at a
shared family computer can reopen it. So on first load the page sends the link's
token here once: it is verified, and comes back as an HttpOnly, SameSite=Strict
cookie named for that one session (script cannot read it, other sites cannot send
it); the page then removes the token from the address bar. Reloads and socket
connects present the cookie. Leaving or the end of the session clears it.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.appkeys import LINKS, LIVE, PROGRAM, ROOMS, SETTINGS
from server.http import ApiError, client_address, parse_body
from server.identity import identify
from signaling.tokens import Identity, LinkError, cookie_name

COOKIE_HOURS = 12  # at most; never beyond the link's own expiry
SESSION_ID = r"{session_id:[A-Za-z0-9_-]{1,64}}"
REFUSED_STATUS = {"unavailable": 503}


class ExchangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    token: str = Field(min_length=1, max_length=4096)


def identity_view(me: Identity) -> dict[str, Any]:
    return {"session_id": me.session_id, "participant_id": me.participant_id,
            "role": me.role, "display_name": me.display_name}


async def _identify(request: web.Request, token: str, via: str) -> tuple[Identity, float]:
    try:
        claims = await request.app[PROGRAM].resolve(await request.app[LINKS].verify(token))
        return await identify(request.app[ROOMS], claims), claims.expires
    except LinkError as exc:
        await request.app[LIVE].audit("link_refused", {
            "code": exc.code, "via": via,
            "address": client_address(request, request.app[SETTINGS].trusted_proxies)})
        raise ApiError(403, exc.code, str(exc)) from exc


async def exchange(request: web.Request) -> web.Response:
    """The link's token for an HttpOnly cookie scoped to its session."""
    body = await parse_body(request, ExchangeBody)
    me, expires = await _identify(request, body.token, "exchange")
    same_browser = request.cookies.get(cookie_name(me.session_id)) == body.token
    spent = not await request.app[LINKS].claim(me.jti, me.session_id, until=expires)
    if spent and not same_browser:
        await request.app[LIVE].audit("link_refused", {
            "code": "link_used", "via": "exchange", "session": me.session_id,
            "subject": me.participant_id,
            "address": client_address(request, request.app[SETTINGS].trusted_proxies)})
        raise ApiError(403, "link_used", "this link was already used in another browser")
    response = web.json_response({"ok": identity_view(me)})
    max_age = int(min(expires - time.time(), COOKIE_HOURS * 3600))
    response.set_cookie(
        cookie_name(me.session_id), body.token, max_age=max(1, max_age), httponly=True,
        secure=request.app[SETTINGS].public_url.startswith("https://"), samesite="Strict",
        path="/",
    )
    return response


async def whoami(request: web.Request) -> web.Response:
    """Who the session cookie says one is (a reload of the join page)."""
    session_id = request.match_info["session_id"]
    token = request.cookies.get(cookie_name(session_id))
    if not token:
        raise ApiError(401, "no_link", "open your personal link again")
    me, _ = await _identify(request, token, "cookie")
    return web.json_response({"ok": identity_view(me)})


async def leave(request: web.Request) -> web.Response:
    """Forget the session cookie (leaving, or the session ended)."""
    session_id = request.match_info["session_id"]
    response = web.json_response({"ok": True})
    response.del_cookie(cookie_name(session_id), path="/")
    return response


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/join/exchange", exchange)
    app.router.add_get(f"/api/join/{SESSION_ID}", whoami)
    app.router.add_post(f"/api/join/{SESSION_ID}/leave", leave)

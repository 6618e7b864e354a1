"""Setup links: the first-run link creates the clinic admin; staff invites create staff."""

from __future__ import annotations

import logging

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.accounts import AccountError
from server.appkeys import ACCOUNTS, PROGRAM, RUNTIME
from server.http import error_json, parse_body

log = logging.getLogger("hearth.server")


class SetupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=10, max_length=200)
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


async def setup_account(request: web.Request) -> web.Response:
    body = await parse_body(request, SetupBody)
    program = request.app[PROGRAM]
    try:
        if await program.is_invite(body.token):
            account = await program.accept_invite(body.token, body.username, body.password)
            log.info("staff account created", extra={"account": account.id})
            return web.json_response({"ok": {"account_id": account.id}}, status=201)
        account = await request.app[ACCOUNTS].create_with_setup_token(
            body.token, body.username, body.password
        )
    except AccountError as exc:
        return error_json(400, "invalid", str(exc))
    await program.make_admin(account)
    request.app[RUNTIME].setup_url = None
    log.info("clinic admin created", extra={"account": account.id})
    return web.json_response({"ok": {"account_id": account.id}}, status=201)

"""First-run setup: the one-time link creates the first therapist account."""

from __future__ import annotations

import logging

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.accounts import AccountError
from server.http import error_json, parse_body
from server.state import ACCOUNTS, RUNTIME

log = logging.getLogger("hearth.server")


class SetupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=10, max_length=200)
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


async def setup_account(request: web.Request) -> web.Response:
    body = await parse_body(request, SetupBody)
    try:
        account = await request.app[ACCOUNTS].create_with_setup_token(
            body.token, body.username, body.password
        )
    except AccountError as exc:
        return error_json(400, "invalid", str(exc))
    request.app[RUNTIME].setup_url = None
    log.info("first therapist created", extra={"account": account.id})
    return web.json_response({"ok": {"account_id": account.id}}, status=201)

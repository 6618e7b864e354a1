"""Typed application keys (``web.AppKey``) shared by the app factory and routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from rooms.service import RoomService
from rooms.stores import Store
from server.accounts import Accounts
from server.auth import LoginSessions
from server.config import Settings
from server.directory import Directory
from server.keys import Keys
from server.program.service import Program
from signaling.tokens import LinkSigner


@dataclass
class Runtime:
    """Mutable process state that handlers read: readiness and draining."""

    draining: bool = False
    store_error: str | None = None
    setup_url: str | None = None
    notes: list[str] = field(default_factory=list)


SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
KEYS = web.AppKey("keys", Keys)
ACCOUNTS = web.AppKey("accounts", Accounts)
RUNTIME = web.AppKey("runtime", Runtime)
LOGINS = web.AppKey("logins", LoginSessions)

DIRECTORY = web.AppKey("directory", Directory)
LINKS = web.AppKey("links", LinkSigner)
ROOMS = web.AppKey("rooms", RoomService)
PROGRAM = web.AppKey("program", Program)


if TYPE_CHECKING:
    from server.composition import Live
LIVE: web.AppKey[Live] = web.AppKey("live")

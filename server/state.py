"""Typed application state (``web.AppKey``) shared by the app factory and routes."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from rooms.stores import Store
from server.accounts import Accounts
from server.auth import LoginSessions
from server.config import Settings
from server.keys import Keys


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


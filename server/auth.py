"""Therapist sign-in: server-side login sessions behind an HttpOnly, Strict cookie.

The cookie holds a random id; the store holds only its hash, with a sliding TTL
(automatic logoff when idle, as HIPAA expects). Signing in always issues a new
id and deletes any old one (no session fixation). Failed attempts are limited
per account and per client address.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

from rooms.stores import Store
from server.accounts import Account, Accounts

COOKIE = "hearth_login"


def _key(token: str) -> str:
    return "login:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass
class AttemptLimiter:
    """Sliding-window limit on failed sign-ins, per key (account or address).

    Per process: with several processes an attacker gets at most N times the
    budget, which still bounds guessing; argon2 makes each guess expensive.
    """

    limit: int
    window: float
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, key: str, now: float) -> bool:
        q = self._failures.get(key)
        while q and q[0] <= now - self.window:
            q.popleft()
        return q is not None and len(q) >= self.limit

    def fail(self, key: str, now: float) -> None:
        self._failures.setdefault(key, deque()).append(now)
        if len(self._failures) > 100_000:  # bounded memory under a spray of usernames
            self._failures.pop(next(iter(self._failures)))

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class LoginSessions:
    """Creates, checks (sliding idle timeout) and ends therapist login sessions."""

    def __init__(
        self, store: Store, accounts: Accounts, *, idle_seconds: float, secure: bool
    ) -> None:
        self._store = store
        self._accounts = accounts
        self.idle_seconds = idle_seconds
        self._secure = secure
        self.per_account = AttemptLimiter(limit=5, window=900)
        self.per_address = AttemptLimiter(limit=30, window=900)

    async def start(self, account: Account, response: web.StreamResponse,
                    old_token: str | None) -> None:
        if old_token:
            await self._store.delete(_key(old_token))
        token = secrets.token_urlsafe(32)
        record = json.dumps({"account": account.id, "since": time.time()}).encode()
        await self._store.put(_key(token), record, ttl=self.idle_seconds)
        response.set_cookie(
            COOKIE, token, httponly=True, secure=self._secure, samesite="Strict", path="/",
        )

    async def account(self, request: web.Request) -> Account | None:
        """The signed-in account, refreshing the idle timer; None if absent or idle."""
        token = request.cookies.get(COOKIE)
        if not token or len(token) > 200:
            return None
        found = await self._store.get(_key(token))
        if found is None:
            return None
        await self._store.put(_key(token), found.value, ttl=self.idle_seconds)
        return await self._accounts.get_by_id(json.loads(found.value)["account"])

    async def end(self, request: web.Request, response: web.StreamResponse) -> None:
        token = request.cookies.get(COOKIE)
        if token:
            await self._store.delete(_key(token))
        response.del_cookie(COOKIE, path="/")

"""Therapist sign-in: server-side login sessions behind an HttpOnly, Strict cookie.

The cookie holds a random id; the store holds only its hash, with a sliding TTL
(automatic logoff when idle, as HIPAA expects). Signing in always issues a new
id and deletes any old one (no session fixation). Failed attempts slow down
guessing per account and per client address, without a lock-out (``SignInThrottle``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from rooms.stores import Store
from server.accounts import Account, Accounts

COOKIE = "hearth_login"


def _key(token: str) -> str:
    return "login:" + hashlib.sha256(token.encode()).hexdigest()


ACCOUNT_FREE_FAILURES = 3  # then each attempt on the account waits, growing
ACCOUNT_MAX_DELAY = 8.0  # seconds: slow for a guesser, never a lock-out for the owner
ADDRESS_FREE_FAILURES = 10  # then the address is refused for a growing back-off
ADDRESS_MAX_BACKOFF = 900.0
FAILURE_MEMORY = 900.0  # failures are forgotten 15 minutes after the last one


@dataclass
class SignInThrottle:
    """Failed sign-ins slow guessing without handing anyone a way to lock the therapist out.

    Per address: after 10 failures an address is refused for 5 s, doubling up to
    15 minutes; other addresses are unaffected. Per account: after 3 failures each
    attempt on the account waits 0.5 s, doubling up to 8 s, and then goes ahead, so
    failures sprayed from many addresses make the therapist wait seconds, never
    refuse them. The counts live in the store (every process sees them); addresses
    only as keyed hashes.
    """

    store: Store
    salt: bytes
    base_delay: float = 0.5
    base_backoff: float = 5.0
    clock: Callable[[], float] = field(default=time.time)

    def _account(self, username: str) -> str:
        return "signin:acct:" + hashlib.sha256(username.strip().lower().encode()).hexdigest()

    def _address(self, address: str) -> str:
        return "signin:addr:" + hmac.new(self.salt, address.encode(), "sha256").hexdigest()

    async def _read(self, key: str) -> dict[str, float]:
        found = await self.store.get(key)
        return {"fails": 0, "until": 0.0} if found is None else json.loads(found.value)

    async def address_wait(self, address: str) -> float:
        """Seconds this address must wait before it may try again (0: now)."""
        return max(0.0, (await self._read(self._address(address)))["until"] - self.clock())

    async def account_delay(self, username: str) -> float:
        fails = int((await self._read(self._account(username)))["fails"])
        if fails < ACCOUNT_FREE_FAILURES:
            return 0.0
        return float(min(ACCOUNT_MAX_DELAY,
                         self.base_delay * 2 ** (fails - ACCOUNT_FREE_FAILURES)))

    async def failed(self, username: str, address: str) -> None:
        now = self.clock()
        acct = await self._read(self._account(username))
        await self.store.put(self._account(username), json.dumps(
            {"fails": acct["fails"] + 1, "until": 0.0}).encode(), ttl=FAILURE_MEMORY)
        addr = await self._read(self._address(address))
        fails = int(addr["fails"]) + 1
        until = addr["until"]
        if fails >= ADDRESS_FREE_FAILURES:
            backoff = min(ADDRESS_MAX_BACKOFF,
                          self.base_backoff * 2 ** (fails - ADDRESS_FREE_FAILURES))
            until = now + backoff
        await self.store.put(self._address(address), json.dumps(
            {"fails": fails, "until": until}).encode(), ttl=FAILURE_MEMORY + ADDRESS_MAX_BACKOFF)

    async def succeeded(self, username: str, address: str) -> None:
        await self.store.delete(self._account(username))
        await self.store.delete(self._address(address))


class LoginSessions:
    """Creates, checks (sliding idle timeout) and ends therapist login sessions."""

    def __init__(
        self, store: Store, accounts: Accounts, *, idle_seconds: float, secure: bool,
        salt: bytes = b"",
    ) -> None:
        self._store = store
        self._accounts = accounts
        self.idle_seconds = idle_seconds
        self._secure = secure
        self.throttle = SignInThrottle(store, salt)

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

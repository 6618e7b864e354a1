"""Therapist accounts: argon2 password hashes and the one-time first-run setup link."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, replace

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from rooms.stores import Store
from server.program.sealing import Sealer

MIN_PASSWORD = 12
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{2,63}$")
_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps timing similar.
_DUMMY_HASH = _hasher.hash("not-a-real-password-" + "x" * 16)


class AccountError(ValueError):
    """A username or password is not acceptable; the message is safe to show."""


DEFAULT_DISPLAY_NAME = "Therapist"


@dataclass(frozen=True)
class Account:
    """A therapist. ``username`` signs in and is never shown to clients; people in a
    session see ``shown_name`` (the display name, or a neutral default)."""

    id: str
    username: str
    password_hash: str
    created: float
    display_name: str = ""
    totp_secret: str | None = None  # set once a code from the authenticator confirmed it
    totp_pending: str | None = None  # offered, not yet confirmed

    @property
    def shown_name(self) -> str:
        return self.display_name or DEFAULT_DISPLAY_NAME


def normalize_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME_RE.match(name):
        raise AccountError("username: 3-64 characters of a-z, 0-9, . _ @ -")
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise AccountError("password: at most 1024 characters")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_SEALED_FIELDS = ("totp_secret", "totp_pending")


class Accounts:
    """Repository of therapist accounts over any Store backend.

    The TOTP secrets are sealed with AES-GCM under the data key (record key
    ``totp:<account id>:<field>``); a record written before sealing holds them in
    plain text and is rewritten sealed the first time it is read, or by
    ``seal_all`` at start-up.
    """

    def __init__(self, store: Store, sealer: Sealer) -> None:
        self._store = store
        self._sealer = sealer

    def _encode(self, account: Account) -> bytes:
        data: dict[str, object] = asdict(account)
        for field in _SEALED_FIELDS:
            plain = data.pop(field)
            data[f"{field}_sealed"] = None if plain is None else self._sealer.seal(
                str(plain).encode(), f"totp:{account.id}:{field}")
        return json.dumps(data).encode()

    def _decode(self, raw: bytes) -> tuple[Account, bool]:
        """The account, and whether its record still holds a secret in plain text."""
        data = json.loads(raw)
        legacy = any(data.get(field) is not None for field in _SEALED_FIELDS)
        for field in _SEALED_FIELDS:
            sealed = data.pop(f"{field}_sealed", None)
            if sealed is not None:
                data[field] = self._sealer.open(sealed, f"totp:{data['id']}:{field}").decode()
        return Account(**data), legacy

    async def create(self, username: str, password: str, display_name: str = "") -> Account:
        name = normalize_username(username)
        check_password(password)
        hashed = await asyncio.to_thread(_hasher.hash, password)  # ~0.3 s: off the loop
        account = Account(uuid.uuid4().hex, name, hashed, time.time(),
                          display_name=display_name.strip()[:60])
        created = await self._store.cas(f"account:{name}", self._encode(account),
                                        expected_version=0)
        if created is None:
            raise AccountError("username: already taken")
        await self._store.set_add("accounts", name)
        await self._store.put(f"account-id:{account.id}", name.encode())
        return account

    async def get(self, username: str) -> Account | None:
        try:
            name = normalize_username(username)
        except AccountError:
            return None
        found = await self._store.get(f"account:{name}")
        if found is None:
            return None
        account, legacy = self._decode(found.value)
        if legacy:
            await self._save(account)
        return account

    async def seal_all(self) -> int:
        """Rewrite every account whose TOTP secret is still in plain text; the count."""
        count = 0
        for name in await self._store.set_members("accounts"):
            found = await self._store.get(f"account:{name}")
            if found is None:
                continue
            data = json.loads(found.value)
            if any(data.get(field) is not None for field in _SEALED_FIELDS):
                await self._save(self._decode(found.value)[0])
                count += 1
        return count

    async def reseal(self) -> int:
        """Rewrite every account holding a TOTP secret under the current data key."""
        count = 0
        for name in await self._store.set_members("accounts"):
            found = await self._store.get(f"account:{name}")
            if found is None:
                continue
            account = self._decode(found.value)[0]
            if account.totp_secret is None and account.totp_pending is None:
                continue
            if await self._store.cas(f"account:{name}", self._encode(account),
                                     expected_version=found.version) is not None:
                count += 1
        return count

    async def get_by_id(self, account_id: str) -> Account | None:
        found = await self._store.get(f"account-id:{account_id}")
        return None if found is None else await self.get(found.value.decode())

    async def verify(self, username: str, password: str) -> Account | None:
        """The account if the password matches; the same work is done either way."""
        account = await self.get(username)
        try:
            # Argon2 at the production cost takes ~0.3 s: in a worker thread, so other
            # sessions' events and media keep flowing during a sign-in
            await asyncio.to_thread(
                _hasher.verify, account.password_hash if account else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return account

    async def _save(self, account: Account) -> Account:
        await self._store.put(f"account:{account.username}", self._encode(account))
        return account

    async def set_display_name(self, account: Account, display_name: str) -> Account:
        return await self._save(replace(account, display_name=display_name))

    async def totp_begin(self, account: Account) -> str:
        """A new TOTP secret, active only after ``totp_confirm`` with a current code."""
        secret = pyotp.random_base32()
        await self._save(replace(account, totp_pending=secret))
        return secret

    async def totp_confirm(self, account: Account, code: str) -> bool:
        if account.totp_pending is None or not await self._code_ok(
                account, account.totp_pending, code):
            return False
        await self._save(replace(account, totp_secret=account.totp_pending, totp_pending=None))
        return True

    async def totp_ok(self, account: Account, code: str | None) -> bool:
        """True if the account has no second factor, or ``code`` is current and unused."""
        if account.totp_secret is None:
            return True
        return code is not None and await self._code_ok(account, account.totp_secret, code)

    async def _code_ok(self, account: Account, secret: str, code: str) -> bool:
        if not pyotp.TOTP(secret).verify(code, valid_window=1):
            return False
        # A code works once: a shoulder-surfed or replayed code is refused.
        return await self._store.add_once(f"totp-used:{account.id}:{code}", ttl=120)

    async def count(self) -> int:
        return len(await self._store.set_members("accounts"))

    async def issue_setup_token(self, ttl_seconds: float) -> str:
        """A one-time token for creating the first therapist; only its hash is stored."""
        token = secrets.token_urlsafe(32)
        await self._store.put(f"setup:{_digest(token)}", b"1", ttl=ttl_seconds)
        return token

    async def setup_token_valid(self, token: str) -> bool:
        return await self._store.get(f"setup:{_digest(token)}") is not None

    async def create_with_setup_token(self, token: str, username: str, password: str) -> Account:
        """Create the first therapist; the token works once, even under a race."""
        normalize_username(username)
        check_password(password)
        key = f"setup:{_digest(token)}"
        if await self._store.get(key) is None:
            raise AccountError("setup link: expired or already used")
        if not await self._store.add_once(f"setup-used:{_digest(token)}", ttl=86400):
            raise AccountError("setup link: expired or already used")
        await self._store.delete(key)
        return await self.create(username, password)

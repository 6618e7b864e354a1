"""Personal join links: signed JWTs with a pinned algorithm, key ids and revocation.

A link carries opaque ids only (session, participant, link id): anyone who sees
it (a mail scanner, a shoulder) learns no name and no role; the server looks both
up after verification. The ids in a link are the only source of authority for a
socket, so verification is strict: one algorithm (HS256; "none" and algorithm confusion
are impossible), known ``kid`` only, issuer and audience checked, ``nbf``/``exp``
with at most 60 s of leeway, and a ``jti`` that can be revoked. A link to an
ended session is refused everywhere, because "ended" is recorded in the store
that every node reads.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import jwt

from rooms.stores import Store

ALGORITHM = "HS256"
AUDIENCE = "hearth-join"
LEEWAY_SECONDS = 30
REQUIRED = ["exp", "nbf", "iat", "jti", "sub", "sid", "iss", "aud"]


class LinkError(Exception):
    """A link was refused. ``code`` is stable and safe to show; no detail leaks."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class JoinClaims:
    """What a verified link says about its holder: opaque ids and its time window."""

    session_id: str
    participant_id: str
    jti: str
    not_before: float
    expires: float


@dataclass(frozen=True)
class Identity:
    """Who holds a verified link: ids from the link, role and name from the server."""

    session_id: str
    participant_id: str
    role: str
    display_name: str
    jti: str


# Turns verified claims into an identity (server-side lookup); raises LinkError.
Identify = Callable[[JoinClaims], Awaitable[Identity]]


def cookie_name(session_id: str) -> str:
    """The HttpOnly cookie that holds a link for one session after the page exchanged it."""
    return f"hearth_join_{session_id}"


class LinkSigner:
    """Issues and verifies join links; the first key signs, all keys verify (rotation)."""

    def __init__(
        self, keys: Mapping[str, bytes], active_kid: str, *, issuer: str, store: Store
    ) -> None:
        if active_kid not in keys:
            raise ValueError("active key id must be one of the keys")
        self._keys = dict(keys)
        self._kid = active_kid
        self._issuer = issuer
        self._store = store

    def issue(
        self,
        *,
        session_id: str,
        participant_id: str,
        not_before: float,
        expires: float,
        now: float | None = None,
    ) -> tuple[str, JoinClaims]:
        jti = uuid.uuid4().hex
        payload = {
            "iss": self._issuer,
            "aud": AUDIENCE,
            "sub": participant_id,
            "sid": session_id,
            "jti": jti,
            "iat": int(now if now is not None else time.time()),
            "nbf": int(not_before),
            "exp": int(expires),
        }
        token = jwt.encode(payload, self._keys[self._kid], ALGORITHM, headers={"kid": self._kid})
        return token, JoinClaims(
            session_id, participant_id, jti, float(int(not_before)),
            float(int(expires)),
        )

    def decode(self, token: str) -> JoinClaims:
        """Check signature, algorithm, key id, issuer, audience and time window."""
        if not isinstance(token, str) or len(token) > 4096:
            raise LinkError("invalid_token", "link is not valid")
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.get(str(header.get("kid")))
            if key is None or header.get("alg") != ALGORITHM:
                raise LinkError("invalid_token", "link is not valid")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED},
            )
        except jwt.ExpiredSignatureError as exc:
            raise LinkError("expired", "link has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise LinkError("not_yet_valid", "link is not valid yet") from exc
        except jwt.PyJWTError as exc:
            raise LinkError("invalid_token", "link is not valid") from exc
        return JoinClaims(
            session_id=str(claims["sid"]),
            participant_id=str(claims["sub"]),
            jti=str(claims["jti"]),
            not_before=float(claims["nbf"]),
            expires=float(claims["exp"]),
        )

    async def verify(self, token: str) -> JoinClaims:
        """Full check, including revocation and ended sessions (shared via the store)."""
        claims = self.decode(token)
        if await self._store.get(f"link-revoked:{claims.jti}") is not None:
            raise LinkError("revoked", "link has been revoked")
        if await self._store.get(f"session-ended:{claims.session_id}") is not None:
            raise LinkError("session_ended", "this session has ended")
        return claims

    async def claim(self, jti: str, session_id: str, *, until: float) -> bool:
        """Spend a link on the browser that opened it for one session (its session cookie
        holds it from then on). True the first time; the same link in a browser's history
        is a trace that no longer works anywhere else. A series link is spent once per
        occurrence, since each occurrence is its own session."""
        ttl = max(1.0, until - time.time() + LEEWAY_SECONDS)
        return await self._store.add_once(f"link-claimed:{jti}:{session_id}", b"1", ttl=ttl)

    async def claimed(self, jti: str, session_id: str) -> bool:
        return await self._store.get(f"link-claimed:{jti}:{session_id}") is not None

    async def revoked(self, jti: str) -> bool:
        """Whether a link id is on the deny-list (checked again for live sockets)."""
        return await self._store.get(f"link-revoked:{jti}") is not None

    async def revoke(self, jti: str, *, until: float) -> None:
        """Deny-list a link until it would have expired anyway (plus leeway)."""
        ttl = max(1.0, until - time.time() + LEEWAY_SECONDS)
        await self._store.put(f"link-revoked:{jti}", b"1", ttl=ttl)

    async def end_session(self, session_id: str) -> None:
        """Every link of this session stops working, on every node."""
        await self._store.put(f"session-ended:{session_id}", b"1")

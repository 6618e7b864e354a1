"""Time-limited TURN credentials in coturn's REST-API scheme (``use-auth-secret``).

username = ``<expiry unix time>:<opaque participant id>``,
credential = base64(HMAC-SHA1(static-auth-secret, username)). coturn recomputes
the HMAC and refuses expired or forged pairs, so no per-user state is needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any


def turn_credentials(
    secret: str, participant_id: str, *, lifetime: float = 3600, now: float | None = None
) -> tuple[str, str]:
    expiry = int((now if now is not None else time.time()) + lifetime)
    username = f"{expiry}:{participant_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def client_ice_servers(
    urls: tuple[str, ...], secret: str | None, participant_id: str, *, lifetime: float = 3600
) -> list[dict[str, Any]]:
    """ICE servers for one participant: STUN as configured, TURN with fresh credentials."""
    servers: list[dict[str, Any]] = []
    for url in urls:
        entry: dict[str, Any] = {"urls": [url]}
        if url.startswith(("turn:", "turns:")) and secret:
            entry["username"], entry["credential"] = turn_credentials(
                secret, participant_id, lifetime=lifetime)
        servers.append(entry)
    return servers

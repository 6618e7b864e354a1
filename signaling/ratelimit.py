"""Per-connection token bucket: bursts are fine, floods are throttled then cut off."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from rooms.stores import Store


@dataclass
class TokenBucket:
    """``rate`` tokens per second up to ``burst``. ``strikes`` counts refused events.

    A client that keeps sending after being throttled (``strikes`` reaching
    ``max_strikes`` within the current flood) is disconnected by the caller.
    """

    rate: float = 20.0
    burst: float = 40.0
    max_strikes: int = 200
    tokens: float = -1.0
    stamp: float = 0.0
    strikes: int = 0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            if self.tokens >= self.burst / 2:
                self.strikes = 0  # the client calmed down
            return True
        self.strikes += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.strikes >= self.max_strikes


BACKOFF = (5.0, 30.0, 300.0)  # seconds refused after the 1st, 2nd, 3rd+ cut-off
STRIKE_MEMORY = 3600.0  # a link or address is forgiven an hour after its last cut-off


class Penalties:
    """Growing back-off for links and addresses cut off for flooding.

    A flood that reconnects after each cut-off is refused at connect, before any
    event is parsed, for 5 s, then 30 s, then 5 min. The record lives in the store,
    so every process and node refuses the same link or address. Addresses are kept
    only as keyed hashes (``salt`` is a server secret), never in the clear.
    """

    def __init__(self, store: Store, salt: bytes, *,
                 clock: Callable[[], float] = time.time,
                 backoff: tuple[float, ...] = BACKOFF) -> None:
        self._store = store
        self._salt = salt
        self._clock = clock
        self._backoff = backoff

    def link(self, jti: str) -> str:
        return f"abuse:link:{jti}"

    def address(self, address: str) -> str:
        digest = hmac.new(self._salt, address.encode(), hashlib.sha256).hexdigest()[:32]
        return f"abuse:addr:{digest}"

    async def refused_for(self, *keys: str) -> float:
        """Seconds until every one of ``keys`` may connect again (0: free now)."""
        now = self._clock()
        wait = 0.0
        for key in keys:
            found = await self._store.get(key)
            if found is not None:
                wait = max(wait, float(json.loads(found.value)["until"]) - now)
        return max(0.0, wait)

    async def cut_off(self, *keys: str) -> float:
        """Record a cut-off for each key; returns the longest back-off now in force."""
        now = self._clock()
        longest = 0.0
        for key in keys:
            found = await self._store.get(key)
            strikes = 1 + (int(json.loads(found.value)["strikes"]) if found else 0)
            backoff = self._backoff[min(strikes, len(self._backoff)) - 1]
            record = {"strikes": strikes, "until": now + backoff}
            await self._store.put(key, json.dumps(record).encode(),
                                  ttl=backoff + STRIKE_MEMORY)
            longest = max(longest, backoff)
        return longest

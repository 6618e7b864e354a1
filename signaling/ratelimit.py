"""Per-connection token bucket: bursts are fine, floods are throttled then cut off."""

from __future__ import annotations

from dataclasses import dataclass


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

"""Each person's own connection quality, told to the people who see them.

A page measures what it sends (the loss and round trip in the relay's receiver reports,
silence) and reports one level with ``media_quality``. A viewer whose tile of Maria
shows poor video can then say why: "Maria's connection" when Maria reports hers as
poor, "Your connection" when its own measurements are. Without this, a family on home
Wi-Fi only sees that video is bad, and each person blames their own network.

This is presence, not session state: it is held in memory by the node that serves the
session (every socket of a session is on that node), never written to the store, and a
level not repeated within ``FRESH`` seconds is forgotten. Pages repeat theirs every few
seconds, so a node that takes a session over knows everyone's level again that soon.

Who learns a level is ``rooms.visibility.visible_publishers``: only the people who
receive that person's media. Someone in another breakout room learns nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, get_args

from rooms.model import Session
from rooms.visibility import location, visible_publishers

Level = Literal["good", "fair", "poor", "lost"]
LEVELS: tuple[str, ...] = get_args(Level)
FRESH = 10.0  # seconds a level stays true without being repeated


class QualityBoard:
    """The last level each present person reported, per session, with its time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._levels: dict[str, dict[str, tuple[str, float]]] = {}
        self._swept = clock()

    def report(self, session: Session, pid: str, level: str) -> list[str]:
        """Record ``pid``'s level; return the viewers to tell (none when unchanged)."""
        now = self._clock()
        self._sweep(now)
        levels = self._levels.setdefault(session.id, {})
        before = levels.get(pid)
        levels[pid] = (level, now)
        if before is not None and before[0] == level:
            return []
        return sorted(v for v in session.participants
                      if v != pid and location(session, v) is not None
                      and pid in visible_publishers(session, v))

    def seen_by(self, session: Session, viewer: str) -> dict[str, str]:
        """The fresh levels of the people ``viewer`` receives media from."""
        levels = self._levels.get(session.id, {})
        now = self._clock()
        seen: dict[str, str] = {}
        for pid in sorted(visible_publishers(session, viewer)):
            entry = levels.get(pid)
            if entry is not None and now - entry[1] <= FRESH:
                seen[pid] = entry[0]
        return seen

    def _sweep(self, now: float) -> None:
        """Forget stale levels, and sessions with none left (ended, moved away)."""
        if now - self._swept < FRESH:
            return
        self._swept = now
        for sid in list(self._levels):
            levels = self._levels[sid]
            for pid in [p for p, (_, at) in levels.items() if now - at > FRESH]:
                del levels[pid]
            if not levels:
                del self._levels[sid]

    def sessions(self) -> int:
        """Sessions with a level held (for tests of forgetting)."""
        return len(self._levels)

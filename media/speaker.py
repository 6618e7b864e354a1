"""Active speaker: the loudest recent audio publication, decided at most every interval.

Levels are RFC 6464 ssrc-audio-level values as the browser puts them on its packets
(-dBov: 0 is loudest, 127 is silence), read once per incoming packet. A publication
counts only while it is on, spoke within ``RECENT`` seconds and is louder than
``THRESHOLD`` (-70 dBov); the loudest of those wins. The decision runs at most once
per ``interval`` and reports only a change, so a quiet room keeps its last speaker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: a level older than this (seconds) no longer counts
RECENT = 1.0
#: levels at or above this (-dBov) are background noise, not speech
THRESHOLD = 70


@dataclass(frozen=True, slots=True)
class Level:
    """One audio publication's latest level, as the detector sees it."""

    participant_id: str
    level: int
    at: float
    paused: bool = False


def loudest(levels: Iterable[Level], now: float) -> str | None:
    """The participant with the loudest recent, unpaused level under the threshold."""
    candidates = [x for x in levels
                  if not x.paused and now - x.at < RECENT and x.level < THRESHOLD]
    return min(candidates, key=lambda x: x.level).participant_id if candidates else None


class SpeakerDetector:
    """Throttled active-speaker decisions for one router."""

    __slots__ = ("current", "interval", "last_check")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.current: str | None = None
        #: when a decision last ran (``Router.note_level`` inlines ``due``)
        self.last_check = 0.0

    def due(self, now: float) -> bool:
        """Whether a decision may run now (at most once per ``interval``)."""
        if now - self.last_check < self.interval:
            return False
        self.last_check = now
        return True

    def decide(self, levels: Iterable[Level], now: float) -> str | None:
        """The new active speaker when it changed, else None."""
        speaker = loudest(levels, now)
        if speaker is None or speaker == self.current:
            return None
        self.current = speaker
        return speaker

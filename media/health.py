"""Desired vs actual media: which (viewer, source, kind) should be decoding and is not.

Pure bookkeeping with the clock passed in, so every rule is a unit test: the relay
and signaling decide what is desired (visibility, live publications) and what is
actual (each browser's own report); this module says when a difference has lasted
long enough to be a gap, when to repair it again, and how long it lasted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Key = tuple[str, str, str]  # (viewer, source, kind)


@dataclass
class Gap:
    """A viewer that should decode a source's audio or video and does not."""

    viewer: str
    source: str
    kind: str
    since: float
    opened: bool = False
    repairs: int = 0
    last_repair: float = 0.0

    def info(self) -> dict[str, object]:
        """The ``media_gaps`` entry clinicians get."""
        return {"viewer": self.viewer, "source": self.source, "kind": self.kind,
                "since": self.since}


@dataclass
class Changes:
    """What one observation changed."""

    opened: list[Gap] = field(default_factory=list)
    #: gaps that had opened and are over, with how long they lasted
    closed: list[tuple[Gap, float]] = field(default_factory=list)
    #: gaps to repair now (new ones, and open ones whose last repair did not help)
    repair: list[Gap] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.opened or self.closed)


class GapTracker:
    """A difference becomes a gap after ``threshold`` seconds; an open gap is repaired
    again after ``repair_every`` seconds, then at doubling intervals up to
    ``repair_cap`` (a repair that did not help is not hammered: on a starved host
    repeated repairs would only add load)."""

    def __init__(self, threshold: float = 2.0, repair_every: float = 2.0,
                 repair_cap: float = 16.0) -> None:
        self.threshold = threshold
        self.repair_every = repair_every
        self.repair_cap = repair_cap
        self._missing: dict[Key, Gap] = {}

    def observe(self, viewer: str, desired: set[tuple[str, str]],
                actual: set[tuple[str, str]], now: float) -> Changes:
        """One report from ``viewer``: ``desired``/``actual`` are (source, kind) pairs."""
        out = Changes()
        missing = {(viewer, source, kind) for source, kind in desired - actual}
        for key in [k for k in self._missing if k[0] == viewer and k not in missing]:
            self._end(key, now, out)
        for key in missing:
            gap = self._missing.get(key)
            if gap is None:
                self._missing[key] = Gap(*key, since=now)
                continue
            if not gap.opened and now - gap.since > self.threshold:
                gap.opened = True
                out.opened.append(gap)
                self._repair(gap, now, out)
            elif gap.opened and now - gap.last_repair >= self._interval(gap):
                self._repair(gap, now, out)
        return out

    def forget(self, person: str, now: float) -> Changes:
        """``person`` left: nothing is owed to them or by them any more."""
        out = Changes()
        for key in [k for k in self._missing if person in (k[0], k[1])]:
            self._end(key, now, out)
        return out

    def open_gaps(self) -> list[Gap]:
        """Gaps that have lasted past the threshold, oldest first."""
        return sorted((g for g in self._missing.values() if g.opened),
                      key=lambda g: (g.since, g.viewer, g.source, g.kind))

    def _end(self, key: Key, now: float, out: Changes) -> None:
        gap = self._missing.pop(key)
        if gap.opened:
            out.closed.append((gap, now - gap.since))

    def _interval(self, gap: Gap) -> float:
        return min(self.repair_cap, self.repair_every * 2.0 ** max(0, gap.repairs - 1))

    @staticmethod
    def _repair(gap: Gap, now: float, out: Changes) -> None:
        gap.repairs += 1
        gap.last_repair = now
        out.repair.append(gap)

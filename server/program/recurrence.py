"""Occurrences of a weekly series, computed with dateutil's rrule in the series' zone.

Pure: no clock, no store. Local wall-clock times come from the rule, and zoneinfo
turns each into an absolute instant, so a 19:00 session stays at 19:00 local across
a DST change. Exceptions (cancelled, moved) are applied on top of the rule, never
by rewriting it, so indices stay stable for the life of the series.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil.rrule import WEEKLY, rrule, weekday

from server.program.models import SeriesRecord

EARLY_OPEN = 15 * 60  # a link opens 15 minutes before an occurrence starts
LATE_CLOSE = 30 * 60  # and closes 30 minutes after its end
MAX_OCCURRENCES = 400


@dataclass(frozen=True)
class Occurrence:
    index: int
    starts_at: float  # unix seconds
    ends_at: float
    original_start: float  # where the rule put it (RECURRENCE-ID when moved)
    cancelled: bool
    moved: bool

    @property
    def opens_at(self) -> float:
        return self.starts_at - EARLY_OPEN

    @property
    def closes_at(self) -> float:
        return self.ends_at + LATE_CLOSE


def local_starts(series: SeriesRecord) -> list[dt.datetime]:
    """Aware local start times the rule yields (before exceptions)."""
    zone = ZoneInfo(series.timezone)
    hour, minute = (int(x) for x in series.start_time.split(":"))
    first = dt.date.fromisoformat(series.first_date)
    dtstart = dt.datetime(first.year, first.month, first.day, hour, minute)
    until = None
    if series.until is not None:
        last = dt.date.fromisoformat(series.until)
        until = dt.datetime(last.year, last.month, last.day, 23, 59, 59)
    rule = rrule(
        WEEKLY, dtstart=dtstart, byweekday=[weekday(d) for d in series.weekdays],
        count=series.count, until=until,
    )
    out: list[dt.datetime] = []
    for naive in rule:
        if len(out) > MAX_OCCURRENCES:  # one more than allowed, so callers can refuse
            break
        out.append(naive.replace(tzinfo=zone))
    return out


def occurrences(series: SeriesRecord) -> list[Occurrence]:
    duration = series.duration_minutes * 60
    out = []
    for index, local in enumerate(local_starts(series)[:MAX_OCCURRENCES]):
        original = local.timestamp()
        moved = series.moved.get(str(index))
        start = float(moved) if moved is not None else original
        out.append(Occurrence(
            index=index, starts_at=start, ends_at=start + duration, original_start=original,
            cancelled=index in series.cancelled, moved=moved is not None,
        ))
    return out


@dataclass(frozen=True)
class Open:
    occurrence: Occurrence


@dataclass(frozen=True)
class Refused:
    code: str  # "cancelled" | "outside_window" | "series_over"
    next_start: float | None


def at(series: SeriesRecord, now: float) -> Open | Refused:
    """The occurrence whose join window holds ``now``, or why not and when next."""
    items = occurrences(series)
    live = [o for o in items if not o.cancelled]
    for occ in live:
        if occ.opens_at <= now <= occ.closes_at:
            return Open(occ)
    upcoming = [o.starts_at for o in live if o.starts_at > now]
    nxt = min(upcoming) if upcoming else None
    if any(o.cancelled and o.opens_at <= now <= o.closes_at for o in items):
        return Refused("cancelled", nxt)
    return Refused("outside_window" if nxt is not None else "series_over", nxt)


def last_close(series: SeriesRecord) -> float:
    items = occurrences(series)
    return max((o.closes_at for o in items), default=0.0)

"""A series' calendar file: one recurring VEVENT in the series' zone, made with icalendar.

The RRULE mirrors the series' rule; cancelled occurrences are EXDATEs, and each
moved one is its own VEVENT with a RECURRENCE-ID (RFC 5545's override). A VTIMEZONE
makes the local times unambiguous, and a VALARM reminds an hour before. Every field
is derived from the stored series (DTSTAMP is its creation time), so the file is
byte-identical on every download. It names only the clinic.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event

from server.program.models import SeriesRecord
from server.program.recurrence import Occurrence

DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def _local(ts: float, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, zone)


def _event(series: SeriesRecord, *, uid: str, clinic: str, url: str,
           start: dt.datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", dt.datetime.fromtimestamp(series.created, dt.UTC))
    event.add("dtstart", start)
    event.add("dtend", start + dt.timedelta(minutes=series.duration_minutes))
    event.add("summary", f"{clinic}: video session")
    event.add("url", url)
    event.add("description", "Join from your browser with your personal link "
                             f"(do not share it):\n{url}")
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"{clinic}: video session in one hour")
    alarm.add("trigger", dt.timedelta(hours=-1))
    event.add_component(alarm)
    return event


def series_ics(series: SeriesRecord, items: list[Occurrence], *, uid: str, clinic: str,
               url: str) -> bytes:
    zone = ZoneInfo(series.timezone)
    cal = Calendar()
    cal.add("prodid", "-//Hearth//Video sessions//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    first = items[0]
    master = _event(series, uid=uid, clinic=clinic, url=url,
                    start=_local(first.original_start, zone))
    rule: dict[str, object] = {"freq": "WEEKLY", "byday": [DAYS[d] for d in series.weekdays]}
    if series.count is not None:
        rule["count"] = series.count
    else:
        last = max(o.original_start for o in items)
        rule["until"] = dt.datetime.fromtimestamp(last, dt.UTC)
    master.add("rrule", rule)
    excluded = [_local(o.original_start, zone) for o in items if o.cancelled]
    if excluded:
        master.add("exdate", excluded)
    cal.add_component(master)
    for o in items:
        if o.moved and not o.cancelled:
            moved = _event(series, uid=uid, clinic=clinic, url=url,
                           start=_local(o.starts_at, zone))
            moved.add("recurrence-id", _local(o.original_start, zone))
            cal.add_component(moved)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())

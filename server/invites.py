"""Calendar invites (.ics) for a participant's personal link, made with icalendar."""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar, Event


def invite_ics(
    *, uid: str, title: str, url: str, starts_at: float, ends_at: float, stamp: float
) -> bytes:
    """One VEVENT carrying the personal join link; no names of other participants."""
    cal = Calendar()
    cal.add("prodid", "-//Hearth//Video sessions//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", dt.datetime.fromtimestamp(stamp, dt.UTC))
    event.add("dtstart", dt.datetime.fromtimestamp(starts_at, dt.UTC))
    event.add("dtend", dt.datetime.fromtimestamp(ends_at, dt.UTC))
    event.add("summary", title)
    event.add("url", url)
    event.add(
        "description",
        f"Join from your browser with your personal link (do not share it):\n{url}",
    )
    cal.add_component(event)
    return bytes(cal.to_ical())

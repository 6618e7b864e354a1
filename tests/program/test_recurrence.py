"""Occurrences in the series' zone: DST-correct UTC starts, cancel and move on top."""

from __future__ import annotations

import datetime as dt

from server.program import recurrence
from server.program.models import SeriesRecord

NY = "America/New_York"  # DST starts Sunday 14 March 2027, 02:00 local


def evenings(**changes: object) -> SeriesRecord:
    base = SeriesRecord(
        id="s1", household_id="h1", owner="a1", timezone=NY, weekdays=[0, 2, 3],
        start_time="19:00", duration_minutes=90, first_date="2027-03-01", count=12,
        created=0.0,
    )
    return base.model_copy(update=changes)


def utc(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")


def test_three_evenings_a_week_for_four_weeks_across_dst() -> None:
    starts = [utc(o.starts_at) for o in recurrence.occurrences(evenings())]
    assert starts == [
        # Mon/Wed/Thu 19:00 EST (UTC-5): the next day 00:00 UTC
        "2027-03-02 00:00", "2027-03-04 00:00", "2027-03-05 00:00",
        "2027-03-09 00:00", "2027-03-11 00:00", "2027-03-12 00:00",
        # after 14 March, 19:00 EDT (UTC-4): 23:00 UTC the same day
        "2027-03-15 23:00", "2027-03-17 23:00", "2027-03-18 23:00",
        "2027-03-22 23:00", "2027-03-24 23:00", "2027-03-25 23:00",
    ]
    for o in recurrence.occurrences(evenings()):
        local = dt.datetime.fromtimestamp(o.starts_at, dt.UTC).astimezone(
            __import__("zoneinfo").ZoneInfo(NY))
        assert (local.hour, local.minute) == (19, 0)
        assert o.ends_at - o.starts_at == 90 * 60


def test_until_is_inclusive_and_weekends_are_ordinary() -> None:
    series = evenings(weekdays=[5, 6], start_time="10:30", count=None, until="2027-03-14")
    starts = [utc(o.starts_at) for o in recurrence.occurrences(series)]
    # Sat 6, Sun 7, Sat 13 (EST), Sun 14 (EDT from 02:00 that morning)
    assert starts == ["2027-03-06 15:30", "2027-03-07 15:30", "2027-03-13 15:30",
                      "2027-03-14 14:30"]


def test_window_cancel_and_move() -> None:
    series = evenings(cancelled=[1])
    items = recurrence.occurrences(series)
    first, second, third = items[0], items[1], items[2]
    assert isinstance(recurrence.at(series, first.starts_at - 15 * 60), recurrence.Open)
    assert isinstance(recurrence.at(series, first.ends_at + 30 * 60), recurrence.Open)
    early = recurrence.at(series, first.starts_at - 16 * 60)
    assert early == recurrence.Refused("outside_window", first.starts_at)
    during_cancelled = recurrence.at(series, second.starts_at)
    assert during_cancelled == recurrence.Refused("cancelled", third.starts_at)

    moved_to = third.starts_at + 2 * 3600
    moved = evenings(moved={"2": moved_to})
    assert recurrence.at(moved, third.starts_at) == recurrence.Refused("outside_window",
                                                                      moved_to)
    found = recurrence.at(moved, moved_to + 60)
    assert isinstance(found, recurrence.Open)
    assert found.occurrence.index == 2
    after = recurrence.at(series, items[-1].closes_at + 1)
    assert after == recurrence.Refused("series_over", None)

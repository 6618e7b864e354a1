"""Gap bookkeeping: a difference between desired and actual media becomes a gap only
after the threshold, is repaired again while it lasts, and closes with its length."""

from __future__ import annotations

from media.health import GapTracker

V = ("maria", "video")
A = ("maria", "audio")


def test_short_difference_is_not_a_gap() -> None:
    t = GapTracker(threshold=2.0)
    assert not t.observe("ben", {V}, set(), now=0.0)
    assert not t.observe("ben", {V}, set(), now=1.5)
    assert not t.observe("ben", {V}, {V}, now=1.9)  # caught up in time: never counted
    assert t.open_gaps() == []


def test_gap_opens_after_threshold_repairs_and_closes_with_duration() -> None:
    t = GapTracker(threshold=2.0, repair_every=2.0)
    t.observe("ben", {V, A}, {A}, now=10.0)
    c = t.observe("ben", {V, A}, {A}, now=12.1)
    assert [(g.viewer, g.source, g.kind) for g in c.opened] == [("ben", "maria", "video")]
    assert [g.kind for g in c.repair] == ["video"]
    assert not t.observe("ben", {V, A}, {A}, now=13.0).repair  # repaired 0.9 s ago
    assert [g.repairs for g in t.observe("ben", {V, A}, {A}, now=14.2).repair] == [2]
    assert not t.observe("ben", {V, A}, {A}, now=17.0).repair  # backs off: 4 s now
    assert [g.repairs for g in t.observe("ben", {V, A}, {A}, now=18.3).repair] == [3]
    c = t.observe("ben", {V, A}, {V, A}, now=19.0)
    assert [(g.kind, round(s, 1)) for g, s in c.closed] == [("video", 9.0)]
    assert t.open_gaps() == []


def test_no_longer_desired_ends_the_gap() -> None:
    t = GapTracker(threshold=1.0)
    t.observe("ben", {V}, set(), now=0.0)
    t.observe("ben", {V}, set(), now=1.5)
    c = t.observe("ben", set(), set(), now=2.0)  # Maria went to a breakout
    assert len(c.closed) == 1


def test_forget_a_person_ends_their_gaps_both_ways() -> None:
    t = GapTracker(threshold=1.0)
    t.observe("ben", {V}, set(), now=0.0)
    t.observe("ann", {("ben", "audio")}, set(), now=0.0)
    t.observe("ben", {V}, set(), now=1.5)
    t.observe("ann", {("ben", "audio")}, set(), now=1.5)
    assert len(t.forget("ben", now=2.0).closed) == 2
    assert t.open_gaps() == []


def test_viewers_are_independent() -> None:
    t = GapTracker(threshold=1.0)
    t.observe("ben", {V}, set(), now=0.0)
    t.observe("ann", {V}, {V}, now=0.0)
    t.observe("ben", {V}, set(), now=1.5)
    assert [g.viewer for g in t.open_gaps()] == ["ben"]

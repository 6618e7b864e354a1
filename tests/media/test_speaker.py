"""Active-speaker selection from audio levels (pure)."""

from __future__ import annotations

from media.speaker import RECENT, THRESHOLD, Level, SpeakerDetector, loudest


def test_loudest_recent_unpaused_level_wins() -> None:
    now = 100.0
    levels = [Level("a", 40, now), Level("b", 20, now), Level("c", 10, now, paused=True),
              Level("d", 5, now - RECENT)]
    assert loudest(levels, now) == "b"


def test_silence_and_noise_pick_nobody() -> None:
    assert loudest([Level("a", THRESHOLD, 1.0), Level("b", 127, 1.0)], 1.0) is None
    assert loudest([], 1.0) is None


def test_decisions_are_throttled_and_report_changes_only() -> None:
    d = SpeakerDetector(0.5)
    assert d.due(10.0)
    assert d.decide([Level("a", 30, 10.0)], 10.0) == "a"
    assert not d.due(10.2)
    assert d.due(10.5)
    assert d.decide([Level("a", 30, 10.5)], 10.5) is None  # unchanged
    assert d.decide([Level("a", 50, 11.0), Level("b", 20, 11.0)], 11.0) == "b"
    # everyone falls silent: the last speaker stays
    assert d.decide([], 12.0) is None
    assert d.current == "b"

"""Keyframe gate and PLI throttle (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from media.keyframes import PliThrottle, gate, sources_to_ask, waiting


@dataclass
class Sink:
    waiting: bool = True
    is_ready: bool = True

    def ready(self) -> bool:
        return self.is_ready


@dataclass
class Source:
    kind: str
    sinks: list[Sink] = field(default_factory=list)


def test_throttle_allows_one_pli_per_window() -> None:
    t = PliThrottle(0.5)
    assert t.due(10.0)
    assert not t.due(10.1)
    assert not t.due(10.49)
    assert t.due(10.5)
    assert not t.due(10.6)


def test_forced_pli_goes_out_and_restarts_the_window() -> None:
    t = PliThrottle(0.5)
    assert t.due(10.0)
    assert t.due(10.1, force=True)
    assert not t.due(10.5)  # the window runs from the forced one
    assert t.due(10.6)


def test_gate_makes_every_sink_wait() -> None:
    sinks = [Sink(waiting=False), Sink(waiting=False)]
    gate(sinks)
    assert all(s.waiting for s in sinks)


def test_only_a_ready_waiting_sink_asks_for_a_keyframe() -> None:
    assert not waiting([Sink(waiting=True, is_ready=False), Sink(waiting=False)])
    assert waiting([Sink(waiting=True, is_ready=True)])


def test_loop_asks_video_sources_whose_ready_sinks_wait() -> None:
    """Several sinks joining within one throttle window: the loop keeps asking."""
    video = Source("video", [Sink(waiting=False), Sink(waiting=True)])
    idle = Source("video", [Sink(waiting=False)])
    unready = Source("video", [Sink(waiting=True, is_ready=False)])
    audio = Source("audio", [Sink(waiting=True)])
    assert sources_to_ask([video, idle, unready, audio]) == [video]

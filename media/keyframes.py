"""Keyframes: the per-sink gate, the PLI throttle per source, and the resend loop.

A video decoder can start only on a keyframe, and a browser publisher sends one only
when asked. So:

* every new, re-pointed or resumed sink is *gated* (``waiting``): it forwards nothing
  until the first packet of a VP8 keyframe (``rtp.vp8_is_keyframe``), and only once
  its transport can deliver it (``ready``), so a keyframe is never spent on a sink
  that cannot receive it yet. The check itself is inlined in
  ``Subscription.forward``;
* binding, resuming and an unrepairable upstream gap ask the publisher at once
  (a forced PLI); everything else goes through ``PliThrottle``, at most one PLI per
  ``interval`` per source;
* several sinks joining within one throttle window must not stay gated forever, so
  the router's loop re-asks, throttled, while any ready sink waits
  (``sources_to_ask``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from .rtp import vp8_is_keyframe

__all__ = ["PliThrottle", "gate", "sources_to_ask", "vp8_is_keyframe", "waiting"]


class Gated(Protocol):
    """A sink as the gate sees it."""

    waiting: bool

    def ready(self) -> bool: ...


class Source(Protocol):
    """A publication as the resend loop sees it."""

    kind: str

    @property
    def sinks(self) -> Sequence[Gated]: ...


class PliThrottle:
    """At most one keyframe request per ``interval`` seconds, unless forced."""

    __slots__ = ("interval", "last")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last = 0.0

    def due(self, now: float, force: bool = False) -> bool:
        """Whether to send a PLI now; records it when so."""
        if not force and now - self.last < self.interval:
            return False
        self.last = now
        return True


def gate(sinks: Iterable[Gated]) -> None:
    """Make every sink wait for the next keyframe (after a switch, resume or loss)."""
    for sink in sinks:
        sink.waiting = True


def waiting(sinks: Iterable[Gated]) -> bool:
    """Whether any sink that could deliver a keyframe now is still waiting for one."""
    return any(s.waiting and s.ready() for s in sinks)


S = TypeVar("S", bound=Source)


def sources_to_ask(sources: Iterable[S]) -> list[S]:
    """The video sources a ready sink still waits on (the loop asks each, throttled)."""
    return [s for s in sources if s.kind == "video" and waiting(s.sinks)]

"""Bandwidth ceilings for publishers, from what their viewers report (REMB).

A browser publisher estimates its own send rate, but it cannot see the relay's
other leg: a viewer on a poor link loses packets the publisher never hears of. So
each sink keeps a loss-based estimate from its viewer's receiver reports (the
loss-based half of Google congestion control, draft-ietf-rmcat-gcc-02 section 6):

* fraction lost above 10 %: decrease to ``rate * (1 - 0.5 * loss)``;
* under 2 %: increase by 5 % per report;
* in between: hold.

Every ``REMB_INTERVAL`` the relay sends each publisher connection whose viewers
constrain it one RTCP REMB with the minimum over the sinks of its video publications
(never under ``FLOOR``), so the browser's own estimate has that ceiling; once no
viewer constrains it any more, one last REMB at its caps lifts it (``Peer.send_remb``).
"""

from __future__ import annotations

from collections.abc import Iterable

#: seconds between REMB messages to one publisher connection
REMB_INTERVAL = 1.0
#: no estimate goes under this (bits per second): video stays decodable
FLOOR = 100_000
LOSS_HIGH = 0.10
LOSS_LOW = 0.02
INCREASE = 1.05


class LossEstimate:
    """One viewer's loss-based estimate for one sink, in bits per second."""

    __slots__ = ("ceiling", "rate", "reports")

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.rate = float(ceiling)
        #: receiver reports taken into account
        self.reports = 0

    def on_loss(self, fraction: float) -> int:
        """Update from one receiver report's fraction lost (0..1); the new rate."""
        self.reports += 1
        if fraction > LOSS_HIGH:
            self.rate *= 1 - 0.5 * fraction
        elif fraction < LOSS_LOW:
            self.rate *= INCREASE
        self.rate = min(float(self.ceiling), max(float(FLOOR), self.rate))
        return int(self.rate)


def ceiling(estimates: Iterable[LossEstimate]) -> int | None:
    """The publisher's ceiling: its slowest viewer's estimate (None: nobody watches)."""
    rates = [int(e.rate) for e in estimates]
    return min(rates) if rates else None

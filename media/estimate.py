"""Bandwidth estimates: publishers' REMB ceilings and each viewer's downlink.

**Per sink (REMB to publishers).** A browser publisher estimates its own send rate,
but it cannot see the relay's other leg: a viewer on a poor link loses packets the
publisher never hears of. So each sink keeps a loss-based estimate from its viewer's
receiver reports (the loss-based half of Google congestion control,
draft-ietf-rmcat-gcc-02 section 6):

* fraction lost above 10 %: decrease to ``rate * (1 - 0.5 * loss)``;
* under 2 %: increase by 5 % per report;
* in between: hold.

Every ``REMB_INTERVAL`` the relay sends each publisher connection whose viewers
constrain it one RTCP REMB with the minimum over the sinks of its video publications
(never under ``FLOOR``), so the browser's own estimate has that ceiling; once no
viewer constrains it any more, one last REMB at its caps lifts it (``Peer.send_remb``).
Sinks of a simulcast publication do not count (``publisher_ceiling``): a slow viewer
gets a lower layer instead of lowering what everyone else receives.

**Per viewer (layer choice).** ``DownlinkEstimate`` estimates what one viewer's link
carries, from what the relay actually sent it (every slot's bytes, audio included)
and the loss its receiver reports say: above 10 % loss the estimate falls at once to
what got through (``sent * (1 - loss)``); under 2 % over the link's usual loss
(up to ``USUAL_LOSS_MAX`` of it: a Wi-Fi link's random loss is not congestion) it
grows by ``GROWTH`` per second, but never past ``1.5 * sent + PROBE_ALLOWANCE``
(no estimate far beyond the evidence); in between it holds, except just after an
upgrade, when loss that rose ``LOSS_RISE`` over the link's usual loss also falls at
once (the upgrade was the probe, and it failed). A fresh viewer starts at ``DOWNLINK_START``.

**Delay.** The round trips in a viewer's receiver reports (``RoundTrip``) say
when a queue builds on its link (``QueueWatch``), long before a deep buffer
overflows: while it builds, the estimate does not grow, and once it stands
(``QueueWatch.standing``), the estimate falls to ``OVERUSE_BACKOFF`` of what was
sent, at most once per ``OVERUSE_DRAIN`` plus the time a queue takes to be called
one. The round trip is measured on the relay's event loop, so a loop running late
would look like a queue on every viewer's link; the adapter takes the loop's own
lateness off each sample.

**Whose loss.** The relay forwards with the publisher's numbering, so what the
publisher's uplink lost is a gap in every viewer's stream too, reported as lost
before the relay's NACK brings it back. Each layer measures what its stream skipped
(``UpstreamLoss``), and a viewer's report counts only what is left after it
(``downstream_loss``): one publisher on a lossy uplink does not pause
everyone's video of everyone else.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import takewhile
from typing import Protocol

#: seconds between REMB messages to one publisher connection
REMB_INTERVAL = 1.0
#: no estimate goes under this (bits per second): video stays decodable
FLOOR = 100_000
LOSS_HIGH = 0.10
LOSS_LOW = 0.02
INCREASE = 1.05

#: a fresh viewer's downlink estimate (bps): enough for a few tiles at the middle
#: layer, so the first layers are sensible before any report arrived
DOWNLINK_START = 1_500_000
#: growth of the downlink estimate per second while its reports show under 2 % loss
GROWTH = 0.08
#: the least it grows per second (bps), so it climbs back from an audio-only level
MIN_GROWTH = 20_000
#: growth stops at ``SENT_HEADROOM * sent + PROBE_ALLOWANCE``: the estimate may run
#: ahead of what was sent by this much, enough for one tile's step from 360p to 720p
#: (about 0.4 to 1 Mbps) with the upgrade margin. An upgrade is the only probe a
#: loss-based estimate has; one that fails is undone at once (``layers``)
SENT_HEADROOM = 1.5
PROBE_ALLOWANCE = 800_000
#: after an upgrade, loss this much over the link's usual loss is congestion
LOSS_RISE = 0.03
#: the most of a link's usual loss that growth looks past: a home Wi-Fi link that
#: loses 3 % whatever the rate still grows while reports stay under 2 % over that
USUAL_LOSS_MAX = 0.05
#: how fast the usual loss follows the reports (share of each report)
BASELINE_SMOOTHING = 0.2
#: growth counts at most this many seconds between two pooled losses (``LossWindow``
#: pools at most ``LOSS_WINDOW`` after a report); the first counts ``SENT_WINDOW``
MAX_GAP = 2.0
#: the downlink estimate never goes under this (bps)
DOWNLINK_FLOOR = 32_000
#: the sent rate is measured over this many seconds (about one receiver report)
SENT_WINDOW = 1.0
#: a viewer's round trip this much (seconds) over its least of the last
#: ``RTT_BASE_SPAN`` seconds, and at least double it, means a queue is building on
#: its link ...
DELAY_RISE = 0.03
#: ... and half that rise, in any one round trip of late, means the link is not
#: quiet: no test starts on it, and one under way fails. A 300 kbit/s link that
#: three 180p tiles and three voices fill stands about 55 ms over its least: a step's
#: padding on top of it overflows the link's buffer before the next report
DELAY_QUIET = 0.5
RTT_BASE_SPAN = 30.0
#: ... when every round trip of the last ``DELAY_WINDOW`` seconds says so, and they
#: are at least ``DELAY_SAMPLES`` spanning ``DELAY_PERSIST`` seconds: several slots'
#: reports caught in one spike of jitter (or of the relay's own event loop) are one
#: event, not a queue
DELAY_SAMPLES = 2
DELAY_WINDOW = 1.5
DELAY_PERSIST = 0.5
#: a queue that stands (``QueueWatch.standing``: every round trip of the window
#: twice ``DELAY_RISE`` over the least, and they differ among themselves by less than
#: that) lowers the estimate to this share of what was sent: the link carries less
#: than that, or no queue would build. The layers then keep their margin under it
#: (``layers``), so the queue drains. A browser short of CPU reads its packets late
#: too, but by leaps (40 ms, then 430, then 50), not as a queue that holds its level
OVERUSE_BACKOFF = 0.9
OVERUSE_RISE = 2.0
#: ... over the last ``OVERUSE_WINDOW`` seconds, in reports that arrived at least
#: ``OVERUSE_REPORTS`` different times spanning ``OVERUSE_PERSIST``: a starved
#: browser's late reads come in spells of a second or two, a full link's queue stays
OVERUSE_WINDOW = 2.5
OVERUSE_PERSIST = 1.5
OVERUSE_REPORTS = 3
#: after the estimate was lowered (on a queue or on loss), the round trips of this
#: many seconds are not read for a queue: they measure the one the lowering drains
OVERUSE_DRAIN = 1.5
#: round trips a slot remembers sending an SR for (SRs go every 0.5 to 1.5 s)
SR_REMEMBERED = 8
#: bytes a packet takes on the wire beyond its RTP bytes: SRTP tag (10), UDP and
#: IPv4 (28)
BELOW_RTP = 38
#: bytes per forwarded packet on the wire beyond its payload: RTP header and
#: extensions (20), and what is below RTP
WIRE_OVERHEAD = 20 + BELOW_RTP
#: a layer's uplink loss is measured over windows of this many seconds (about one
#: receiver report of the viewers')
UPSTREAM_WINDOW = 1.0
#: a viewer's loss is pooled over all its streams until this many packets were due
#: (``LossWindow``): at 3 % random loss, one report of a 15-packet 180p stream says
#: 0 % or 13 %, a hundred packets say 3 % give or take 1.7
LOSS_PACKETS = 100
#: ... or until this many seconds passed with any packet due (a quiet viewer)
LOSS_WINDOW = 1.5
#: ... but never fewer packets than this (as in libwebrtc's loss-based estimate):
#: 9 of 13 lost can be one keyframe's burst, not the link
LOSS_MIN_PACKETS = 20
#: a rise in loss after an upgrade counts when it is this many standard deviations
#: of the usual loss (``significant_rise``)
RISE_DEVIATIONS = 2.5
#: what a link carried cleanly is granted again after a failed upgrade, with this
#: slack: a one-second send rate moves by a packet or two, and the allocation it
#: measured must fit again, not miss by a rounding
CARRIED_SLACK = 1.03
#: pooled receiver reports describe about this many seconds before they arrive
REPORT_SPAN = 2.5
#: a report that says more packets were due since the previous one is not believed
#: (a reset stream, a wrapped or forged counter)
MAX_REPORT_SPAN = 20_000


def downstream_loss(reported: float, upstream: float) -> float:
    """The loss on the relay's leg to a viewer alone.

    The relay forwards what it got with the publisher's numbering, so a packet the
    publisher's uplink lost is a gap the viewer reports as lost too: what arrives is
    ``(1 - upstream) * (1 - downstream)``. Counted whole, a publisher on a lossy
    uplink would lower every viewer's estimate and pause their video of everyone."""
    if upstream <= 0.0:
        return reported
    if upstream >= 1.0:
        return 0.0
    return max(0.0, 1.0 - (1.0 - reported) / (1.0 - upstream))


class UpstreamLoss:
    """The share of one layer's packets missing when they were due at the relay, over
    the last ``UPSTREAM_WINDOW``: what every viewer's stream skips too, and reports as
    lost before any repair arrives. Sampled from cumulative counts (packets expected,
    packets skipped by a gap) off the per-packet path."""

    __slots__ = ("_at", "_expected", "_skipped", "fraction")

    def __init__(self) -> None:
        self.fraction = 0.0
        self._at: float | None = None
        self._expected = 0
        self._skipped = 0

    def sample(self, now: float, expected: int, skipped: int) -> None:
        """Cumulative counts at ``now``; a window that has run its length updates
        ``fraction`` (a window with nothing expected leaves it as it was)."""
        if self._at is None or expected < self._expected or skipped < self._skipped:
            self._at, self._expected, self._skipped = now, expected, skipped
            return
        if now - self._at < UPSTREAM_WINDOW:
            return
        want, missed = expected - self._expected, skipped - self._skipped
        if want > 0:
            self.fraction = min(1.0, max(0.0, missed / want))
        self._at, self._expected, self._skipped = now, expected, skipped


class RoundTrip:
    """One slot's round trips from its viewer's receiver reports (RFC 3550 6.4.1:
    the report's arrival, less when the SR it echoes (LSR) was sent, less the delay
    the viewer says it held it (DLSR)). A queue building on the viewer's link shows
    here before it overflows: the delay-based half of what the adapter reads."""

    __slots__ = ("_sent", "fresh")

    def __init__(self) -> None:
        self._sent: deque[tuple[int, float | None]] = deque(maxlen=SR_REMEMBERED)
        #: round trips (seconds) measured since the adapter last took them
        self.fresh: list[float] = []

    def on_sr(self, lsr: int, now: float) -> None:
        """An SR with middle NTP bits ``lsr`` was sent at ``now`` (wall clock).

        The relay's SRs carry the publisher's NTP time, so two in a row can carry the
        same one: an echo of it cannot tell which was meant, and gives no round trip."""
        sent = self._sent
        for i, (x, _) in enumerate(sent):
            if x == lsr:
                sent[i] = (lsr, None)
                return
        sent.append((lsr, now))

    def on_report(self, lsr: int, dlsr: int, now: float) -> float | None:
        """A report block echoing ``lsr`` after ``dlsr`` (1/65536 s) arrived at
        ``now``: the round trip, or None when it echoes no SR of ours."""
        if not lsr:
            return None
        for sent, at in self._sent:
            if sent == lsr:
                if at is None:
                    return None
                rtt = max(0.0, now - at - dlsr / 65536)
                if len(self.fresh) < SR_REMEMBERED:
                    self.fresh.append(rtt)
                return rtt
        return None

    def take(self) -> list[float]:
        """The round trips measured since the last call."""
        out, self.fresh = self.fresh, []
        return out


class QueueWatch:
    """One viewer's round trips over all its slots: a queue builds on its link when
    the latest ones stand ``DELAY_RISE`` (and the least itself) over the least of the
    last ``RTT_BASE_SPAN``, for ``DELAY_PERSIST`` seconds.

    A loss-based estimate hears of an overfull link only once its queue overflows,
    a second or more later in the receiver reports, and a deep home-router buffer may
    not overflow for seconds while every voice arrives late. The round trip rises
    from the first queued packet."""

    __slots__ = ("_samples",)

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, rtt: float) -> None:
        samples = self._samples
        samples.append((now, rtt))
        while samples and now - samples[0][0] > RTT_BASE_SPAN:
            samples.popleft()

    def base(self) -> float | None:
        """The least round trip of the last ``RTT_BASE_SPAN`` (None: none yet)."""
        return min((r for _, r in self._samples), default=None)

    def _recent(self, now: float, share: float = 1.0, window: float = DELAY_WINDOW
                ) -> tuple[list[tuple[float, float]], float, float]:
        """The samples of the last ``window`` seconds, newest first, the least round
        trip, and the one over which a sample has risen by ``share`` of the rise;
        no samples before there are more than ``DELAY_SAMPLES``."""
        samples = self._samples
        if len(samples) <= DELAY_SAMPLES:
            return [], 0.0, math.inf
        least = min(r for _, r in samples)
        recent = list(takewhile(lambda x: now - x[0] <= window, reversed(samples)))
        return recent, least, least + share * max(DELAY_RISE, least)

    def rising(self, now: float) -> bool:
        """Whether any round trip of the last ``DELAY_WINDOW`` rose ``DELAY_QUIET`` of
        the way to a queue: too early to call one, too late to start a test on the
        link."""
        recent, _, floor = self._recent(now, DELAY_QUIET)
        return any(r > floor for _, r in recent)

    def queuing(self, now: float) -> bool:
        """Whether every round trip of the last ``DELAY_WINDOW`` rose, over at least
        ``DELAY_PERSIST`` seconds."""
        recent, _, floor = self._recent(now)
        if len(recent) < DELAY_SAMPLES or recent[0][0] - recent[-1][0] < DELAY_PERSIST:
            return False
        return all(r > floor for _, r in recent)

    def standing(self, now: float, since: float = -math.inf) -> bool:
        """Whether a queue stands: every round trip of the last ``OVERUSE_WINDOW``
        measured after ``since`` rose ``OVERUSE_RISE`` times as far as ``queuing``
        asks, in ``OVERUSE_REPORTS`` arrivals over at least ``OVERUSE_PERSIST``
        seconds, and they differ among themselves by less than they rose."""
        recent, least, floor = self._recent(now, OVERUSE_RISE, OVERUSE_WINDOW)
        recent = [x for x in recent if x[0] >= since]
        if len({t for t, _ in recent}) < OVERUSE_REPORTS \
                or recent[0][0] - recent[-1][0] < OVERUSE_PERSIST:
            return False
        rtts = [r for _, r in recent]
        return min(rtts) > floor and max(rtts) - min(rtts) < min(rtts) - least


class LossEstimate:
    """One viewer's loss-based estimate for one sink, in bits per second; also the
    latest fraction lost its receiver reported, and when, and the packets its reports
    covered and said were lost, cumulative (``LossWindow`` pools them per viewer)."""

    __slots__ = ("_highest", "ceiling", "counted", "loss", "loss_at", "missing", "rate",
                 "reports")

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.rate = float(ceiling)
        #: receiver reports taken into account
        self.reports = 0
        #: the latest report's fraction lost (0..1) and its arrival (monotonic seconds;
        #: 0.0: none yet)
        self.loss = 0.0
        self.loss_at = 0.0
        #: packets due over the reports since the first (from their extended highest
        #: sequence numbers), and how many of them the reports' fractions say were lost
        self.counted = 0
        self.missing = 0.0
        self._highest: int | None = None

    @property
    def highest(self) -> int:
        """The extended highest sequence number of the latest report (0: none yet)."""
        return self._highest or 0

    def on_loss(self, fraction: float, now: float | None = None,
                highest: int | None = None) -> int:
        """Update from one receiver report's fraction lost (0..1) and, when known, its
        extended highest sequence number received; the new rate."""
        self.reports += 1
        self.loss = fraction
        self.loss_at = time.monotonic() if now is None else now
        if highest is not None:
            if self._highest is not None and 0 < highest - self._highest <= MAX_REPORT_SPAN:
                due = highest - self._highest
                self.counted += due
                self.missing += due * fraction
            self._highest = highest
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


class SinkView(Protocol):
    """What the REMB ceiling reads of a sink."""

    @property
    def estimate(self) -> LossEstimate: ...


class PublicationView(Protocol):
    """What the REMB ceiling reads of a publication: its layers and sinks."""

    @property
    def layers(self) -> Sequence[object]: ...

    @property
    def sinks(self) -> Sequence[SinkView]: ...


def publisher_ceiling(publications: Iterable[PublicationView]) -> int | None:
    """The ceiling for one publisher connection: its slowest viewer's estimate over
    its single-layer video publications only. A simulcast publication's slow viewer
    gets a lower layer, so it must not lower the rate every other viewer receives
    (None: no viewer constrains it)."""
    return ceiling(s.estimate for p in publications if len(p.layers) <= 1 for s in p.sinks)


class Meter:
    """A cumulative byte counter turned into a rate (bps) over the last ``window``
    seconds. A counter that goes back (a slot that was replaced) starts over."""

    __slots__ = ("_samples", "window")

    def __init__(self, window: float = SENT_WINDOW) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, total: int) -> float:
        """Record the counter at ``now``; the rate over the window (0.0 until two
        samples)."""
        samples = self._samples
        if samples and total < samples[-1][1]:
            samples.clear()
        samples.append((now, total))
        while len(samples) > 2 and now - samples[1][0] >= self.window:
            samples.popleft()
        return self.rate()

    def rate(self) -> float:
        """Bits per second between the oldest and newest sample kept."""
        samples = self._samples
        if len(samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = samples[0], samples[-1]
        return (b1 - b0) * 8 / (t1 - t0) if t1 > t0 else 0.0

    def span(self) -> float:
        """Seconds the kept samples cover."""
        samples = self._samples
        return samples[-1][0] - samples[0][0] if len(samples) >= 2 else 0.0


def significant_rise(baseline: float, packets: int) -> float:
    """How far over the link's usual loss a pooled loss must be to mean congestion:
    ``LOSS_RISE``, or ``RISE_DEVIATIONS`` standard deviations of the usual loss over
    that many packets if more (a binomial count: at 3 % usual loss, 100 packets lose
    3 give or take 1.7, so 5 lost is chance)."""
    usual = min(max(baseline, LOSS_LOW), USUAL_LOSS_MAX)
    spread = math.sqrt(usual * (1 - usual) / max(1, packets))
    return max(LOSS_RISE, RISE_DEVIATIONS * spread)


class LossWindow:
    """One viewer's loss, pooled over all its streams by packet count.

    Each receiver report covers one stream for about a second: a 180p stream's dozen
    packets, so one lost packet reads as 8 %. Taken one report at a time, a link's
    random loss would look like congestion again and again. Pooled until
    ``LOSS_PACKETS`` were due (or ``LOSS_WINDOW`` passed, once at least
    ``LOSS_MIN_PACKETS`` were), it is the link's loss."""

    __slots__ = ("_start", "expected", "missing")

    def __init__(self) -> None:
        self.expected = 0
        self.missing = 0.0
        self._start: float | None = None

    def add(self, now: float, expected: int, missing: float) -> None:
        """Packets due and lost per the reports that arrived since the last call."""
        if expected <= 0:
            return
        if self._start is None:
            self._start = now
        self.expected += expected
        self.missing += missing

    def take(self, now: float) -> tuple[float, int] | None:
        """(fraction lost, packets pooled) once enough is pooled (and start over),
        else None."""
        if self._start is None or self.expected < LOSS_MIN_PACKETS or (
                self.expected < LOSS_PACKETS and now - self._start < LOSS_WINDOW):
            return None
        out = min(1.0, max(0.0, self.missing / self.expected)), self.expected
        self.expected, self.missing, self._start = 0, 0.0, None
        return out


class Recent:
    """Values of the last ``seconds`` (one per tick), for their mean."""

    __slots__ = ("_values", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._values: deque[tuple[float, float]] = deque()

    def add(self, now: float, value: float) -> None:
        values = self._values
        values.append((now, value))
        while values and now - values[0][0] > self.seconds:
            values.popleft()

    def values(self, now: float) -> list[float]:
        return [v for t, v in self._values if now - t <= self.seconds]


class DownlinkEstimate:
    """One viewer's downlink (bps) from what was sent to it and the loss it reports."""

    __slots__ = ("_last", "_offered", "baseline", "carried", "rate", "sent")

    def __init__(self, start: int = DOWNLINK_START) -> None:
        self.rate = float(start)
        #: what was sent to the viewer over the last ``SENT_WINDOW`` (bps)
        self.sent = 0.0
        #: the link's usual loss (random loss of a Wi-Fi link, say), from reports
        #: outside upgrades
        self.baseline = 0.0
        #: the rate sent at the latest clean loss outside upgrades: what the link is
        #: known to carry
        self.carried = 0.0
        self._last: float | None = None
        self._offered = Recent(REPORT_SPAN)

    def update(self, now: float, sent: float, loss: float | None,
               probing: bool = False, packets: int = LOSS_PACKETS,
               counted: bool = False, queuing: bool = False,
               overuse: bool = False) -> int:
        """One tick: ``sent`` is the rate sent to the viewer over the last window
        (bps, audio included), ``loss`` the fraction lost over the ``packets`` the
        receiver reports pooled since the last loss (None: not enough yet).
        ``probing``: a layer was just raised, so loss that rose ``LOSS_RISE`` over the
        link's usual loss (even under 10 %), and by more than chance explains
        (``significant_rise``), means the link cannot carry the new rate;
        ``counted``: that upgrade's failure already lowered the estimate once, so
        the loss still in flight lowers it no further than what carried before;
        ``queuing``: the viewer's round trip rose (``QueueWatch``), so it does not
        grow; ``overuse``: a queue stood and it was not lowered for it lately, so it
        falls to ``OVERUSE_BACKOFF`` of what was sent (the delay-based decrease of
        draft-ietf-rmcat-gcc-02 section 5.5: a link that builds a queue carries less
        than it is sent, and a loss-based estimate would wait for the queue to
        overflow). Returns the estimate.

        Growth is per second since the previous report (at most ``MAX_GAP``), so it
        does not depend on how often reports or ticks come."""
        self.sent = sent
        self._offered.add(now, sent)
        if overuse and sent > 0:
            self.rate = max(float(DOWNLINK_FLOOR), min(self.rate, OVERUSE_BACKOFF * sent))
        if loss is None:
            return int(self.rate)
        dt = SENT_WINDOW if self._last is None else min(MAX_GAP, max(0.0, now - self._last))
        self._last = now
        rose = probing and not counted and loss > LOSS_LOW \
            and loss > self.baseline + significant_rise(self.baseline, packets)
        if not probing:
            self.baseline += (loss - self.baseline) * BASELINE_SMOOTHING
        if loss > LOSS_HIGH or rose:
            if sent > 0:
                # The reports describe the last second or two: what was offered over
                # them (a pause the loss itself caused came after most of it, an
                # upgrade's burst at the end of it) times the share that got through.
                offered = self._offered.values(now)
                through = (sum(offered) / len(offered) if offered else sent) * (1 - loss)
                # A failed upgrade's loss measures the overshoot, and by chance more:
                # what the link carried cleanly before it still holds.
                floor = self.carried * CARRIED_SLACK if probing else 0.0
                self.rate = min(self.rate, max(through, floor))
        elif loss < LOSS_LOW + min(self.baseline, USUAL_LOSS_MAX):
            if not probing:
                self.carried = sent
            bound = SENT_HEADROOM * sent + PROBE_ALLOWANCE
            if self.rate < bound and not queuing:
                grown = self.rate + max(self.rate * GROWTH, MIN_GROWTH) * dt
                self.rate = min(bound, grown)
        self.rate = max(float(DOWNLINK_FLOOR), self.rate)
        return int(self.rate)

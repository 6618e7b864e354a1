"""Loss-based viewer estimates, the publisher ceiling they give, and each viewer's
downlink estimate (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from media.estimate import (
    DELAY_PERSIST,
    DELAY_QUIET,
    DELAY_RISE,
    DELAY_WINDOW,
    DOWNLINK_FLOOR,
    DOWNLINK_START,
    FLOOR,
    LOSS_MIN_PACKETS,
    LOSS_WINDOW,
    MIN_GROWTH,
    OVERUSE_BACKOFF,
    OVERUSE_RISE,
    PROBE_ALLOWANCE,
    RTT_BASE_SPAN,
    SENT_HEADROOM,
    DownlinkEstimate,
    LossEstimate,
    LossWindow,
    Meter,
    QueueWatch,
    RoundTrip,
    UpstreamLoss,
    ceiling,
    downstream_loss,
    publisher_ceiling,
)


def test_heavy_loss_decreases_in_proportion() -> None:
    e = LossEstimate(1_000_000)
    assert e.on_loss(0.2) == 900_000
    assert e.on_loss(0.5) == 675_000


def test_moderate_loss_holds_and_low_loss_recovers_up_to_the_cap() -> None:
    e = LossEstimate(1_000_000)
    e.on_loss(0.4)
    assert e.on_loss(0.05) == 800_000
    assert e.on_loss(0.0) == 840_000
    for _ in range(10):
        e.on_loss(0.0)
    assert e.rate == pytest.approx(1_000_000)


def test_never_under_the_floor() -> None:
    e = LossEstimate(1_000_000)
    for _ in range(50):
        e.on_loss(1.0)
    assert e.rate == FLOOR


def test_ceiling_is_the_slowest_viewer() -> None:
    good, bad = LossEstimate(1_000_000), LossEstimate(1_000_000)
    bad.on_loss(0.6)
    assert ceiling([good, bad]) == 700_000
    assert ceiling([]) is None


def test_a_report_records_its_loss_and_arrival() -> None:
    e = LossEstimate(1_000_000)
    assert (e.loss, e.loss_at) == (0.0, 0.0)
    e.on_loss(0.25, now=12.5)
    assert (e.loss, e.loss_at, e.reports) == (0.25, 12.5, 1)


@dataclass
class Pub:
    layers: list[str]
    sinks: list[Sink] = field(default_factory=list)


@dataclass
class Sink:
    estimate: LossEstimate


def lossy(rate_after: float) -> Sink:
    e = LossEstimate(1_000_000)
    e.rate = rate_after
    return Sink(e)


def test_a_simulcast_publications_slow_viewer_does_not_lower_the_publisher() -> None:
    """A slow viewer of a simulcast camera gets a lower layer; only viewers of
    single-layer publications (a screen share, a camera without simulcast) set the
    publisher's ceiling."""
    camera = Pub(["q", "h", "f"], [lossy(200_000), lossy(1_000_000)])
    screen = Pub([""], [lossy(800_000), lossy(2_000_000)])
    assert publisher_ceiling([camera]) is None
    assert publisher_ceiling([camera, screen]) == 800_000
    assert publisher_ceiling([Pub([""], [lossy(300_000)])]) == 300_000
    assert publisher_ceiling([]) is None


def test_meter_rate_over_its_window() -> None:
    m = Meter(window=1.0)
    assert m.add(0.0, 0) == 0.0
    for i in range(1, 21):  # 12 500 bytes every 0.1 s: 1 Mbps
        rate = m.add(i / 10, 12_500 * i)
    assert rate == pytest.approx(1_000_000)
    assert m.span() == pytest.approx(1.0)
    # a counter that goes back (the slot was replaced) starts over
    assert m.add(2.1, 100) == 0.0
    assert m.add(2.2, 1_350) == pytest.approx(100_000)


def test_downlink_starts_at_a_rate_that_gives_sensible_first_layers() -> None:
    d = DownlinkEstimate()
    assert d.rate == DOWNLINK_START == 1_500_000
    # no report yet: what was sent changes nothing
    assert d.update(0.1, 50_000, None) == DOWNLINK_START


def test_downlink_heavy_loss_falls_at_once_to_what_got_through() -> None:
    d = DownlinkEstimate()
    assert d.update(1.0, 1_000_000, 0.4) == 600_000
    # a later heavy loss never raises it, even when more was sent
    assert d.update(2.0, 2_000_000, 0.5) == 600_000
    # heavy loss while nothing was measured as sent: no evidence, hold
    assert d.update(3.0, 0, 0.9) == 600_000


def test_downlink_moderate_loss_holds() -> None:
    """5 % on a link that usually loses nothing holds the estimate (until it has
    lasted long enough to be the link's usual loss)."""
    d = DownlinkEstimate(400_000)
    for t in range(1, 4):
        assert d.update(float(t), 380_000, 0.05) == 400_000


def test_downlink_grows_eight_percent_a_second_under_low_loss() -> None:
    d = DownlinkEstimate(1_000_000)
    d.update(0.0, 1_000_000, 0.0)  # the first report: one second's worth
    assert d.rate == pytest.approx(1_080_000)
    d.update(1.0, 1_000_000, 0.01)
    assert d.rate == pytest.approx(1_080_000 * 1.08)
    # reports twice a second grow it by the same per second
    d2 = DownlinkEstimate(1_000_000)
    d2.update(0.0, 1_000_000, 0.0)
    d2.update(0.5, 1_000_000, 0.0)
    d2.update(1.0, 1_000_000, 0.0)
    assert d2.rate == pytest.approx(1_080_000 * 1.04 * 1.04)


def test_a_queue_stands_when_its_round_trips_hold_their_level() -> None:
    """``standing`` (what lowers the estimate) asks for twice the rise ``queuing``
    does, and for round trips that differ among themselves by less than they rose: a
    queue holds its level, a browser short of CPU reads its reports late by leaps."""
    q = QueueWatch()
    for i in range(10):
        q.add(i * 0.3, 0.01)
    low = 0.01 + DELAY_RISE * 1.5  # a queue, but not yet one to lower for
    q.add(4.0, low)
    q.add(4.6, low)
    assert q.queuing(4.6)
    assert not q.standing(4.6)
    high = 0.01 + DELAY_RISE * OVERUSE_RISE + 0.2
    q.add(6.0, high)
    q.add(6.6, high + 0.02)
    assert not q.standing(6.6)  # two reports in 0.6 s: a spell, not yet a queue
    q.add(7.2, high)
    q.add(7.6, high)
    assert q.standing(7.6)
    # round trips measured before ``since`` (a lowering's drain) are not read
    assert not q.standing(7.6, since=6.1)
    q.add(8.2, high)
    assert q.standing(8.2, since=6.1)
    # the same level reached by leaps: 40 ms, then 430, then 50 is no queue
    leaps = QueueWatch()
    for i in range(10):
        leaps.add(i * 0.3, 0.001)
    for t, r in ((4.0, 0.09), (4.5, 0.43), (5.0, 0.1), (5.5, 0.2), (6.0, 0.15)):
        leaps.add(t, r)
    assert leaps.queuing(6.0)
    assert not leaps.standing(6.0)


def test_downlink_falls_under_what_was_sent_on_a_standing_queue() -> None:
    """A queue that stands means the link carries less than it was sent: the
    estimate falls to ``OVERUSE_BACKOFF`` of it at once, with or without a loss
    report, and never rises for it; ``queuing`` alone only stops the growth."""
    d = DownlinkEstimate(2_000_000)
    assert d.update(1.0, 500_000, None, overuse=True) == int(OVERUSE_BACKOFF * 500_000)
    assert d.update(2.0, 500_000, 0.0, queuing=True) == int(OVERUSE_BACKOFF * 500_000)
    assert d.update(3.0, 900_000, 0.0, queuing=True, overuse=True) \
        == int(OVERUSE_BACKOFF * 500_000)
    assert d.update(4.0, 10_000, None, overuse=True) == DOWNLINK_FLOOR


def test_downlink_growth_is_bounded_by_what_was_sent() -> None:
    """Without evidence the link carries more, the estimate stops at 1.5 times what
    was sent plus the probe allowance; one already above is not pulled down."""
    d = DownlinkEstimate(900_000)
    bound = SENT_HEADROOM * 300_000 + PROBE_ALLOWANCE
    for t in range(30):
        d.update(float(t), 300_000, 0.0)
    assert d.rate == pytest.approx(bound)
    high = DownlinkEstimate(3_000_000)
    assert high.update(1.0, 300_000, 0.0) == 3_000_000


def test_downlink_climbs_back_from_an_audio_only_level() -> None:
    d = DownlinkEstimate(40_000)
    d.update(0.0, 40_000, 0.0)
    assert d.rate == 40_000 + MIN_GROWTH
    for t in range(1, 8):
        d.update(float(t), 40_000, 0.0)
    assert d.rate >= 190_000  # enough for audio plus the lowest layer: probing may start


def test_downlink_never_under_its_floor() -> None:
    d = DownlinkEstimate()
    d.update(1.0, 10_000, 0.99)
    assert d.rate == DOWNLINK_FLOOR


def test_just_after_an_upgrade_a_rise_in_loss_undoes_it() -> None:
    """Under 10 % loss the estimate holds, except right after an upgrade: loss that
    rose 3 points over the link's usual loss means the link cannot carry the new
    rate, and the estimate falls to what got through."""
    d = DownlinkEstimate(2_000_000)
    for t in range(20):  # a link with about 1 % random loss
        d.update(float(t), 800_000, 0.01)
    assert d.baseline == pytest.approx(0.01, abs=0.001)
    high = d.rate
    assert d.update(20.0, 1_100_000, 0.07) == int(high)  # no upgrade: hold
    # what got through of what was offered over the reports' span (``REPORT_SPAN``:
    # the ticks at 19, 20 and 21 s)
    offered = (800_000 + 1_100_000 + 1_100_000) / 3
    assert d.update(21.0, 1_100_000, 0.08, probing=True) == int(offered * 0.92)
    # a link whose usual loss is already 6 % is not congested by an upgrade's 7 %
    noisy = DownlinkEstimate(2_000_000)
    for t in range(20):
        noisy.update(float(t), 800_000, 0.06)
    assert noisy.update(20.0, 1_100_000, 0.07, probing=True) == 2_000_000
    # reports during an upgrade do not move the usual loss
    before = noisy.baseline
    noisy.update(21.0, 1_100_000, 0.09, probing=True)
    assert noisy.baseline == before


def test_a_link_with_steady_random_loss_still_grows() -> None:
    """Home Wi-Fi loses a few percent whatever the rate: 3 % in every report is the
    link's usual loss, not congestion, so the estimate grows (held at 3 %, a viewer
    once at audio only never got video back). Loss well over the usual still holds,
    and the usual loss counts for at most 5 %."""
    d = DownlinkEstimate(165_000)
    for t in range(30):
        d.update(float(t), 150_000, 0.03)
    assert d.baseline == pytest.approx(0.03, abs=0.001)
    assert d.rate > 300_000
    held = d.rate
    assert d.update(30.0, 150_000, 0.06) == int(held)
    lossy = DownlinkEstimate(165_000)
    for t in range(30):
        lossy.update(float(t), 150_000, 0.09)
    assert lossy.rate == 165_000


@pytest.mark.parametrize(("reported", "upstream", "expected"), [
    (0.05, 0.0, 0.05),  # a clean uplink: the report is the relay's leg
    (0.05, 0.05, 0.0),  # every gap came from the uplink
    (0.145, 0.05, 0.1),  # (1 - 0.05) * (1 - 0.1) arrived
    (0.02, 0.05, 0.0),  # a report under the uplink's loss (another window) is no loss
    (0.3, 1.0, 0.0),  # nothing arrived upstream: nothing to say about the viewer
])
def test_downstream_loss(reported: float, upstream: float, expected: float) -> None:
    assert downstream_loss(reported, upstream) == pytest.approx(expected, abs=1e-3)


def test_upstream_loss_over_windows_of_a_second() -> None:
    up = UpstreamLoss()
    up.sample(10.0, 100, 0)
    up.sample(10.5, 150, 10)  # half a window: not yet
    assert up.fraction == 0.0
    up.sample(11.0, 200, 10)
    assert up.fraction == pytest.approx(0.1)
    up.sample(12.0, 200, 10)  # nothing expected: the last value stays
    assert up.fraction == pytest.approx(0.1)
    up.sample(13.0, 300, 10)
    assert up.fraction == 0.0
    up.sample(14.0, 10, 0)  # counts that went back (new statistics): start over
    up.sample(15.0, 110, 50)
    assert up.fraction == pytest.approx(0.5)


def test_loss_is_pooled_by_packet_count() -> None:
    """A viewer's reports are pooled until ``LOSS_PACKETS`` were due, or until
    ``LOSS_WINDOW`` passed; never fewer than ``LOSS_MIN_PACKETS``: a 180p tile's
    keyframe lost in one burst (9 of 13 packets) is not a link at 69 % loss."""
    w = LossWindow()
    assert w.take(0.0) is None
    w.add(0.0, 60, 3)
    assert w.take(0.5) is None
    w.add(0.5, 40, 1)
    assert w.take(0.5) == (0.04, 100)
    assert w.take(0.6) is None  # started over
    w.add(1.0, 13, 9)
    assert w.take(1.0 + LOSS_WINDOW) is None  # too few, however long
    assert w.take(60.0) is None
    w.add(61.0, 7, 0)
    assert w.take(61.0) == (pytest.approx(9 / 20), LOSS_MIN_PACKETS)
    w.add(62.0, 30, 0)
    assert w.take(62.0 + LOSS_WINDOW - 0.1) is None
    assert w.take(62.0 + LOSS_WINDOW) == (0.0, 30)


def test_a_round_trip_from_the_sr_a_report_echoes() -> None:
    """RFC 3550 6.4.1: arrival, less when the echoed SR went, less the viewer's
    hold (DLSR, 1/65536 s). A report echoing an SR we do not know, or none, gives
    nothing; nor does one whose LSR two SRs carried (the relay's SRs carry the
    publisher's NTP time, which can stand still between two of them)."""
    rt = RoundTrip()
    rt.on_sr(0x1000, 100.0)
    rt.on_sr(0x2000, 101.0)
    assert rt.on_report(0x1000, 65536 // 2, 100.6) == pytest.approx(0.1)
    assert rt.on_report(0x2000, 0, 101.05) == pytest.approx(0.05)
    assert rt.on_report(0x3000, 0, 101.1) is None
    assert rt.on_report(0, 0, 101.1) is None
    assert rt.take() == [pytest.approx(0.1), pytest.approx(0.05)]
    assert rt.take() == []
    rt.on_sr(0x2000, 102.0)  # the same LSR again: which one did the viewer echo?
    assert rt.on_report(0x2000, 0, 102.05) is None
    assert rt.on_report(0x1000, 0, 102.05) is not None  # others are unaffected


def test_a_queue_is_every_recent_round_trip_over_the_least() -> None:
    """Every round trip of the last ``DELAY_WINDOW`` stands ``DELAY_RISE`` (and the
    least itself) over the least of the last ``RTT_BASE_SPAN``, over at least
    ``DELAY_PERSIST``: several slots' reports caught in one spike are one event."""
    q = QueueWatch()
    assert q.base() is None
    assert not q.queuing(0.0)
    for i in range(10):
        q.add(i * 0.3, 0.03)
    assert q.base() == 0.03
    assert not q.queuing(2.7)
    high = 0.03 + DELAY_RISE + 0.01
    assert not q.rising(2.7)
    # half way to a queue: the link is not quiet (no test starts), but no queue yet
    q.add(2.8, 0.03 + DELAY_QUIET * DELAY_RISE + 0.005)
    q.add(3.4, 0.03 + DELAY_QUIET * DELAY_RISE + 0.005)
    assert q.rising(3.4)
    assert not q.queuing(3.4)
    assert not q.rising(3.4 + DELAY_WINDOW + 0.1)
    q.add(4.5, high)
    assert q.rising(4.5)  # one high report: rising, not yet a queue
    q.add(4.5, high)  # two slots' reports in one spike: one event
    q.add(4.6, high)
    assert not q.queuing(4.6)
    q.add(4.5 + DELAY_PERSIST, high)  # it lasted
    assert q.queuing(4.5 + DELAY_PERSIST)
    assert not q.queuing(4.5 + DELAY_PERSIST + DELAY_WINDOW + 0.1)  # and must be recent
    q.add(5.2, 0.04)  # one report back near the least: no queue
    assert not q.queuing(5.2)
    # on a slow path the rise must also double the least: 60 ms over 200 ms is jitter
    slow = QueueWatch()
    for t in (0.0, 0.5, 1.0):
        slow.add(t, 0.2)
    for t in (3.0, 3.6):
        slow.add(t, 0.3)
    assert not slow.queuing(3.6)
    for t in (6.0, 6.6):
        slow.add(t, 0.45)
    assert slow.queuing(6.6)
    # the least of the last ``RTT_BASE_SPAN`` seconds: a standing queue becomes the base
    q.add(5.2 + RTT_BASE_SPAN + 1, 0.2)
    q.add(5.5 + RTT_BASE_SPAN + 1, 0.2)
    assert q.base() == 0.2

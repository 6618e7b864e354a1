"""Send history and upstream gap detection (pure)."""

from __future__ import annotations

import struct

from media.nack import MAX_NACK_GAP, Gap, GapDetector, SendHistory, lost_between


def packet(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, 0, 1) + b"x"


def test_history_returns_the_packet_with_that_number() -> None:
    h = SendHistory(8)
    for s in range(10):
        h.store(s, packet(s))
    assert h.history(9) == packet(9)
    assert h.history(1) is None  # overwritten by 9
    assert h.history(5) == packet(5)
    assert h.history(100) is None


def test_history_across_the_wrap() -> None:
    h = SendHistory(1024)
    for s in (65534, 65535, 0, 1):
        h.store(s, packet(s))
    assert [h.history(s) is not None for s in (65534, 65535, 0, 1)] == [True] * 4


def test_in_order_and_reordered_packets_are_no_gap() -> None:
    g = GapDetector()
    assert [g.gap(s) for s in (10, 11, 12, 11, 12, 13)] == [None] * 6
    assert g._high_seq == 13


def test_small_gap_is_nacked_once_with_the_missing_numbers() -> None:
    g = GapDetector()
    g.gap(100)
    assert g.gap(104) == (Gap.NACK, [101, 102, 103])
    # the retransmissions arrive late: nothing more to ask
    assert [g.gap(s) for s in (101, 102, 103, 105)] == [None] * 4


def test_gap_across_the_wrap() -> None:
    g = GapDetector()
    g.gap(65534)
    assert g.gap(1) == (Gap.NACK, [65535, 0])


def test_big_gap_resyncs_instead() -> None:
    g = GapDetector()
    g.gap(0)
    assert g.gap(MAX_NACK_GAP) == (Gap.NACK, list(range(1, MAX_NACK_GAP)))
    assert g.gap(MAX_NACK_GAP + MAX_NACK_GAP + 1) == (Gap.RESYNC, [])


def test_lost_between() -> None:
    assert lost_between(5, 6) == []
    assert lost_between(65535, 2) == [0, 1]


def test_skipped_counts_what_nack_sized_jumps_left_out_at_first_sight() -> None:
    """What every sink forwards as a gap: a repair arriving later does not undo it
    (the viewer already reported it), and a jump too big to NACK re-gates the sinks
    on a keyframe instead (their streams have no gap)."""
    g = GapDetector()
    for seq in (1, 2, 5, 3, 4, 6, 9):
        g.gap(seq)
    assert g.skipped == 4  # 3, 4 (repaired late) and 7, 8
    g.gap(9 + MAX_NACK_GAP + 1)
    assert g.skipped == 4

"""Sequence numbers and timestamps of one slot across source switches (pure)."""

from __future__ import annotations

from media.munger import WINDOW_KEEP, WINDOW_SLIDE_AFTER, SeqMunger


def send(m: SeqMunger, seqs: list[int], ts0: int, step: int = 3000) -> list[tuple[int, int]]:
    return [m.map(s, (ts0 + i * step) & 0xFFFFFFFF) for i, s in enumerate(seqs) if m.accept(s)]


def test_first_start_continues_from_the_random_origin() -> None:
    m = SeqMunger(seq_origin=100, ts_origin=5000)
    m.switch(7000, 90000, ts_step=3000)
    out = send(m, [7000, 7001, 7002], 90000)
    assert [s for s, _ in out] == [101, 102, 103]
    # the very first start does not step the timestamp: the origin is random anyway
    assert [t for _, t in out] == [5000, 8000, 11000]


def test_switch_is_contiguous_and_steps_time_by_one_frame() -> None:
    m = SeqMunger(seq_origin=10, ts_origin=1000)
    m.switch(500, 0, 3000)
    send(m, [500, 501, 502], 0)  # out 11, 12, 13; ts 1000, 4000, 7000
    m.switch(40000, 123456789, 3000)  # another publisher, unrelated numbering
    out = send(m, [40000, 40001], 123456789)
    assert out == [(14, 10000), (15, 13000)]


def test_sequence_wraps_65535_to_0() -> None:
    m = SeqMunger(seq_origin=65533, ts_origin=0)
    m.switch(65534, 0, 3000)
    out = send(m, [65534, 65535, 0, 1, 2], 0)
    assert [s for s, _ in out] == [65534, 65535, 0, 1, 2]
    assert m.source_seq(0) == 0  # a NACK for the wrapped number maps back


def test_timestamp_wraps_at_2_32() -> None:
    m = SeqMunger(seq_origin=0, ts_origin=2**32 - 3000)
    m.switch(1, 2**32 - 1, 3000)
    assert m.map(1, 2**32 - 1) == (1, 2**32 - 3000)
    _, ts = m.map(2, (2**32 - 1 + 3000) & 0xFFFFFFFF)
    assert ts == 0
    # a switch right at the wrap still steps forward by one frame
    m.switch(900, 5, 3000)
    assert m.map(900, 5)[1] == 3000


def test_gaps_are_preserved_so_they_can_be_nacked() -> None:
    m = SeqMunger(seq_origin=0, ts_origin=0)
    m.switch(100, 0, 3000)
    out = send(m, [100, 101, 104, 102], 0)
    assert [s for s, _ in out] == [1, 2, 5, 3]


def test_nack_maps_a_rewritten_seq_back_to_the_source_seq() -> None:
    m = SeqMunger(seq_origin=60000, ts_origin=0)
    m.switch(30000, 0, 3000)
    send(m, list(range(30000, 30010)), 0)
    for k in range(10):
        assert m.source_seq((60001 + k) & 0xFFFF) == 30000 + k
    m.switch(5, 0, 3000)  # new source: numbers of the old one are not ours to resend
    send(m, [5, 6], 0)
    assert m.source_seq(60001) is None
    assert m.source_seq(60011) == 5


def test_stragglers_from_before_a_switch_are_dropped() -> None:
    m = SeqMunger(seq_origin=0, ts_origin=0)
    m.switch(1000, 0, 3000)
    assert not m.accept(999)
    assert m.accept(1000)
    assert m.accept(1001)


def test_window_start_trails_the_newest_input() -> None:
    m = SeqMunger(seq_origin=0, ts_origin=0)
    m.switch(0, 0, 3000)
    # a long in-order run never makes later packets look like stragglers
    for s in range(0, 70000):
        assert m.accept(s & 0xFFFF)
    newest = 69999 & 0xFFFF
    behind = (newest - m._start_in_seq) & 0xFFFF
    assert WINDOW_KEEP <= behind <= WINDOW_SLIDE_AFTER


def test_out_ts_uses_the_current_offset() -> None:
    m = SeqMunger(seq_origin=0, ts_origin=777)
    m.switch(1, 100, 3000)
    assert m.out_ts(100) == 777
    assert m.out_ts(2**32 - 1) == (777 - 101) & 0xFFFFFFFF

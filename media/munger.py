"""Sequence-number and timestamp rewriting for one send slot (a sink).

A slot keeps one SSRC for its whole life while the source behind it changes (breakout
switches, a publisher leaving and another taking the slot). The subscriber's decoder
must see one continuous stream, so on each (re)start the slot picks offsets such that:

* the first forwarded sequence number is the last one sent plus 1 (no gap, no
  repeat), and after that ``out = in + offset`` (mod 2^16), so the source's own gaps
  are preserved and can still be NACKed;
* the first timestamp is the last one sent plus one frame (``ts_step``), or a random
  origin for the very first start, and after that ``out = in + offset`` (mod 2^32);
* packets from before the (re)start (stragglers, reordered) are dropped: the window
  start ``start_in_seq`` trails the newest input by at most 4096 so that it never
  falls half the sequence space behind (where "before" would flip to "after").

A subscriber's NACK names an output sequence number; ``source_seq`` maps it back to
the source's, or None when it predates the current source.

``Subscription.forward`` inlines ``accept`` and ``map`` (it runs once per packet per
sink); tests/media/test_munger_inline.py checks that the inlined copy agrees with
this class packet by packet.
"""

from __future__ import annotations

import secrets

#: the window start is moved up once the newest input is this far ahead of it ...
WINDOW_SLIDE_AFTER = 4096
#: ... to this far behind the newest input
WINDOW_KEEP = 2048


class SeqMunger:
    """Per-slot offsets; mixed into ``Subscription`` so the hot path reads plain
    attributes of the slot itself."""

    def __init__(self, seq_origin: int | None = None, ts_origin: int | None = None) -> None:
        self.started = False
        self._seq_offset = 0
        self._ts_offset = 0
        self._start_in_seq = 0
        self._last_out_seq = secrets.randbits(16) if seq_origin is None else seq_origin
        self._last_out_ts = secrets.randbits(32) if ts_origin is None else ts_origin

    def switch(self, in_seq: int, in_ts: int, ts_step: int) -> None:
        """(Re)start on a new source whose first forwarded packet is (in_seq, in_ts).

        The sequence continues from the last sent; the timestamp moves on by
        ``ts_step`` (one frame or one audio packet) after a previous source, so the
        decoder never sees time go backwards or stand still."""
        out_seq = (self._last_out_seq + 1) & 0xFFFF
        out_ts = (self._last_out_ts + (ts_step if self.started else 0)) & 0xFFFFFFFF
        self._seq_offset = (out_seq - in_seq) & 0xFFFF
        self._ts_offset = (out_ts - in_ts) & 0xFFFFFFFF
        self._start_in_seq = in_seq
        self.started = True

    def accept(self, in_seq: int) -> bool:
        """False for a straggler from before the (re)start; slides the window start."""
        since_start = (in_seq - self._start_in_seq) & 0xFFFF
        if since_start >= 0x8000:
            return False
        if since_start > WINDOW_SLIDE_AFTER:
            self._start_in_seq = (in_seq - WINDOW_KEEP) & 0xFFFF
        return True

    def map(self, in_seq: int, in_ts: int) -> tuple[int, int]:
        """The output (seq, ts) of an accepted packet; remembers the newest sent."""
        seq = (in_seq + self._seq_offset) & 0xFFFF
        ts = (in_ts + self._ts_offset) & 0xFFFFFFFF
        if 0 < ((seq - self._last_out_seq) & 0xFFFF) < 0x8000:
            self._last_out_seq = seq
            self._last_out_ts = ts
        return seq, ts

    def source_seq(self, out_seq: int) -> int | None:
        """The source sequence number a NACKed output number was made from, or None
        when it predates the current source (nothing of ours to resend)."""
        in_seq = (out_seq - self._seq_offset) & 0xFFFF
        d = (in_seq - self._start_in_seq) & 0xFFFF
        if d >= 0x8000:
            return None
        return in_seq

    def out_ts(self, in_ts: int) -> int:
        """A source RTP timestamp on this slot's timeline (retransmissions, SR)."""
        return (in_ts + self._ts_offset) & 0xFFFFFFFF

"""Loss repair state per source: the send history and upstream gap detection.

* ``SendHistory``: a ring of the last ``size`` original packets, indexed by sequence
  number. A subscriber's NACK (mapped back to the source's numbering by
  ``munger.SeqMunger.source_seq``) is answered from it; a slot that was overwritten
  by a newer packet is recognised by the sequence number inside the stored bytes.
* ``GapDetector``: the highest sequence number seen, and what a jump means. A jump
  of 2..``MAX_NACK_GAP`` is NACKed upstream once (the publisher's RTX fills it); a
  larger one cannot be repaired, so every sink waits for a fresh keyframe instead.
  Reordered and repeated packets (behind the highest) change nothing.

Both are mixed into ``Publication``: its ``on_rtp`` (once per incoming packet) stores
into the ring and checks for the common in-order case inline, and calls ``gap`` only
when a packet skipped ahead.
"""

from __future__ import annotations

from enum import Enum

#: the largest upstream jump that is NACKed; anything bigger re-gates on a keyframe
MAX_NACK_GAP = 64


class Gap(Enum):
    """What a jump in the source's sequence numbers asks for."""

    NACK = "nack"  # ask the publisher to resend the missing packets
    RESYNC = "resync"  # too many lost: re-gate every sink, force a keyframe


class SendHistory:
    """A ring of original packets by sequence number (mixed into ``Publication``)."""

    def __init__(self, size: int) -> None:
        self._ring: list[bytes | None] = [None] * size
        self._ring_size = size

    def store(self, seq: int, data: bytes) -> None:
        """Keep ``data`` (inlined in ``Publication.on_rtp``)."""
        self._ring[seq % self._ring_size] = data

    def history(self, seq: int) -> bytes | None:
        """The original packet with sequence number ``seq``, if still in the ring."""
        data = self._ring[seq % self._ring_size]
        if data is None or len(data) < 4 or int.from_bytes(data[2:4], "big") != seq:
            return None
        return data


class GapDetector:
    """The highest sequence number seen from a source (mixed into ``Publication``)."""

    def __init__(self) -> None:
        self._high_seq: int | None = None
        #: packets skipped by NACK-sized jumps, at first sight (repaired or not): the
        #: gaps every sink forwards, which its viewer reports as lost
        self.skipped = 0

    def gap(self, seq: int) -> tuple[Gap, list[int]] | None:
        """Note ``seq``; what to do about the packets it skipped, if anything.

        ``Publication.on_rtp`` handles the first packet and the next-in-order case
        inline and calls this for anything else."""
        high = self._high_seq
        if high is None:
            self._high_seq = seq
            return None
        d = (seq - high) & 0xFFFF
        if d == 0 or d >= 0x8000:
            return None  # a repeat, or late (reordered, or a retransmission)
        self._high_seq = seq
        if d == 1:
            return None
        if d <= MAX_NACK_GAP:
            self.skipped += d - 1
            return Gap.NACK, lost_between(high, seq)
        return Gap.RESYNC, []


def lost_between(high: int, seq: int) -> list[int]:
    """The sequence numbers strictly between ``high`` and ``seq`` (wrapping)."""
    d = (seq - high) & 0xFFFF
    return [(high + i) & 0xFFFF for i in range(1, d)]

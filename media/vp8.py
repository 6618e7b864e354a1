"""The VP8 payload descriptor's picture numbering, kept continuous across switches.

Each simulcast layer is its own encoder with its own PictureID (7 or 15 bits) and
TL0PICIDX (8 bits, counting base-layer frames) sequences. A viewer switched from one
layer to another must see them continue, or its decoder's frame-dependency tracking
(and Chrome's loss handling) sees a jump backwards. So on a switch the slot picks
offsets such that the first frame of the new layer carries the last sent PictureID
plus one and the last TL0PICIDX plus one, and from then on adds them to every
packet (RFC 7741 section 4.2). Only these descriptor bytes change; the VP8 payload
is never touched.

Pure: bytes in, bytes out. ``Vp8Munger`` is the per-slot state;
``Subscription.forward`` calls ``payload`` only while an offset is active.
"""

from __future__ import annotations

import struct

PID_MOD = 0x8000
TL0_MOD = 0x100
#: the descriptor browsers send: first byte, X byte, 15-bit PictureID (M bit set),
#: TL0PICIDX
_HEAD = struct.Struct("!BBHB")


def ids(data: bytes, off: int) -> tuple[int, int, int]:
    """(PictureID or -1, its width in bits (0, 7 or 15), TL0PICIDX or -1) of the
    descriptor at ``off``; -1 for a field the packet does not carry."""
    n = len(data)
    if off >= n or not data[off] & 0x80:
        return -1, 0, -1
    pos = off + 1
    if pos >= n:
        return -1, 0, -1
    x = data[pos]
    pos += 1
    pid, width = -1, 0
    if x & 0x80:
        if pos >= n:
            return -1, 0, -1
        if data[pos] & 0x80:
            if pos + 1 >= n:
                return -1, 0, -1
            pid, width = ((data[pos] & 0x7F) << 8) | data[pos + 1], 15
            pos += 2
        else:
            pid, width = data[pos], 7
            pos += 1
    tl0 = -1
    if x & 0x40:
        if pos >= n:
            return pid, width, -1
        tl0 = data[pos]
    return pid, width, tl0


def rewrite(data: bytes, off: int, pid_offset: int, tl0_offset: int) -> bytes:
    """The payload from ``off`` with PictureID and TL0PICIDX moved on by the offsets
    (each wrapping in its own width); a packet without them comes back unchanged."""
    n = len(data)
    if off + 1 >= n or not data[off] & 0x80:
        return data[off:]
    x = data[off + 1]
    if not x & 0xC0:
        return data[off:]
    out = bytearray(data[off:])
    pos = 2
    if x & 0x80:
        if pos >= len(out):
            return data[off:]
        if out[pos] & 0x80:
            if pos + 1 >= len(out):
                return data[off:]
            pid = (((out[pos] & 0x7F) << 8) | out[pos + 1]) + pid_offset
            out[pos] = 0x80 | ((pid >> 8) & 0x7F)
            out[pos + 1] = pid & 0xFF
            pos += 2
        else:
            out[pos] = (out[pos] + pid_offset) & 0x7F
            pos += 1
    if x & 0x40 and pos < len(out):
        out[pos] = (out[pos] + tl0_offset) & 0xFF
    return bytes(out)


class Vp8Munger:
    """One slot's PictureID/TL0PICIDX offsets and the last values it sent."""

    __slots__ = ("last_pid", "last_tl0", "pid_offset", "resume", "tl0_offset")

    def __init__(self) -> None:
        self.pid_offset = 0
        self.tl0_offset = 0
        self.last_pid = -1
        self.last_tl0 = -1
        #: the slot left a layer: the next start continues from the last numbers
        self.resume = False

    @property
    def active(self) -> bool:
        """Whether forwarded packets need their descriptor rewritten."""
        return bool(self.pid_offset or self.tl0_offset)

    def leave(self, data: bytes | None, off: int) -> None:
        """The slot stops forwarding a source whose last packet it sent was ``data``:
        remember the numbers that packet carried on this slot (None: keep the last
        ones known). The next ``start`` continues from them."""
        self.resume = True
        if data is None:
            return
        pid, _, tl0 = ids(data, off)
        if pid >= 0:
            self.last_pid = (pid + self.pid_offset) % PID_MOD
        if tl0 >= 0:
            self.last_tl0 = (tl0 + self.tl0_offset) % TL0_MOD

    def start(self, data: bytes, off: int) -> bool:
        """The first packet (a keyframe) of the new source: offsets so that it carries
        the last sent numbers plus one; True when a rewrite is needed from now on."""
        self.resume = False
        pid, _, tl0 = ids(data, off)
        self.pid_offset = 0
        self.tl0_offset = 0
        if pid >= 0 and self.last_pid >= 0:
            self.pid_offset = (self.last_pid + 1 - pid) % PID_MOD
        if tl0 >= 0 and self.last_tl0 >= 0:
            self.tl0_offset = (self.last_tl0 + 1 - tl0) % TL0_MOD
        return self.active

    def reset(self) -> None:
        """A new publication: its numbering starts afresh (the keyframe gate covers it)."""
        self.pid_offset = self.tl0_offset = 0
        self.last_pid = self.last_tl0 = -1
        self.resume = False

    def payload(self, data: bytes, off: int) -> bytes:
        """The payload to send for ``data`` (descriptor moved on by the offsets).

        Runs once per packet per switched sink: the layout browsers send (15-bit
        PictureID and TL0PICIDX) is re-packed in one call here; anything else goes
        through ``rewrite``."""
        if len(data) > off + 5:
            b0, x, pid, tl0 = _HEAD.unpack_from(data, off)
            if b0 & 0x80 and x & 0xC0 == 0xC0 and pid & 0x8000:
                return _HEAD.pack(b0, x, 0x8000 | ((pid + self.pid_offset) & 0x7FFF),
                                  (tl0 + self.tl0_offset) & 0xFF) + data[off + 5:]
        return rewrite(data, off, self.pid_offset, self.tl0_offset)

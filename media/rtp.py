"""RTP header work on raw bytes: parse, rewrite, VP8 keyframe detection, audio level.

Everything here is pure and allocation-light on purpose: it runs once per packet
(ingress) or once per packet per sink (egress), inside the UDP callback.
"""

from __future__ import annotations

import struct

HEADER = struct.Struct("!BBHII")
SEQ_TS_SSRC = struct.Struct("!HII")
EXT_HEAD = struct.Struct("!HH")
U16 = struct.Struct("!H")

ONE_BYTE_PROFILE = 0xBEDE


class Header:
    """The fields of one incoming RTP packet the relay needs, by offset into the bytes."""

    __slots__ = (
        "ext_len",
        "ext_offset",
        "ext_profile",
        "marker",
        "padding",
        "payload_offset",
        "payload_type",
        "seq",
        "ssrc",
        "timestamp",
    )

    def __init__(self) -> None:
        self.marker = 0
        self.padding = 0
        self.payload_type = 0
        self.seq = 0
        self.timestamp = 0
        self.ssrc = 0
        self.payload_offset = 12
        self.ext_offset = 0
        self.ext_len = 0
        self.ext_profile = 0


def parse_header(data: bytes) -> Header | None:
    """Parse a decrypted RTP header; None when it is not a well-formed RTP v2 packet."""
    n = len(data)
    if n < 12 or (data[0] >> 6) != 2:
        return None
    b0 = data[0]
    h = Header()
    h.padding = b0 & 0x20
    h.marker = data[1] & 0x80
    h.payload_type = data[1] & 0x7F
    h.seq, h.timestamp, h.ssrc = SEQ_TS_SSRC.unpack_from(data, 2)
    off = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if off + 4 > n:
            return None
        h.ext_profile, words = EXT_HEAD.unpack_from(data, off)
        h.ext_offset = off + 4
        h.ext_len = words * 4
        off = h.ext_offset + h.ext_len
    if off > n:
        return None
    h.payload_offset = off
    return h


def find_extension(data: bytes, h: Header, ext_id: int) -> bytes | None:
    """The value of header extension ``ext_id`` (one- or two-byte form), if present."""
    if not h.ext_len or not ext_id:
        return None
    pos = h.ext_offset
    end = pos + h.ext_len
    if h.ext_profile == ONE_BYTE_PROFILE:
        while pos < end:
            b = data[pos]
            if b == 0:
                pos += 1
                continue
            eid, length = b >> 4, (b & 0x0F) + 1
            if eid == 15:
                return None
            if eid == ext_id:
                return data[pos + 1 : pos + 1 + length]
            pos += 1 + length
    elif (h.ext_profile & 0xFFF0) == 0x1000:
        while pos + 1 < end:
            eid = data[pos]
            if eid == 0:
                pos += 1
                continue
            length = data[pos + 1]
            if eid == ext_id:
                return data[pos + 2 : pos + 2 + length]
            pos += 2 + length
    return None


def decode_level(value: bytes) -> int:
    """An ssrc-audio-level element (RFC 6464) as -dBov: 0 is loudest, 127 is silence."""
    return value[0] & 0x7F


def audio_level(data: bytes, h: Header, ext_id: int) -> int | None:
    """The packet's ssrc-audio-level as -dBov, if it carries one."""
    value = find_extension(data, h, ext_id)
    return decode_level(value) if value else None


def build_extensions(elements: list[tuple[int, bytes]]) -> bytes:
    """A one-byte-form extension block (with its 4-byte head), padded to 32 bits."""
    body = bytearray()
    for eid, value in elements:
        if not 1 <= eid <= 14 or not 1 <= len(value) <= 16:
            continue
        body.append((eid << 4) | (len(value) - 1))
        body += value
    if not body:
        return b""
    while len(body) % 4:
        body.append(0)
    return EXT_HEAD.pack(ONE_BYTE_PROFILE, len(body) // 4) + bytes(body)


def _head(h: Header, payload_type: int, seq: int, timestamp: int, ssrc: int,
          extensions: bytes) -> bytes:
    """The fixed header for one sink (version 2, the original padding and marker bits),
    followed by that sink's extension block."""
    b0 = 0x80 | h.padding | (0x10 if extensions else 0)
    return HEADER.pack(b0, h.marker | payload_type, seq, timestamp, ssrc) + extensions


def rewrite(
    data: bytes,
    h: Header,
    payload_type: int,
    seq: int,
    timestamp: int,
    ssrc: int,
    extensions: bytes,
) -> bytes:
    """A new RTP packet: the same payload (and padding), a header for one sink.

    CSRCs and the publisher's header extensions are dropped; ``extensions`` (the
    sink's own block, e.g. its sdes:mid) replaces them.
    """
    return _head(h, payload_type, seq, timestamp, ssrc, extensions) + data[h.payload_offset :]


def rtx_wrap(
    data: bytes,
    h: Header,
    payload_type: int,
    seq: int,
    timestamp: int,
    ssrc: int,
    extensions: bytes,
    original_seq: int,
) -> bytes:
    """An RFC 4588 retransmission: RTX header, then the original sequence number."""
    head = _head(h, payload_type, seq, timestamp, ssrc, extensions)
    return head + U16.pack(original_seq) + data[h.payload_offset :]


def rtx_unwrap(data: bytes, h: Header, payload_type: int, ssrc: int) -> bytes | None:
    """Turn an incoming RTX packet back into the original packet it repairs.

    None for padding-only RTX (bandwidth probes), which repairs nothing.
    """
    off = h.payload_offset
    end = len(data) - (data[-1] if h.padding and len(data) > off else 0)
    if end < off + 2 or (h.padding and end <= off + 2):
        return None
    (osn,) = U16.unpack_from(data, off)
    head = bytearray(data[:off])
    head[1] = (head[1] & 0x80) | payload_type
    U16.pack_into(head, 2, osn)
    struct.pack_into("!I", head, 8, ssrc)
    return bytes(head) + data[off + 2 :]


def vp8_is_keyframe(data: bytes, offset: int) -> bool:
    """True on the first packet of a VP8 keyframe.

    Payload descriptor (RFC 7741): S=1 and partition id 0 start a frame; then the
    VP8 frame tag's P bit (bit 0 of its first byte) is 0 for a keyframe.
    """
    n = len(data)
    if offset >= n:
        return False
    b = data[offset]
    if not (b & 0x10) or (b & 0x07) != 0:
        return False
    pos = offset + 1
    if b & 0x80:
        if pos >= n:
            return False
        x = data[pos]
        pos += 1
        if x & 0x80:  # I: picture id, 7 or 15 bits
            if pos >= n:
                return False
            pos += 2 if data[pos] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            pos += 1
        if x & 0x30:  # T or K: TID/KEYIDX
            pos += 1
    if pos >= n:
        return False
    return (data[pos] & 0x01) == 0


def seq_diff(a: int, b: int) -> int:
    """a - b in 16-bit sequence space, in [-32768, 32767]."""
    d = (a - b) & 0xFFFF
    return d - 0x10000 if d >= 0x8000 else d

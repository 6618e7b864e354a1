"""RTCP the relay builds and reads itself, on raw bytes (RFC 3550, RFC 4585).

Pure and allocation-light like ``media.rtp``. The relay sends, per subscribe
transport, one compound datagram per interval with every started slot's sender
report (the publisher's SR translated onto the slot's timeline, with the slot's own
counts) and one SDES carrying their CNAMEs; ``compound`` builds it. Sending goes
through aiortc's DTLS transport (``aiortc_shim``), which protects it as SRTCP.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import TypeVar

SR = 200
RR = 201
SDES = 202
BYE = 203
RTPFB = 205
PSFB = 206
SDES_CNAME = 1
#: PSFB format of an application layer feedback message (REMB rides on it)
FMT_AFB = 15

_HEAD = struct.Struct("!BBH")
_SR_BODY = struct.Struct("!IQIII")  # sender SSRC, NTP, RTP time, packets, octets
_U32 = struct.Struct("!I")
#: senders per compound RTCP datagram (28-byte SR + about 24-byte SDES chunk each)
SENDERS_PER_PACKET = 16

T = TypeVar("T")


def _packet(packet_type: int, count: int, body: bytes) -> bytes:
    """Common header (version 2, no padding) + body; length counts 32-bit words - 1."""
    return _HEAD.pack(0x80 | count, packet_type, len(body) // 4) + body


def sender_report(ssrc: int, ntp: int, rtp_ts: int, packets: int, octets: int) -> bytes:
    """An SR without report blocks (the relay receives nothing on a send slot)."""
    return _packet(SR, 0, _SR_BODY.pack(ssrc, ntp & 0xFFFFFFFFFFFFFFFF,
                                        rtp_ts & 0xFFFFFFFF, packets & 0xFFFFFFFF,
                                        octets & 0xFFFFFFFF))


def sdes(chunks: Sequence[tuple[int, bytes]]) -> bytes:
    """An SDES packet with one CNAME item per (ssrc, cname) chunk."""
    body = bytearray()
    for ssrc, cname in chunks:
        body += _U32.pack(ssrc)
        body += bytes((SDES_CNAME, len(cname))) + cname
        body += b"\x00"  # end of this chunk's items
        while len(body) % 4:
            body.append(0)
    return _packet(SDES, len(chunks), bytes(body))


def bye(ssrcs: Sequence[int]) -> bytes:
    """A BYE for ``ssrcs`` (no reason)."""
    return _packet(BYE, len(ssrcs), b"".join(_U32.pack(s) for s in ssrcs))


def compound(reports: Sequence[tuple[int, int, int, int, int, bytes | None]]) -> bytes:
    """One compound datagram: an SR per (ssrc, ntp, rtp, packets, octets, cname),
    then one SDES with every CNAME given."""
    out = b"".join(sender_report(ssrc, ntp, rtp, p, o) for ssrc, ntp, rtp, p, o, _ in reports)
    chunks = [(r[0], r[5]) for r in reports if r[5] is not None]
    if chunks:
        out += sdes(chunks)
    return out


def batches(items: Sequence[T], size: int = SENDERS_PER_PACKET) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size`` (one compound datagram each)."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def translate_rtp_time(rtp_ts: int, ts_offset: int) -> int:
    """A publisher SR's RTP time on a slot's timeline (the slot's timestamp offset)."""
    return (rtp_ts + ts_offset) & 0xFFFFFFFF


def middle_ntp(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR a receiver echoes back."""
    return (ntp >> 16) & 0xFFFFFFFF


def is_rtcp(data: bytes) -> bool:
    """Whether a demultiplexed datagram is RTCP (RFC 5761: payload type 192..223)."""
    return len(data) >= 8 and (data[0] >> 6) == 2 and 192 <= data[1] <= 223


def split(data: bytes) -> list[tuple[int, int, bytes]]:
    """The packets of a compound datagram as (type, count or format, whole packet);
    stops at the first malformed length."""
    out = []
    pos = 0
    while pos + 4 <= len(data):
        b0, pt, words = _HEAD.unpack_from(data, pos)
        end = pos + (words + 1) * 4
        if (b0 >> 6) != 2 or end > len(data):
            break
        out.append((pt, b0 & 0x1F, data[pos:end]))
        pos = end
    return out


#: REMB's 18-bit mantissa (draft-alvestrand-rmcat-remb-03, section 2.2)
_REMB_MANTISSA = 0x3FFFF


def remb(sender_ssrc: int, bitrate: int, ssrcs: Sequence[int]) -> bytes:
    """A Receiver Estimated Maximum Bitrate message: ``bitrate`` bits per second as
    mantissa * 2^exponent (rounded down), applying to ``ssrcs``."""
    exponent = 0
    mantissa = max(0, int(bitrate))
    while mantissa > _REMB_MANTISSA:
        mantissa >>= 1
        exponent += 1
    body = (_U32.pack(sender_ssrc) + _U32.pack(0) + b"REMB"
            + bytes((len(ssrcs), (exponent << 2) | (mantissa >> 16)))
            + (mantissa & 0xFFFF).to_bytes(2, "big")
            + b"".join(_U32.pack(s) for s in ssrcs))
    return _packet(PSFB, FMT_AFB, body)


def parse_remb(packet: bytes) -> tuple[int, list[int]] | None:
    """(bitrate, ssrcs) of one REMB packet (as ``split`` returns it), else None."""
    if len(packet) < 20 or packet[1] != PSFB or packet[0] & 0x1F != FMT_AFB \
            or packet[12:16] != b"REMB":
        return None
    count = packet[16]
    if len(packet) < 20 + 4 * count:
        return None
    exponent = packet[17] >> 2
    mantissa = ((packet[17] & 0x03) << 16) | int.from_bytes(packet[18:20], "big")
    ssrcs = [int.from_bytes(packet[20 + 4 * i:24 + 4 * i], "big") for i in range(count)]
    return mantissa << exponent, ssrcs


def receiver_report_losses(packet: bytes) -> list[tuple[int, float]]:
    """(media SSRC, fraction lost 0..1) per report block of one RR or SR packet."""
    if len(packet) < 8 or packet[1] not in (SR, RR):
        return []
    count = packet[0] & 0x1F
    pos = 8 + (20 if packet[1] == SR else 0)
    out = []
    for _ in range(count):
        if pos + 24 > len(packet):
            break
        out.append((int.from_bytes(packet[pos:pos + 4], "big"), packet[pos + 4] / 256))
        pos += 24
    return out

"""Header rewriting and VP8 keyframe detection on bytes."""

from __future__ import annotations

import struct

from media.rtp import (
    audio_level,
    build_extensions,
    find_extension,
    parse_header,
    rewrite,
    rtx_unwrap,
    rtx_wrap,
    seq_diff,
    vp8_is_keyframe,
)


def packet(payload: bytes, ext: bytes = b"", pt: int = 96, seq: int = 7,
           ts: int = 1000, ssrc: int = 0x1234, marker: bool = False, csrcs: int = 0) -> bytes:
    b0 = 0x80 | (0x10 if ext else 0) | csrcs
    head = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    return head + b"\x00\x00\x00\x01" * csrcs + ext + payload


def test_parse_and_rewrite_keeps_payload_replaces_header() -> None:
    ext = build_extensions([(3, b"\x01\x02\x03"), (2, b"\x85")])
    data = packet(b"PAYLOAD", ext, marker=True, csrcs=1)
    h = parse_header(data)
    assert h is not None
    fields = (h.payload_type, h.seq, h.timestamp, h.ssrc, bool(h.marker))
    assert fields == (96, 7, 1000, 0x1234, True)
    assert data[h.payload_offset:] == b"PAYLOAD"
    assert audio_level(data, h, 2) == 5
    assert find_extension(data, h, 9) is None

    mine = build_extensions([(1, b"4")])
    out = rewrite(data, h, 100, 65535, 0xFFFFFFFF, 0xABCDEF01, mine)
    oh = parse_header(out)
    assert oh is not None
    assert (oh.payload_type, oh.seq, oh.timestamp, oh.ssrc, bool(oh.marker)) == (
        100, 65535, 0xFFFFFFFF, 0xABCDEF01, True)
    assert find_extension(out, oh, 1) == b"4"
    assert find_extension(out, oh, 3) is None  # publisher's extensions are gone
    assert out[oh.payload_offset:] == b"PAYLOAD"


def test_rtx_roundtrip() -> None:
    data = packet(b"XYZ", seq=500)
    h = parse_header(data)
    assert h is not None
    wrapped = rtx_wrap(data, h, 97, 9, 1000, 0x5555, b"", 500)
    wh = parse_header(wrapped)
    assert wh is not None
    assert wh.payload_type == 97
    assert wh.seq == 9
    original = rtx_unwrap(wrapped, wh, 96, 0x1234)
    assert original == data


def test_padding_only_rtx_is_not_unwrapped() -> None:
    probe = bytearray(packet(b"\x00" * 31 + b"\x20", pt=97, seq=3))
    probe[0] |= 0x20  # P bit: the whole payload is padding
    h = parse_header(bytes(probe))
    assert h is not None
    assert rtx_unwrap(bytes(probe), h, 96, 0x1234) is None


def test_vp8_keyframe_detection() -> None:
    # S=1, PID=0, no X; frame tag P=0 -> keyframe
    assert vp8_is_keyframe(bytes([0x10, 0x00]), 0)
    # P=1 -> delta frame
    assert not vp8_is_keyframe(bytes([0x10, 0x01]), 0)
    # not the start of a partition
    assert not vp8_is_keyframe(bytes([0x00, 0x00]), 0)
    # X with I (15-bit picture id), L and T/K bytes before the frame tag
    assert vp8_is_keyframe(bytes([0x90, 0xF0, 0x80, 0x01, 0x00, 0x00, 0x00]), 0)
    assert not vp8_is_keyframe(bytes([0x90, 0xF0, 0x80, 0x01, 0x00, 0x00, 0x01]), 0)
    # truncated
    assert not vp8_is_keyframe(bytes([0x90]), 0)


def test_malformed_headers_are_rejected() -> None:
    assert parse_header(b"") is None
    assert parse_header(b"\x40" + b"\x00" * 11) is None  # version 1
    assert parse_header(bytes([0x90]) + b"\x00" * 11) is None  # X set, no extension


def test_seq_diff_wraps() -> None:
    assert seq_diff(2, 65534) == 4
    assert seq_diff(65534, 2) == -4

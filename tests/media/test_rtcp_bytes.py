"""RTCP the relay builds, against known byte layouts (pure)."""

from __future__ import annotations

from media import rtcp


def test_sender_report_layout() -> None:
    data = rtcp.sender_report(ssrc=0x01020304, ntp=0x1112131415161718, rtp_ts=0x21222324,
                              packets=5, octets=0x0100)
    assert data == bytes.fromhex(
        "80c80006" "01020304" "1112131415161718" "21222324" "00000005" "00000100")


def test_counts_wrap_at_32_bits() -> None:
    data = rtcp.sender_report(1, 0, 2**32 + 7, 2**32 + 1, 2**33 + 2)
    assert data[16:28] == bytes.fromhex("00000007" "00000001" "00000002")


def test_sdes_chunks_are_null_terminated_and_word_aligned() -> None:
    data = rtcp.sdes([(0xAABBCCDD, b"abc"), (0x01, b"abcdef")])
    assert data == bytes.fromhex(
        "82ca0007"
        "aabbccdd" "0103616263" "000000"  # CNAME "abc", a null, padding: 12 bytes
        "00000001" "0106616263646566" "00000000"  # CNAME "abcdef", a null, padding: 16
    )


def test_cname_of_36_chars_matches_aiortcs_layout() -> None:
    """aiortc's CNAMEs are 36 characters: 4 + 2 + 36 + 2 bytes, no padding needed."""
    cname = b"x" * 36
    data = rtcp.sdes([(7, cname)])
    assert data == bytes.fromhex("81ca000b" "00000007" "0124") + cname + b"\x00\x00"


def test_bye_layout() -> None:
    assert rtcp.bye([1, 2]) == bytes.fromhex("82cb0002" "00000001" "00000002")


def test_compound_has_every_sr_then_one_sdes() -> None:
    data = rtcp.compound([(1, 10, 20, 1, 100, b"a"), (2, 10, 30, 2, 200, None),
                          (3, 10, 40, 3, 300, b"c")])
    parts = rtcp.split(data)
    assert [pt for pt, _, _ in parts] == [rtcp.SR, rtcp.SR, rtcp.SR, rtcp.SDES]
    assert parts[3][1] == 2  # chunks for the two slots with a CNAME
    assert b"".join(p for _, _, p in parts) == data


def test_batches_split_many_slots() -> None:
    assert [len(b) for b in rtcp.batches(list(range(40)), 16)] == [16, 16, 8]


def test_translation_helpers() -> None:
    assert rtcp.translate_rtp_time(2**32 - 1, 2) == 1
    assert rtcp.middle_ntp(0x1112131415161718) == 0x13141516


def test_is_rtcp_and_split_stop_at_garbage() -> None:
    sr = rtcp.sender_report(1, 2, 3, 4, 5)
    assert rtcp.is_rtcp(sr)
    assert not rtcp.is_rtcp(bytes.fromhex("80600001" "00000000"))  # RTP, payload type 96
    assert rtcp.split(sr + b"\x80\xc8\x00\x09") == [(rtcp.SR, 0, sr)]


def test_remb_layout() -> None:
    """draft-alvestrand-rmcat-remb-03: 1,000,000 bps = 250000 * 2^2, two SSRCs."""
    data = rtcp.remb(0x11111111, 1_000_000, [0x22222222, 0x33333333])
    assert data == bytes.fromhex(
        "8fce0006"  # V=2, FMT=15, PT=206 (PSFB), length 6 words + 1
        "11111111" "00000000"  # sender SSRC, media SSRC 0
        "52454d42"  # "REMB"
        "02" "0b" "d090"  # 2 SSRCs; exponent 2, mantissa 250000 = 0x3d090
        "22222222" "33333333"
    )
    assert rtcp.parse_remb(data) == (1_000_000, [0x22222222, 0x33333333])


def test_remb_small_and_rounded_bitrates() -> None:
    assert rtcp.parse_remb(rtcp.remb(1, 100_000, [5])) == (100_000, [5])  # fits 18 bits
    value, _ = rtcp.parse_remb(rtcp.remb(1, 2_500_001, [5])) or (0, [])
    assert 2_500_001 - 2**4 < value <= 2_500_001


def test_receiver_report_losses() -> None:
    block = bytes.fromhex("00000007" "40000010" "00000000" "00000000" "00000000" "00000000")
    rr = bytes.fromhex("81c90007" "00000001") + block
    assert rtcp.receiver_report_losses(rr) == [(7, 0.25)]
    assert rtcp.receiver_report_losses(rtcp.sender_report(1, 2, 3, 4, 5)) == []

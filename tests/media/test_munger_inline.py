"""The per-packet copies agree with the named mechanisms: ``Subscription.forward``
inlines ``SeqMunger`` and the keyframe gate, ``Layer.on_rtp`` inlines the
in-order case of ``GapDetector``; and ``rtcp``'s bytes equal aiortc's for what the
relay sends. No network: real aiortc objects, a counting egress."""

from __future__ import annotations

import random
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters
from aiortc.rtp import RtcpSdesPacket, RtcpSenderInfo, RtcpSourceInfo, RtcpSrPacket

from media import rtcp
from media.config import RelayConfig
from media.munger import SeqMunger
from media.nack import GapDetector
from media.relay import Publication, Relay, Subscription
from media.rtp import parse_header

MID = "urn:ietf:params:rtp-hdrext:sdes:mid"


class Capture:
    """Stands in for the slot's egress: always ready, keeps what it is given."""

    def __init__(self) -> None:
        self.packets: list[bytes] = []

    def ready(self) -> bool:
        return True

    def send(self, packet: bytes) -> bool:
        self.packets.append(packet)
        return True


def vp8_transceiver(pc: RTCPeerConnection, direction: str) -> Any:
    t = pc.addTransceiver("video", direction=direction)
    t._codecs = [RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)]
    t._headerExtensions = [RTCRtpHeaderExtensionParameters(id=1, uri=MID)]
    t._set_mid("0")
    return t


def vp8(seq: int, ts: int, key: bool = False) -> bytes:
    payload = bytes([0x10, 0x00 if key else 0x01]) + b"frame"
    return struct.pack("!BBHII", 0x80, 96, seq, ts, 42) + payload


@pytest.fixture
async def slot() -> AsyncIterator[tuple[Subscription, list[Publication], Capture]]:
    relay = Relay(RelayConfig(host_addresses=("127.0.0.1",)))
    router = relay.router("s", create=True)
    pcs = [RTCPeerConnection() for _ in range(3)]
    pubs = [Publication(router.join(p), "video", "camera", "0", vp8_transceiver(pc, "recvonly"))
            for p, pc in (("a", pcs[0]), ("b", pcs[1]))]
    sub = Subscription(router.join("v"), "video", vp8_transceiver(pcs[2], "sendonly"))
    sub.configure()
    capture = Capture()
    sub._egress = capture  # type: ignore[assignment]
    yield sub, pubs, capture
    for pc in pcs:
        await pc.close()
    await relay.close()


async def test_forward_agrees_with_seq_munger(
        slot: tuple[Subscription, list[Publication], Capture]) -> None:
    sub, (a, b), capture = slot
    ref = SeqMunger(seq_origin=sub._last_out_seq, ts_origin=sub._last_out_ts)
    rng = random.Random(7)
    expected: list[tuple[int, int]] = []

    def run(pub: Publication, seq: int, ts: int, count: int) -> None:
        sub.bind(pub)
        first = True
        for i in range(count):
            s = (seq + i) & 0xFFFF
            r = rng.random()
            if r < 0.05:
                s = (s - rng.randint(1, 5)) & 0xFFFF  # reordered or from before the start
            elif r < 0.07:
                s = (s - rng.randint(1000, 5000)) & 0xFFFF  # near the straggler window
            t = (ts + i * 3000) & 0xFFFFFFFF
            data = vp8(s, t, key=first)
            if first:
                ref.switch(s, t, 3000)
                first = False
            if ref.accept(s):
                expected.append(ref.map(s, t))
            h = parse_header(data)
            assert h is not None
            sub.forward(data, h)

    run(a, 65500, 2**32 - 30000, 200)  # sequence and timestamp both wrap
    run(b, 100, 5, 300)
    run(a, 12000, 7, 6000)  # long enough for the straggler window to slide
    headers = [h for p in capture.packets if (h := parse_header(p)) is not None]
    assert [(h.seq, h.timestamp) for h in headers] == expected
    assert {h.ssrc for h in headers} == {sub.ssrc}


async def test_slot_stays_within_the_fast_attribute_layout(
        slot: tuple[Subscription, list[Publication], Capture]) -> None:
    from media.subscription import MAX_INSTANCE_ATTRIBUTES

    sub, (a, _), _ = slot
    sub.bind(a)
    assert len(vars(sub)) <= MAX_INSTANCE_ATTRIBUTES, sorted(vars(sub))
    assert len(vars(a.layers[0])) <= MAX_INSTANCE_ATTRIBUTES, sorted(vars(a.layers[0]))


async def test_gate_drops_deltas_until_a_keyframe(
        slot: tuple[Subscription, list[Publication], Capture]) -> None:
    sub, (a, _), capture = slot
    sub.bind(a)
    for i, key in enumerate((False, False, True, False)):
        data = vp8(10 + i, 0, key)
        h = parse_header(data)
        assert h is not None
        sub.forward(data, h)
    assert len(capture.packets) == 2
    assert not sub.waiting


async def test_on_rtp_agrees_with_gap_detector(
        slot: tuple[Subscription, list[Publication], Capture]) -> None:
    _, (pub, _), _ = slot
    a = pub.layers[0]
    ref = GapDetector()
    rng = random.Random(3)
    seq = 65000
    for _ in range(3000):
        seq = (seq + rng.choice((1, 1, 1, 1, 2, 0, -1, 5, 100))) & 0xFFFF
        data = vp8(seq, 0)
        h = parse_header(data)
        assert h is not None
        a.on_rtp(data, h)
        ref.gap(seq)
        assert a._high_seq == ref._high_seq


def test_sender_report_bytes_equal_aiortcs() -> None:
    ours = rtcp.sender_report(0x01020304, 0x1112131415161718, 99, 5, 600)
    theirs = bytes(RtcpSrPacket(ssrc=0x01020304, sender_info=RtcpSenderInfo(
        ntp_timestamp=0x1112131415161718, rtp_timestamp=99, packet_count=5,
        octet_count=600)))
    assert ours == theirs


def test_sdes_bytes_equal_aiortcs_for_its_cnames() -> None:
    cnames = [(1, b"0" * 36), (2, b"1" * 36)]
    theirs = bytes(RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=s, items=[(1, c)])
                                          for s, c in cnames]))
    assert rtcp.sdes(cnames) == theirs

"""Forwarding micro-benchmark: relay Python per packet, SRTP and sockets left out.

One publication fanned out to N sinks inside one process, with no network: each
sink's egress is a stand-in whose ``send`` only counts, so the figure is what the
relay's own code costs per packet (``Peer.on_rtp``: parse, dispatch, history, loss
check, statistics; then ``Subscription.forward`` per sink: gate, sequence and
timestamp rewrite, header build). Prints ns per ingress packet and per forwarded
packet, best of ``--runs``. A benchmark, not a test: nothing here asserts a time.

``video`` is a single-layer camera; ``simulcast`` the lowest layer of a three-layer
camera; ``switched`` the same after a layer switch, so every packet's VP8 PictureID
and TL0PICIDX are re-numbered (the descriptor carries both).

Standalone on purpose (imports only ``media`` and aiortc), so that the same file
measures two trees side by side:

    PYTHONPATH=. .venv/bin/python bench/forward.py --sinks 1 6
    PYTHONPATH=/path/to/other/tree .venv/bin/python bench/forward.py --sinks 1 6
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import time
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters

from media.config import RelayConfig
from media.relay import Publication, Relay, Subscription

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
SSRC = 0x1234_5678


class CountingEgress:
    """Stands in for ``ice.Egress``: always ready, counts instead of protect + send."""

    def __init__(self) -> None:
        self.sent = 0

    def ready(self) -> bool:
        return True

    def send(self, packet: bytes) -> bool:
        self.sent += 1
        return True


def codecs(kind: str) -> list[RTCRtpCodecParameters]:
    if kind == "video":
        return [RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96),
                RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=97,
                                      parameters={"apt": 96})]
    return [RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2,
                                  payloadType=111)]


def extensions(kind: str) -> list[RTCRtpHeaderExtensionParameters]:
    out = [RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI)]
    if kind == "audio":
        out.append(RTCRtpHeaderExtensionParameters(id=2, uri=LEVEL_URI))
    return out


def transceiver(pc: RTCPeerConnection, kind: str, direction: str, mid: str) -> Any:
    t = pc.addTransceiver(kind, direction=direction)
    t._codecs = codecs(kind)
    t._headerExtensions = extensions(kind)
    t._set_mid(mid)
    return t


def packets(kind: str, first: int, count: int, size: int, ids: bool = False) -> list[bytes]:
    """``count`` consecutive packets from number ``first`` (sequence numbers start near
    the 16-bit wrap); packet 0 is a VP8 keyframe, the rest are deltas."""
    out = []
    pt = 96 if kind == "video" else 111
    for i in range(first, first + count):
        seq = (65000 + i) & 0xFFFF
        ts = (i // 4) * 3000 & 0xFFFFFFFF
        if kind == "audio":
            ext = struct.pack("!HH", 0xBEDE, 2) + bytes([0x10, ord("0"), 0x20, 40 + i % 8, 0,
                                                          0, 0, 0])
            payload = bytes(size)
        else:
            ext = struct.pack("!HH", 0xBEDE, 1) + bytes([0x10, ord("0"), 0, 0])
            # VP8 descriptor S=1 partition 0; frame tag P bit 0 on the first packet only
            tag = 0x00 if i == 0 else 0x01
            if ids:  # X, I (15-bit PictureID), L (TL0PICIDX)
                pid = (i // 4) & 0x7FFF
                payload = bytes([0x90, 0xC0, 0x80 | pid >> 8, pid & 0xFF, (i // 4) & 0xFF,
                                 tag]) + bytes(size - 6)
            else:
                payload = bytes([0x10, tag]) + bytes(size - 2)
        head = struct.pack("!BBHII", 0x90, pt | (0x80 if i % 4 == 3 else 0), seq, ts, SSRC)
        out.append(head + ext + payload)
    return out


async def measure(mode: str, sinks: int, count: int, size: int, runs: int) -> float:
    kind = "audio" if mode == "audio" else "video"
    relay = Relay(RelayConfig(host_addresses=("127.0.0.1",)))
    router = relay.router("bench", create=True)
    publisher = router.join("pub")
    pcs = [RTCPeerConnection()]
    rids = ("q", "h", "f") if mode in ("simulcast", "switched") else ("",)
    pub = Publication(publisher, kind, "camera" if kind == "video" else "mic", "0",
                      transceiver(pcs[0], kind, "recvonly", "0"), rids)
    publisher.publications["0"] = pub
    router.publications[pub.id] = pub
    for i in range(sinks):
        viewer = router.join(f"v{i}")
        pc = RTCPeerConnection()
        pcs.append(pc)
        sub = Subscription(viewer, kind, transceiver(pc, kind, "sendonly", "0"))
        sub.configure()
        sub._egress = CountingEgress()  # type: ignore[assignment]
        viewer.subscriptions.append(sub)
        sub.bind(pub)  # before the SSRC is known: no PLI task is spawned
        if mode == "switched":  # as after a switch: the VP8 numbering is moved on
            sub.view.vp8.pid_offset = sub.view.vp8.tl0_offset = 5
            sub._vp8 = sub.view.vp8
    layer = pub.layers[0]
    layer.ssrc = SSRC
    publisher._by_ssrc[SSRC] = layer
    layer.attach_stats()
    on_rtp = publisher.on_rtp
    best = float("inf")
    try:
        for run in range(runs):
            data = packets(kind, run * count, count, size, ids=mode == "switched")
            start = time.perf_counter_ns()
            for p in data:
                on_rtp(p)
            best = min(best, (time.perf_counter_ns() - start) / count)
        if router.forwarded_packets != count * runs * sinks:
            raise SystemExit(f"forwarded {router.forwarded_packets}, expected "
                             f"{count * runs * sinks}")
    finally:
        for pc in pcs:
            await pc.close()
        await relay.close()
    return best


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sinks", type=int, nargs="+", default=[1, 6])
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--modes", nargs="+", default=["video", "audio"],
                        choices=["video", "simulcast", "switched", "audio"])
    args = parser.parse_args()
    for mode in args.modes:
        size = 80 if mode == "audio" else 1100
        for n in args.sinks:
            ns = await measure(mode, n, args.packets, size, args.runs)
            print(f"{mode:9} sinks={n}: {ns:7.0f} ns per ingress packet, "
                  f"{ns / n:6.0f} ns per forwarded packet")


if __name__ == "__main__":
    asyncio.run(main())

"""REMB to publishers: a real aiortc publisher receives the relay's ceiling."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

from media.relay import Relay
from testkit.rtc import one_way, wait_for

pytestmark = pytest.mark.timeout(40)


async def test_publisher_receives_its_slowest_viewers_estimate(relay: Relay) -> None:
    async with one_way(relay, 0xA5) as (a, _):
        assert a.pub_pc is not None
        sender = next(t.sender for t in a.pub_pc.getTransceivers()
                      if t.sender.track is not None and t.sender.track.kind == "video")
        got: list[tuple[int, list[int]]] = []
        original = sender._handle_rtcp_packet

        async def spy(packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                got.append(unpack_remb_fci(packet.fci))
            await original(packet)

        sender._handle_rtcp_packet = spy
        router = relay.routers["s1"]
        (sink,) = [s for p in router.publications.values() if p.kind == "video"
                   for s in p.sinks]
        # the viewer's receiver reports reach its estimate; on loopback nothing is lost,
        # so nothing constrains the publisher and it gets no REMB
        await wait_for(lambda: sink.estimate.reports >= 1, 5, "a receiver report")
        await wait_for(lambda: router.rembs_sent == 0 and sink.estimate.reports >= 3, 10,
                       "more reports")
        assert got == []
        # a lossy viewer (everything lost, three reports running): the publisher gets
        # its estimate (later loss-free reports may have raised it by 5 % each since)
        cap = relay.config.camera_max_bitrate
        for _ in range(3):
            sink.estimate.on_loss(1.0)
        expected = int(sink.estimate.rate)
        assert expected < cap / 2
        await wait_for(lambda: bool(got), 5, "a REMB at the publisher")
        bitrate, ssrcs = got[0]
        assert sender._ssrc in ssrcs
        assert expected * 0.99 <= bitrate < cap
        # the viewer recovers: one last REMB lifts the ceiling to the publisher's cap
        sink.estimate.rate = float(sink.estimate.ceiling)
        await wait_for(lambda: got[-1][0] >= 0.99 * cap, 5, "the release")
        assert got[-1][0] <= cap

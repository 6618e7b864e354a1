"""REMB to publishers: a real aiortc publisher receives the relay's ceiling."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

from media.relay import Relay
from testkit.rtc import one_way, wait_for

pytestmark = pytest.mark.timeout(40)


async def test_publisher_receives_remb_from_its_viewers_estimates(relay: Relay) -> None:
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
        await wait_for(lambda: bool(got), 5, "a REMB at the publisher")
        bitrate, ssrcs = got[0]
        assert sender._ssrc in ssrcs
        router = relay.routers["s1"]
        viewer_estimates = [s.estimate.rate for p in router.publications.values()
                            for s in p.sinks if p.kind == "video"]
        assert viewer_estimates
        # the ceiling is the slowest viewer's estimate (REMB rounds it down a little)
        assert min(viewer_estimates) * 0.99 <= bitrate <= max(viewer_estimates)
        assert router.rembs_sent >= 1

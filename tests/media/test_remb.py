"""REMB to publishers: a real aiortc publisher receives the relay's ceiling."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

from media.layers import Phase
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
        # a lossy viewer (its estimate driven down to 30 % of the camera cap by loss):
        # the publisher gets its estimate (later loss-free reports may have
        # raised it by 5 % each since). The rate is set, not reported: a report of that
        # much loss would also make the viewer's downlink estimate pause its video
        # (audio first, ``media.adapt``), below
        cap = relay.config.camera_max_bitrate
        sink.estimate.rate = 0.3 * cap
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


async def test_a_viewer_that_loses_everything_gets_audio_only_then_video_again(
        relay: Relay) -> None:
    """The adaptation over real peers: a viewer whose receiver reports say everything
    was lost has its video paused (the layout says why) instead of holding the
    publisher down; after the back-off a probe at the lowest layer finds the link
    clean again (loopback) and video resumes."""
    async with one_way(relay, 0xA6) as (_, b):
        router = relay.routers["s1"]
        adapter = router.adapter
        (slot,) = [s for s in router.peers["b"].subscriptions
                   if s.kind == "video" and s.publication is not None]
        await wait_for(lambda: slot.estimate.reports >= 1, 5, "a receiver report")
        frames = len(b.frames_of(0xA6))
        slot.estimate.on_loss(1.0, highest=slot.estimate.highest + 200)
        await wait_for(lambda: adapter.phase("b") is Phase.AUDIO_ONLY, 2, "audio only")
        assert slot.info()["video_paused"] == "bandwidth"
        assert slot.publication is not None
        assert slot not in slot.publication.sinks  # not forwarded, so no REMB ceiling
        await wait_for(lambda: adapter.phase("b") is Phase.STEADY, 15, "video again")
        assert slot.info()["video_paused"] is None
        await wait_for(lambda: len(b.frames_of(0xA6)) >= frames + 10, 10, "frames again")

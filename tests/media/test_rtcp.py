"""Sender reports: one compound RTCP datagram per subscribe transport (Peer._rtcp_loop)."""

from __future__ import annotations

import asyncio

import pytest

from media.relay import Relay
from testkit.rtc import one_way, wait_for

pytestmark = pytest.mark.timeout(40)


async def test_every_slot_gets_sender_reports_in_one_datagram(relay: Relay) -> None:
    async with one_way(relay, 0xA5) as (_, b):
        peer = relay.routers["s1"].peers["b"]
        dtls = peer.subscriptions[0].sender.transport
        sent: list[bytes] = []
        original = dtls._send_rtp

        async def spy(data: bytes) -> None:
            if 192 <= data[1] <= 223:  # RTCP
                sent.append(data)
            await original(data)

        dtls._send_rtp = spy
        assert b.sub_pc is not None
        receivers = [t.receiver for t in b.sub_pc.getTransceivers()]
        await wait_for(lambda: len(sent) >= 2, 5, "two RTCP rounds")
        slots = {s.ssrc for s in peer.subscriptions}
        # one datagram carries every slot's SR (200) and one SDES (202)
        for data in sent[:2]:
            pos, srs, sdes = 0, set(), 0
            while pos + 4 <= len(data):
                pt = data[pos + 1]
                length = (int.from_bytes(data[pos + 2:pos + 4], "big") + 1) * 4
                if pt == 200:
                    srs.add(int.from_bytes(data[pos + 4:pos + 8], "big"))
                elif pt == 202:
                    sdes += 1
                pos += length
            assert srs == slots
            assert sdes == 1
        # the client's receivers of the bound slots saw SRs (LSR recorded per SSRC)
        bound = {s.ssrc for s in peer.subscriptions if s.publication is not None}
        await wait_for(lambda: bound <= {ssrc for r in receivers
                                         for ssrc in r._RTCRtpReceiver__lsr}, 5, "SR at client")
        # no sender runs aiortc's own RTCP loop (its task is our parked stand-in)
        assert all(s.sender._run_rtcp == s._rtcp_parked for s in peer.subscriptions)
        await asyncio.sleep(0)

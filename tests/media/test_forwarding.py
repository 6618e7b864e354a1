"""End-to-end forwarding through the relay with real aiortc peers on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from media.relay import Relay
from testkit.rtc import Client, wait_for

from .conftest import assert_instrumentation_live

pytestmark = pytest.mark.timeout(40)


async def test_a_reaches_b_and_c(relay: Relay) -> None:
    a = Client(relay, "s1", "a", code=0xA5)
    b = Client(relay, "s1", "b")
    c = Client(relay, "s1", "c")
    clients = [a, b, c]
    try:
        for x in clients:
            await x.join()
        await a.publish()
        await b.subscribe()
        await c.subscribe()
        relay.set_visible("s1", "b", ["a"])
        relay.set_visible("s1", "c", ["a"])
        for sub in (b, c):
            await wait_for(lambda sub=sub: len(sub.frames_of(0xA5)) >= 30, 15, "30 frames")
            idx = [s.index for s in sub.frames_of(0xA5)]
            assert idx == sorted(idx), "painted indices out of order"
            assert len(set(idx)) == len(idx)
            await wait_for(lambda sub=sub: sum(sub.audio_frames.values()) >= 20, 10, "audio")
        # the relay gathered and announced only the configured address
        for peer in relay.routers["s1"].peers.values():
            for pc in (peer.publish_pc, peer.subscribe_pc):
                if pc is None:
                    continue
                assert pc.localDescription is not None
                cands = [line for line in pc.localDescription.sdp.splitlines()
                         if line.startswith("a=candidate:")]
                assert cands
                assert all(line.split()[4] == "127.0.0.1" for line in cands), cands
        assert relay.routers["s1"].forwarded_packets > 0
        assert relay.routers["s1"].ingress_fallback_packets == 0
        assert_instrumentation_live()
    finally:
        for x in clients:
            await x.close()
        await asyncio.sleep(0)

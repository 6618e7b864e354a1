"""Real aiortc peers through socket.io and the relay: frames follow the rooms domain.

The media test client (testkit/rtc.py) normally talks to the relay object;
here it gets an adapter that speaks the signaling events instead, so the whole path
is exercised: token → socket → schema → policy → relay → RTP → decoded frames.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from testkit.live import Client, Live, admitted
from testkit.rtc import Client as MediaClient


class OverSocket:
    """The four relay calls the media client makes, as signaling events."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def join(self, session: str, pid: str) -> dict[str, Any]:
        return dict(await self.client.ok("media_join"))

    async def publish_offer(self, session: str, pid: str, sdp: str,
                            sources: dict[str, str]) -> str:
        return str((await self.client.ok("media_publish", {"sdp": sdp, "sources": sources}))["sdp"])

    async def subscribe_offer(self, session: str, pid: str) -> str:
        return str((await self.client.ok("media_subscribe"))["sdp"])

    async def subscribe_answer(self, session: str, pid: str, sdp: str) -> None:
        await self.client.ok("media_answer", {"sdp": sdp})


async def wait_codes(m: MediaClient, since: float, expected: set[int], what: str) -> None:
    for _ in range(150):  # bounded: 15 s
        if m.codes_since(since) >= expected and len(
                [s for s in m.video if s.at >= since]) > 5:
            break
        await asyncio.sleep(0.1)
    assert m.codes_since(since) >= expected, f"{what}: saw {m.codes_since(since)}"


async def test_media_follows_breakouts_through_signaling(live: Live) -> None:
    room = await admitted(live, ("a", "client"), ("b", "partner"), ("k", "child", "b"))
    dr, sid, t = room.dr, room.sid, room.therapist
    socks = {"t": t, **room.people}

    codes = {"t": 1, "a": 2, "b": 3, "k": 4}
    media = {}
    try:
        for name, c in socks.items():
            m = MediaClient(OverSocket(c), sid, name, code=codes[name])  # type: ignore[arg-type]
            await m.join()
            await m.publish()
            await m.subscribe()
            media[name] = m
        t0 = time.monotonic()
        await wait_codes(media["t"], t0, {2, 3, 4}, "therapist sees everyone")
        await wait_codes(media["a"], t0, {1, 3, 4}, "client sees everyone")

        # A child may not share a screen (child-safe mode); enforced on the server.
        assert await socks["k"].error("media_publish", {"sdp": "v=0", "sources": {"9": "screen"}}) \
            == "child_safe"
        # Garbage SDP gets a coded error and harms nobody.
        assert await socks["a"].error("media_answer", {"sdp": "garbage"}) in (
            "bad_sdp", "bad_state")

        # Camera off pauses the publication at the relay: no frames of Alex arrive.
        paused = await socks["a"].ok("media_pause", {"source": "camera", "paused": True})
        assert len(paused["publications"]) == 1
        await asyncio.sleep(0.5)
        tp = time.monotonic()
        await asyncio.sleep(1.5)
        assert 2 not in media["t"].codes_since(tp)
        assert 3 in media["t"].codes_since(tp)  # others keep flowing
        await socks["a"].ok("media_pause", {"source": "camera", "paused": False})
        await wait_codes(media["t"], time.monotonic(), {2}, "camera back on")

        # Breakouts by role: Alex with the therapist; Blair with Kit.
        await t.ok("breakouts_by_role", {"plan": "each_client_with_clinician"})
        await t.ok("breakouts_open", {})
        await asyncio.sleep(1.0)  # let frames already in flight drain
        t1 = time.monotonic()
        await wait_codes(media["a"], t1, {1}, "client in breakout sees therapist")
        await wait_codes(media["b"], t1, {4}, "partner sees child")
        assert media["a"].codes_since(t1) == {1}
        assert media["b"].codes_since(t1) <= {4}
        assert 2 not in media["b"].codes_since(t1)
        assert 3 not in media["a"].codes_since(t1)

        # Close with no grace: everyone sees everyone again, on the same connections.
        await t.ok("breakouts_close", {"grace_seconds": 0})
        await asyncio.sleep(0.5)
        t2 = time.monotonic()
        await wait_codes(media["a"], t2, {1, 3, 4}, "client back in main room")
        await wait_codes(media["b"], t2, {1, 2, 4}, "partner back in main room")

        async with live.http.get(f"{live.url}/metrics") as r:
            body = await r.text()
        forwarded = next(float(line.split()[-1]) for line in body.splitlines()
                         if line.startswith("hearth_media_forwarded_packets_total "))
        assert forwarded > 100
        assert "hearth_media_peers 4.0" in body
    finally:
        for m in media.values():
            await m.close()
        await dr.close()

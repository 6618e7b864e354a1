"""Keyframes, breakout switching, screen share, pause, robustness: real peers on loopback."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from aiortc.rtp import RtpPacket

from media.errors import MediaError
from media.relay import Layer, Relay
from testkit.figures import figure
from testkit.rtc import Client, wait_for

pytestmark = pytest.mark.timeout(40)

A_CODE, D_CODE, CAM_CODE, SCREEN_CODE = 0x11, 0x22, 0x33, 0x44


Join = Callable[..., Awaitable[list[Client]]]


@pytest.fixture
async def join(relay: Relay) -> AsyncIterator[Join]:
    """Join ``(participant id, paint code)`` clients to session s1; all close at teardown."""
    clients: list[Client] = []

    async def start(*specs: tuple[str, int]) -> list[Client]:
        new = [Client(relay, "s1", pid, code=code) for pid, code in specs]
        clients.extend(new)
        for c in new:
            await c.join()
        return new

    yield start
    for c in clients:
        await c.close()


async def test_late_subscriber_gets_a_keyframe(relay: Relay, join: Join) -> None:
    """The publisher's encoder sends no periodic keyframes; the relay's PLI gets one."""
    a, c = await join(("a", A_CODE), ("c", 0))
    await a.publish(audio=False)
    router = relay.routers["s1"]
    await wait_for(lambda: router.ingress_packets > 60, 10, "publisher media")
    await asyncio.sleep(1.0)  # the initial keyframe is long gone
    await c.subscribe()
    relay.set_visible("s1", "c", ["a"])
    await wait_for(lambda: bool(c.frames_of(A_CODE)), 8, "first frame at late subscriber")
    first = c.frames_of(A_CODE)[0].at - c.subscribed_at
    figure(f"first decoded frame {first * 1000:.0f} ms after subscribe_answer")
    assert router.keyframe_requests >= 1
    assert router.ingress_fallback_packets == 0


async def test_without_pli_late_subscriber_sees_nothing(
    relay: Relay, join: Join, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Control: with the PLI path disabled the same scenario decodes no frame, so the
    test above really depends on the relay's keyframe requests."""
    monkeypatch.setattr(Layer, "request_keyframe", lambda self, force=False: None)
    a, c = await join(("a", A_CODE), ("c", 0))
    await a.publish(audio=False)
    router = relay.routers["s1"]
    await wait_for(lambda: router.ingress_packets > 60, 10, "publisher media")
    await asyncio.sleep(1.0)
    await c.subscribe()
    relay.set_visible("s1", "c", ["a"])
    await asyncio.sleep(2.5)
    assert c.frames_of(A_CODE) == []
    assert router.forwarded_packets == 0  # gated: no delta frame ever leaves


async def test_breakout_switch_without_renegotiation(relay: Relay, join: Join) -> None:
    """Breakouts open: b sees only d, c sees only a; close-all: both see both,
    on the same slots of the same connections."""
    a, d, b, c = await join(("a", A_CODE), ("d", D_CODE), ("b", 0), ("c", 0))
    await a.publish()
    await d.publish()
    await b.subscribe()
    await c.subscribe()
    pcs = (b.sub_pc, c.sub_pc)
    relay.set_visible("s1", "b", ["a"])
    relay.set_visible("s1", "c", ["a", "d"])
    await wait_for(lambda: len(b.frames_of(A_CODE)) >= 10, 10, "frames from a")
    assert not b.frames_of(D_CODE)

    t0 = time.monotonic()
    result = relay.set_visible("s1", "b", ["d"])
    relay.set_visible("s1", "c", ["a"])
    assert result["overflow"] == []
    assert {v["publisher_id"] for v in result["layout"].values()} == {"d"}
    await wait_for(lambda: len(b.frames_of(D_CODE, since=t0)) >= 10, 10, "frames from d")
    switch = b.frames_of(D_CODE, since=t0)[0].at - t0
    figure(f"breakout switch: first frame of new source after {switch * 1000:.0f} ms")
    settle = time.monotonic() + 0.3
    await asyncio.sleep(1.0)
    assert b.codes_since(settle) == {D_CODE}
    assert c.codes_since(settle) == {A_CODE}
    idx = [s.index for s in b.frames_of(D_CODE, since=t0)]
    assert idx == sorted(idx)

    t1 = time.monotonic()
    for sub in (b, c):
        relay.set_visible("s1", sub.pid, ["a", "d"])
    for sub in (b, c):
        await wait_for(
            lambda sub=sub: len(sub.frames_of(A_CODE, since=t1)) >= 5
            and len(sub.frames_of(D_CODE, since=t1)) >= 5, 10, "both again",
        )
    for sub, pc in zip((b, c), pcs, strict=True):
        assert pc is not None
        assert sub.sub_pc is pc
        assert pc.signalingState == "stable"
        assert len(pc.getTransceivers()) == 2 * relay.config.slots


async def test_screen_share_is_its_own_publication(relay: Relay, join: Join) -> None:
    e, b = await join(("e", CAM_CODE), ("b", 0))
    sources = await e.publish(screen_code=SCREEN_CODE)
    assert sorted(sources.values()) == ["camera", "mic", "screen"]
    pubs = {p["source"]: p for p in relay.publications("s1")}
    assert pubs["screen"]["publisher_id"] == "e"
    assert pubs["screen"]["kind"] == "video"
    await b.subscribe()
    layout = relay.set_visible("s1", "b", ["e"])["layout"]
    screen_mid = next(mid for mid, v in layout.items() if v["source"] == "screen")
    camera_mid = next(mid for mid, v in layout.items() if v["source"] == "camera")
    await wait_for(
        lambda: any(s.mid == screen_mid for s in b.frames_of(SCREEN_CODE))
        and any(s.mid == camera_mid for s in b.frames_of(CAM_CODE)), 10, "screen + camera",
    )
    assert all(s.mid == screen_mid for s in b.frames_of(SCREEN_CODE))
    assert all(s.mid == camera_mid for s in b.frames_of(CAM_CODE))


async def test_pause_stops_bytes_and_resume_recovers(relay: Relay, join: Join) -> None:
    a, b = await join(("a", A_CODE), ("b", 0))
    await a.publish(audio=False)
    await b.subscribe()
    relay.set_visible("s1", "b", ["a"])
    await wait_for(lambda: len(b.frames_of(A_CODE)) >= 5, 10, "frames")
    pub = next(p for p in relay.publications("s1") if p["kind"] == "video")
    router = relay.routers["s1"]
    relay.set_paused("s1", pub["publication_id"], True)
    await asyncio.sleep(0.3)
    sent = router.forwarded_packets
    await asyncio.sleep(1.0)
    assert router.forwarded_packets == sent
    t0 = time.monotonic()
    relay.set_paused("s1", pub["publication_id"], False)
    await wait_for(lambda: len(b.frames_of(A_CODE, since=t0)) >= 5, 10, "frames again")


async def test_active_speaker_and_tone(relay: Relay, join: Join) -> None:
    """The tone's level drives the active speaker; subscribers get the level
    extension under their own id, and the tone's frequency survives forwarding."""
    events: list[tuple[str, str]] = []
    relay.on_event = lambda s, p, ev, payload: events.append((ev, p))
    a, d, b = await join(("a", A_CODE), ("d", D_CODE), ("b", 0))
    await a.publish(camera=False, tone=True)
    await d.publish(camera=False)
    await wait_for(lambda: relay.routers["s1"].active_speaker == "a", 10, "speaker a")
    assert ("active_speaker", "a") in events

    await b.subscribe()
    assert b.sub_pc is not None
    levels: list[int] = []
    dtls = b.sub_pc.getTransceivers()[0].receiver.transport
    inner = dtls._handle_rtp_data

    async def spy(data: bytes, arrival_time_ms: int) -> None:
        packet = RtpPacket.parse(data, dtls._rtp_header_extensions_map)
        if packet.extensions.audio_level is not None:
            levels.append(packet.extensions.audio_level[1])
        await inner(data, arrival_time_ms)

    dtls._handle_rtp_data = spy  # type: ignore[method-assign]
    layout = relay.set_visible("s1", "b", ["a"])["layout"]
    mid = next(m for m, v in layout.items() if v["source"] == "mic")
    await wait_for(lambda: len(b.audio_samples.get(mid, [])) >= 2 * b.audio_rate, 10,
                   "2 s of audio")
    assert levels, "no audio-level extension reached the subscriber"
    assert min(levels) < 40
    hz = b.tone_hz(mid)
    figure(f"tone at subscriber: {hz:.0f} Hz")
    assert 400 < hz < 480


async def test_bad_input_is_refused_and_harms_nobody(relay: Relay, join: Join) -> None:
    a, b, m = await join(("a", A_CODE), ("b", 0), ("m", 0))
    await a.publish()
    await b.subscribe()
    relay.set_visible("s1", "b", ["a"])
    await wait_for(lambda: len(b.frames_of(A_CODE)) >= 5, 10, "frames")

    bad = {
        "bad_sdp": "this is not sdp\r\nm=video garbage\r\n",
        "sdp_too_large": "v=0\r\n" + "a=x:" + "y" * (130 * 1024) + "\r\n",
        "too_many_mlines": "v=0\r\n" + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" * 500,
    }
    for code, sdp in bad.items():
        with pytest.raises(MediaError) as err:
            await relay.publish_offer("s1", "m", sdp)
        assert err.value.code == code
    with pytest.raises(MediaError) as err:
        await relay.publish_offer("s1", "m", None)  # type: ignore[arg-type]
    assert err.value.code == "bad_sdp"
    # syntactically plausible but unusable (no ICE/DTLS): refused, not crashed
    assert a.pub_pc is not None
    assert a.pub_pc.localDescription is not None
    stripped = "\r\n".join(
        line for line in a.pub_pc.localDescription.sdp.splitlines()
        if not line.startswith(("a=fingerprint", "a=ice-"))
    )
    for who in ("m", "a"):  # a newcomer, and a live publisher
        with pytest.raises(MediaError) as err:
            await relay.publish_offer("s1", who, stripped)
        assert err.value.code == "bad_sdp"
    with pytest.raises(MediaError) as err:
        await relay.publish_offer("s1", "a", "v=0\r\nm=video 9 RTP/AVP 0\r\n")
    assert err.value.code == "bad_sdp"
    with pytest.raises(MediaError) as err:
        await relay.subscribe_answer("s1", "b", "v=0\r\nnonsense")
    assert err.value.code in ("bad_sdp", "bad_state")

    await m.subscribe()
    for cand in (
        {"candidate": "candidate:garbage", "sdpMid": "0"},
        {"candidate": "candidate:1 1 udp notanumber 1.2.3.4 x typ host", "sdpMid": "0"},
        {"candidate": "x" * 5000, "sdpMid": "0"},
    ):
        with pytest.raises(MediaError) as err:
            await relay.add_ice_candidate("s1", "m", "subscribe", cand)
        assert err.value.code == "bad_candidate"
    with pytest.raises(MediaError) as err:
        await relay.publish_offer("s1", "nobody", "v=0")
    assert err.value.code == "no_such_peer"

    # a subscriber vanishing without leave() must not disturb the others
    relay.set_visible("s1", "m", ["a"])
    await wait_for(lambda: len(m.frames_of(A_CODE)) >= 3, 10, "m frames")
    await m.close()
    t0 = time.monotonic()
    await wait_for(lambda: len(b.frames_of(A_CODE, since=t0)) >= 30, 10, "b keeps receiving")


async def test_rtcp_reports_both_ways(relay: Relay, join: Join) -> None:
    """Publishers get RRs from the relay's own counters; subscribers get translated SRs."""
    a, b = await join(("a", A_CODE), ("b", 0))
    await a.publish(audio=False)
    await b.subscribe()
    relay.set_visible("s1", "b", ["a"])
    assert a.pub_pc is not None
    assert b.sub_pc is not None
    pub_sender = a.pub_pc.getTransceivers()[0].sender
    layout = relay.layout("s1", "b")
    mid = next(iter(layout))
    sub_receiver = next(t.receiver for t in b.sub_pc.getTransceivers() if t.mid == mid)

    async def rr_received() -> bool:
        stats = await pub_sender.getStats()
        return any(
            s.type == "remote-inbound-rtp" and s.packetsReceived > 0
            for s in stats.values()
        )

    async def sr_translated() -> bool:
        stats = await sub_receiver.getStats()
        return any(
            s.type == "remote-outbound-rtp" and s.packetsSent > 0
            and s.remoteTimestamp.year >= 2020
            for s in stats.values()
        )

    deadline = time.monotonic() + 12
    ok_rr = ok_sr = False
    while time.monotonic() < deadline and not (ok_rr and ok_sr):
        ok_rr = ok_rr or await rr_received()
        ok_sr = ok_sr or await sr_translated()
        await asyncio.sleep(0.2)
    assert ok_rr, "publisher never got a receiver report"
    assert ok_sr, "subscriber never got a translated sender report"


async def test_more_than_k_visible_renegotiates_subscribe_leg(relay: Relay, join: Join) -> None:
    """K=3 video slots; a fourth visible camera triggers one subscribe renegotiation."""
    events: list[tuple[str, str, dict[str, object]]] = []
    relay.on_event = lambda s, p, ev, payload: events.append((ev, p, payload))
    codes = [0x51, 0x52, 0x53, 0x54]
    pubs = await join(*[(f"p{i}", code) for i, code in enumerate(codes)])
    (b,) = await join(("b", 0))
    for p in pubs:
        await p.publish(audio=False)
    await b.subscribe()
    result = relay.set_visible("s1", "b", [p.pid for p in pubs])
    assert len(result["overflow"]) == 1
    assert ("renegotiate", "b", {"leg": "subscribe", "audio": 0, "video": 1}) in events
    await b.subscribe()  # what signaling does on "renegotiate"
    assert b.sub_pc is not None
    assert len(b.sub_pc.getTransceivers()) == 2 * relay.config.slots + 1
    await wait_for(lambda: all(b.frames_of(c) for c in codes), 15, "all four cameras")
    assert relay.set_visible("s1", "b", [p.pid for p in pubs])["overflow"] == []


def drop_rtp(pc: Any, rate: float, seed: int) -> list[int]:
    """Drop ``rate`` of the SRTP datagrams arriving on ``pc``'s sockets (STUN/DTLS/RTCP
    pass), at the UDP-callback level: a lossy network, in process."""
    rng = random.Random(seed)
    dropped = [0]
    for t in pc.getTransceivers():
        for protocol in t.receiver.transport.transport._connection._protocols:
            inner = protocol.datagram_received

            def lossy(data: bytes, addr: Any, inner: Any = inner) -> None:
                if 127 < data[0] < 192 and not 191 < data[1] < 209 and rng.random() < rate:
                    dropped[0] += 1
                    return
                inner(data, addr)

            protocol.datagram_received = lossy
        break  # max-bundle: one transport
    return dropped


async def test_five_percent_loss_each_leg_recovers(relay: Relay, join: Join) -> None:
    relay.config = replace(relay.config, subscriber_rtx=False)  # aiortc subscribers
    a, b = await join(("a", A_CODE), ("b", 0))
    await a.publish(audio=False)
    await b.subscribe()
    relay.set_visible("s1", "b", ["a"])
    await wait_for(lambda: len(b.frames_of(A_CODE)) >= 5, 10, "frames")
    router = relay.routers["s1"]
    relay_pub_pc = router.peers["a"].publish_pc
    assert relay_pub_pc is not None
    assert b.sub_pc is not None
    up = drop_rtp(relay_pub_pc, 0.05, 1)      # publisher -> relay
    down = drop_rtp(b.sub_pc, 0.05, 2)        # relay -> subscriber
    t0 = time.monotonic()
    await asyncio.sleep(5.0)
    frames = b.frames_of(A_CODE, since=t0)
    assert up[0] > 0
    assert down[0] > 0
    assert len(frames) >= 60, f"only {len(frames)} frames under loss; {router.metrics()}"
    times = [t0] + [f.at for f in frames] + [time.monotonic()]
    longest = max(y - x for x, y in itertools.pairwise(times))
    figure(f"5% loss each leg: {len(frames)} frames in 5 s, longest gap "
          f"{longest * 1000:.0f} ms, metrics {router.metrics()}")
    assert longest < 2.0, "subscriber froze"
    assert router.nacks_sent > 0
    assert router.rtx_received > 0
    assert router.retransmissions > 0


async def test_screen_share_started_later_renegotiates_publish_leg(
    relay: Relay, join: Join
) -> None:
    e, b = await join(("e", CAM_CODE), ("b", 0))
    await e.publish(audio=False)
    await b.subscribe()
    relay.set_visible("s1", "b", ["e"])
    await wait_for(lambda: bool(b.frames_of(CAM_CODE)), 10, "camera")
    await e.add_screen(SCREEN_CODE)
    assert {p["source"] for p in relay.publications("s1")} == {"camera", "screen"}
    # set_visible is not called again: the new publication of a visible
    # publisher is bound by the relay's own reconciliation
    await wait_for(lambda: bool(b.frames_of(SCREEN_CODE)), 10, "screen")
    t0 = time.monotonic()
    await wait_for(lambda: len(b.frames_of(CAM_CODE, since=t0)) >= 10, 10, "camera still")


async def test_visibility_before_subscribe_and_close_cascades(relay: Relay, join: Join) -> None:
    a, b = await join(("a", A_CODE), ("b", 0))
    with pytest.raises(MediaError) as err:
        relay.set_visible("s1", "nobody", ["a"])
    assert err.value.code == "no_such_peer"
    relay.set_visible("s1", "b", ["a"])  # before anything exists: remembered
    await a.publish(audio=False)
    await b.subscribe()
    await wait_for(lambda: bool(b.frames_of(A_CODE)), 10, "frames")

    router = relay.routers["s1"]
    relay_pcs = [pc for p in router.peers.values()
                 for pc in (p.publish_pc, p.subscribe_pc) if pc is not None]
    assert len(relay_pcs) == 2  # a publishes, b subscribes
    await relay.close_session("s1")
    assert "s1" not in relay.routers
    assert all(pc.connectionState == "closed" for pc in relay_pcs)
    assert router.publications == {}
    assert router.peers == {}
    with pytest.raises(MediaError) as err:
        await relay.subscribe_offer("s1", "b")
    assert err.value.code == "no_such_session"


async def test_a_peer_closed_mid_negotiation_answers_with_a_code(
        relay: Relay, join: Join) -> None:
    """Someone starts media over (or leaves) while their publish offer is being
    answered: the offer gets a coded error a page can retry on, never a crash."""
    from aiortc import RTCPeerConnection

    from testkit.rtc import LOOPBACK, restrict_gathering

    await join(("a", A_CODE))
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio", direction="sendonly")
        restrict_gathering(pc, LOOPBACK)
        await pc.setLocalDescription(await pc.createOffer())
        peer = relay.routers["s1"].peers["a"]
        offer = asyncio.ensure_future(relay.publish_offer("s1", "a", pc.localDescription.sdp))
        await asyncio.sleep(0)  # the offer is inside the relay, awaiting aiortc
        if peer.publish_pc is not None:
            await peer.publish_pc.close()
        with pytest.raises(MediaError) as err:
            await offer
        assert err.value.code in ("bad_state", "bad_sdp")
    finally:
        await pc.close()

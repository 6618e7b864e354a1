"""Layer switching through the real objects: a simulcast ``Publication``'s layers and a
``Subscription`` slot, fed synthetic VP8 packets (real aiortc objects, no network, a
capturing egress). Also how ingress learns each layer's SSRCs from the RID extensions,
and the relay's layer bookkeeping (metrics, ``layers`` events, tile sizes)."""

from __future__ import annotations

import asyncio
import itertools
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters

from media.config import RelayConfig
from media.estimate import WIRE_OVERHEAD
from media.publication import SENT_RATE_STALE
from media.relay import Publication, Relay, Router, Subscription
from media.rtp import build_extensions, parse_header
from media.subscription import initial_layer
from media.vp8 import ids
from tests.media.test_munger_inline import MID, Capture


def transceiver(pc: RTCPeerConnection, direction: str) -> Any:
    t = pc.addTransceiver("video", direction=direction)
    t._codecs = [RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96),
                 RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=97,
                                       parameters={"apt": 96})]
    t._headerExtensions = [RTCRtpHeaderExtensionParameters(id=1, uri=MID)]
    t._set_mid("0")
    return t


def vp8(seq: int, ts: int, pid: int, tl0: int, key: bool = False, ssrc: int = 42,
        ext: bytes = b"", pt: int = 96) -> bytes:
    """A VP8 packet with a 15-bit PictureID and TL0PICIDX; a keyframe's first packet
    if ``key``."""
    descriptor = bytes([0x90, 0xC0, 0x80 | (pid >> 8), pid & 0xFF, tl0])
    tag = b"\x00" if key else b"\x01"
    b0 = 0x90 if ext else 0x80
    return struct.pack("!BBHII", b0, pt, seq, ts, ssrc) + ext + descriptor + tag + b"frame"


class Env:
    def __init__(self, router: Router, pub: Publication, sub: Subscription,
                 capture: Capture) -> None:
        self.router, self.pub, self.sub, self.capture = router, pub, sub, capture

    def feed(self, index: int, seq: int, ts: int, pid: int, tl0: int,
             key: bool = False) -> None:
        data = vp8(seq, ts, pid, tl0, key)
        h = parse_header(data)
        assert h is not None
        self.pub.layers[index].on_rtp(data, h)

    def sent(self) -> list[tuple[int, int, int, int, bytes]]:
        """(seq, ts, pid, tl0, payload tail) of every packet the slot sent."""
        out = []
        for p in self.capture.packets:
            h = parse_header(p)
            assert h is not None
            pid, _, tl0 = ids(p, h.payload_offset)
            out.append((h.seq, h.timestamp, pid, tl0, p[h.payload_offset + 5:]))
        return out


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    relay = Relay(RelayConfig(host_addresses=("127.0.0.1",)))
    router = relay.router("s", create=True)
    pcs = [RTCPeerConnection(), RTCPeerConnection()]
    publisher = router.join("a")
    pub = Publication(publisher, "video", "camera", "0", transceiver(pcs[0], "recvonly"),
                      ("q", "h", "f"))
    publisher.publications["0"] = pub
    router.publications[pub.id] = pub
    viewer = router.join("v")
    sub = Subscription(viewer, "video", transceiver(pcs[1], "sendonly"))
    sub.configure()
    viewer.subscriptions.append(sub)
    capture = Capture()
    sub._egress = capture  # type: ignore[assignment]
    yield Env(router, pub, sub, capture)
    for pc in pcs:
        await pc.close()
    await relay.close()


def assert_continuous(sent: list[tuple[int, int, int, int, bytes]]) -> None:
    for a, b in itertools.pairwise(sent):
        assert b[0] == (a[0] + 1) & 0xFFFF, (a, b)
        assert 0 <= (b[1] - a[1]) & 0xFFFFFFFF < 0x80000000, (a, b)


async def test_a_switch_waits_for_the_targets_keyframe_and_keeps_numbers_continuous(
        env: Env) -> None:
    sub, pub = env.sub, env.pub
    sub.bind(pub)
    assert sub.layer is pub.layers[0]  # no size known: the lowest layer
    env.feed(0, 65530, 1000, 0x7FF0, 250, key=True)
    for i in range(1, 4):
        env.feed(0, 65530 + i, 1000 + 3000 * i, 0x7FF0 + i, 250 + i)
    sub.set_target(2)
    assert sub.layer is pub.layers[0]
    assert sub in pub.layers[2].pending
    env.feed(2, 100, 555, 9, 7)  # a delta of the target: not yet
    env.feed(0, 65534, 13000, 0x7FF4, 254)  # the old layer still flows
    env.feed(2, 101, 3555, 10, 8, key=True)  # the target's keyframe: switch
    env.feed(0, 65535, 16000, 0x7FF5, 255)  # the old layer no longer reaches the slot
    env.feed(2, 102, 6555, 11, 9)
    sent = env.sent()
    assert [s[4] for s in sent] == [b"\x00frame"] + [b"\x01frame"] * 4 + \
        [b"\x00frame", b"\x01frame"]
    assert_continuous(sent)
    pids = [s[2] for s in sent]
    assert pids == [(0x7FF0 + i) % 0x8000 for i in range(7)]
    assert [s[3] for s in sent] == [(250 + i) % 256 for i in range(7)]
    assert sub.layer is pub.layers[2]
    assert not pub.layers[2].pending
    assert sub not in pub.layers[0].sinks
    assert env.router.layer_switches_up == 1
    info = sub.info()
    assert (info["layer"], info["layers"], info["video_paused"]) == ("f", 3, None)


async def test_switching_down_and_back_and_nacks_come_from_the_current_layer(
        env: Env) -> None:
    sub, pub = env.sub, env.pub
    sub.bind(pub)
    sub.set_target(1)  # nothing forwarded yet: taken at once
    assert sub.layer is pub.layers[1]
    env.feed(1, 10, 0, 500, 3, key=True)
    env.feed(1, 11, 3000, 501, 4)
    sub.set_target(0)
    env.feed(0, 7000, 90, 20000, 100, key=True)
    env.feed(0, 7001, 3090, 20001, 101)
    env.feed(0, 7002, 6090, 20002, 102)
    assert env.router.layer_switches_down == 1
    sent = env.sent()
    assert_continuous(sent)
    assert [s[2] for s in sent] == [500, 501, 502, 503, 504]
    assert [s[3] for s in sent] == [3, 4, 5, 6, 7]
    # the viewer NACKs the last packet: the answer comes from layer q's history,
    # with the slot's numbering
    env.sub.peer.router.relay.config.__dict__["subscriber_rtx"] = False
    await sub._on_nack(sent[-1][0])
    resent = env.sent()[-1]
    assert resent == sent[-1]


async def test_pause_for_bandwidth_keeps_the_slot_bound_and_resumes_continuously(
        env: Env) -> None:
    sub, pub = env.sub, env.pub
    sub.bind(pub)
    env.feed(0, 1, 0, 40, 1, key=True)
    sub.set_target(None)
    assert sub.publication is pub
    assert sub.layer is None
    assert sub.info()["video_paused"] == "bandwidth"
    assert "v" in env.router._layout_dirty
    env.feed(0, 2, 3000, 41, 2)
    env.feed(0, 3, 6000, 42, 3, key=True)
    assert len(env.capture.packets) == 1
    env.router._layout_dirty.clear()
    sub.set_target(1)
    assert "v" in env.router._layout_dirty
    assert sub.info()["video_paused"] is None
    env.feed(1, 900, 77, 3000, 60, key=True)
    sent = env.sent()
    assert len(sent) == 2
    assert_continuous(sent)
    assert [s[2] for s in sent] == [40, 41]
    assert [s[3] for s in sent] == [1, 2]


async def test_a_new_publication_starts_its_own_numbering(env: Env) -> None:
    sub, pub = env.sub, env.pub
    sub.bind(pub)
    env.feed(0, 1, 0, 40, 1, key=True)
    sub.set_target(2)
    env.feed(2, 5, 0, 900, 9, key=True)
    assert sub._vp8 is not None
    sub.unbind()
    assert sub._vp8 is None or not sub.view.vp8.resume
    sub.bind(pub)
    assert sub._vp8 is None
    assert not sub.view.vp8.active


async def test_ingress_learns_layers_from_rid_and_repaired_rid(env: Env) -> None:
    pub = env.pub
    peer = pub.peer
    peer._mid_ext_id, peer._rid_ext_id, peer._repaired_rid_ext_id = 1, 2, 3
    env.sub.bind(pub)
    env.sub.set_target(1)
    h_ext = build_extensions([(1, b"0"), (2, b"h")])
    peer.on_rtp(vp8(50, 0, 1, 1, key=True, ssrc=0xAAAA, ext=h_ext))
    assert pub.layers[1].ssrc == 0xAAAA
    assert pub.layers[0].ssrc is None
    assert len(env.capture.packets) == 1  # the first packet is forwarded, not lost
    peer.on_rtp(vp8(51, 0, 1, 1, ssrc=0xAAAA))  # later packets carry no extension
    assert len(env.capture.packets) == 2
    rtx_ext = build_extensions([(1, b"0"), (3, b"h")])
    peer.on_rtp(vp8(7, 0, 1, 1, ssrc=0xBBBB, ext=rtx_ext, pt=97))
    assert pub.layers[1].rtx_ssrc == 0xBBBB
    # a RID the publication does not have, and a media packet with no RID: ignored
    peer.on_rtp(vp8(1, 0, 1, 1, ssrc=0xCCCC, ext=build_extensions([(1, b"0"), (2, b"x")])))
    peer.on_rtp(vp8(1, 0, 1, 1, ssrc=0xDDDD, ext=build_extensions([(1, b"0")])))
    assert [layer.ssrc for layer in pub.layers] == [None, 0xAAAA, None]
    assert set(peer._by_ssrc) == {0xAAAA}


async def test_metrics_layers_events_and_sizes(env: Env) -> None:
    router, pub, sub = env.router, env.pub, env.sub
    events: list[tuple[str, str, dict[str, Any]]] = []
    router.relay.on_event = lambda s, p, e, payload: events.append((p, e, payload))
    sub.bind(pub)
    env.feed(0, 1, 0, 1, 1, key=True)
    env.feed(0, 2, 0, 1, 1)
    m = router.metrics()
    assert (m["layer_packets_q"], m["layer_packets_h"], m["layer_packets_f"]) == (2, 0, 0)
    assert m["layers_paused"] == 0
    assert router.emit_layers(pub, ["h", "q"]) is True
    assert router.emit_layers(pub, ["q", "h"]) is False  # no change, no event
    assert events == [("a", "layers", {"mid": "0", "active": ["q", "h"]})]
    assert router.metrics()["layers_paused"] == 1
    router.relay.set_view("s", "v", {"0": (640, 360), "9": (1, 1)})
    assert sub.size == (640, 360)
    sub.unbind()
    sub.bind(pub)
    assert sub.layer is pub.layers[0]  # no 360p packet has arrived: it may never come
    env.feed(1, 1, 0, 1, 1, key=True)
    router.check_stalls(time.monotonic())  # the periodic loop notes which layers arrive
    sub.unbind()
    sub.bind(pub)
    assert sub.layer is pub.layers[1]  # 360p tile: the 360p layer
    # the adaptation's estimates (tests/media/test_adapt.py): a fresh viewer's start value
    router.adapter.tick(1.0)
    assert router.downlink_estimates() == [1_500_000]


async def test_the_periodic_loop_tells_the_adapter_how_late_it_ran(env: Env) -> None:
    """A round trip read while the relay's loop ran late holds that lateness: the
    loop measures it and the adapter takes it off (tests/media/test_adapt.py)."""
    await asyncio.sleep(0.3)
    time.sleep(0.4)  # noqa: ASYNC251 -- the loop is held up, as by a burst of work
    await asyncio.sleep(0.15)
    assert env.router.adapter.lateness(time.monotonic()) >= 0.3


def test_initial_layer_by_rendered_height_capped() -> None:
    scales = [4.0, 2.0, 1.0]
    assert initial_layer((0, 0), scales, 2) == 0
    assert initial_layer((160, 90), scales, 2) == 0
    assert initial_layer((320, 181), scales, 2) == 1
    assert initial_layer((1280, 720), scales, 2) == 2
    assert initial_layer((3840, 2160), scales, 2) == 2
    assert initial_layer((1280, 720), scales, 1) == 1


async def test_join_lists_the_cameras_layers_unless_simulcast_is_off() -> None:
    relay = Relay(RelayConfig(camera_max_bitrate=900_000))
    try:
        result = await relay.join("s", "a")
        assert result["simulcast"] == [
            {"rid": "q", "scaleResolutionDownBy": 4.0, "maxBitrate": 150_000},
            {"rid": "h", "scaleResolutionDownBy": 2.0, "maxBitrate": 500_000},
            {"rid": "f", "scaleResolutionDownBy": 1.0, "maxBitrate": 900_000}]
    finally:
        await relay.close()
    off = Relay(RelayConfig(simulcast=False))
    try:
        assert (await off.join("s", "a"))["simulcast"] == []
    finally:
        await off.close()
    with pytest.raises(ValueError, match="max_layer"):
        RelayConfig(max_layer="x")


async def test_a_packet_that_arrives_twice_is_forwarded_once(env: Env) -> None:
    """A browser probes its uplink by resending recent packets over RTX: unwrapped,
    they are packets the relay already forwarded, and a viewer's link must not carry
    them again. A late packet that fills a gap (a repair) is forwarded."""
    sub, pub = env.sub, env.pub
    sub.bind(pub)
    env.feed(0, 1, 0, 1, 1, key=True)
    env.feed(0, 2, 3000, 2, 1)
    env.feed(0, 4, 9000, 4, 1)  # 3 is missing
    env.feed(0, 2, 3000, 2, 1)  # a probe's copy of 2
    env.feed(0, 3, 6000, 3, 1)  # the repair of 3
    env.feed(0, 4, 9000, 4, 1)  # a probe's copy of 4
    assert [seq for seq, *_ in env.sent()] == [
        s0 := env.sent()[0][0], s0 + 1, s0 + 3, s0 + 2]
    assert env.router.duplicates_dropped == 2
    assert env.router.metrics()["duplicates_dropped"] == 2


async def test_padding_resends_the_latest_packets_over_rtx(env: Env) -> None:
    """Before an upgrade the adapter tests the viewer's link with padding: copies of
    the slot's latest packets, newest first, on its RTX SSRC (the viewer drops them
    as duplicates), never on the media SSRC, whose receiver reports they would
    distort. Counted in ``probe_bytes``; nothing to resend before the first
    keyframe or without RTX."""
    sub, pub = env.sub, env.pub
    sub.bind(pub)
    assert sub.pad(10_000) == 0  # nothing forwarded yet
    env.feed(0, 1, 0, 1, 1, key=True)
    for i in range(2, 6):
        env.feed(0, i, 3000 * i, i, 1)
    media = list(env.capture.packets)
    sent = sub.pad(len(media[-1]) + 60)  # one copy takes len + 2 + 38 on the wire
    copies = env.capture.packets[len(media):]
    assert len(copies) == 2
    for copy, original in zip(copies, reversed(media), strict=False):
        h, o = parse_header(copy), parse_header(original)
        assert h is not None
        assert o is not None
        assert (h.payload_type, h.ssrc) == (97, sub.rtx_ssrc)
        osn = struct.unpack_from("!H", copy, h.payload_offset)[0]
        assert osn == o.seq
        assert copy[h.payload_offset + 2:] == original[o.payload_offset:]
    assert sent == sum(len(c) + 38 for c in copies)
    assert env.router.probe_bytes == sent
    assert env.router.metrics()["probe_bytes"] == sent
    # no RTX: no padding (and a NACK is answered on the media SSRC, as before)
    env.router.relay.config.__dict__["subscriber_rtx"] = False
    assert sub.pad(10_000) == 0
    assert len(env.capture.packets) == len(media) + 2


async def test_a_receiver_report_gives_the_round_trip(env: Env) -> None:
    """The slot's SR (``rtcp_report``) is remembered by its LSR; the viewer's report
    block echoing it, with its DLSR, gives the round trip the adapter reads."""
    sub = env.sub
    sub.bind(env.pub)
    sub.sender_report(0x0001_2345_6789_0000, 90_000)
    env.feed(0, 1, 0, 1, 1, key=True)
    sub.sender_report(0x0001_2345_6789_0000, 90_000)
    sent = time.time()
    ntp = sub.rtcp_report(sent)[1]
    assert ntp
    sub._on_report(0.0, 1, (ntp >> 16) & 0xFFFFFFFF, 0)
    (rtt,) = sub.round_trip.take()
    assert 0 <= rtt < time.time() - sent + 0.01


async def test_a_layer_costs_what_reaches_the_relay_of_it(env: Env) -> None:
    """What arrived of a layer (its packets' bytes plus each packet's wire overhead)
    over the last seconds, counted at the relay's ingress: nothing before it covers
    ``SENT_RATE_MIN``, and nothing once the layer stopped (turned off)."""
    layer = env.pub.layers[0]
    layer.ssrc = 42
    layer.attach_stats()
    size = len(vp8(1, 0, 1, 1, True))
    assert layer.send_rate(100.0) is None
    env.feed(0, 1, 0, 1, 1, key=True)
    layer.progress_at = 100.0
    layer.sample_upstream(100.0)
    assert layer.send_rate(100.0) is None
    for seq in range(2, 52):
        env.feed(0, seq, seq * 3000, seq, 1)
    layer.progress_at = 102.0
    layer.sample_upstream(102.0)
    assert layer.send_rate(102.0) == pytest.approx(50 * (size + WIRE_OVERHEAD) * 8 / 2.0)
    assert layer.send_rate(102.0 + SENT_RATE_STALE + 0.1) is None


async def test_a_publishers_uplink_loss_is_not_counted_against_the_viewer(env: Env) -> None:
    """The publisher's uplink loses one packet in ten: those gaps reach the viewer
    too, so its report of 10 % lost is the uplink's, and its estimate sees none; a
    report of 19 % means about 10 % lost on the relay's leg."""
    sub, pub = env.sub, env.pub
    layer = pub.layers[0]
    layer.ssrc = 42
    layer.attach_stats()
    sub.bind(pub)
    env.feed(0, 1, 0, 1, 1, key=True)
    layer.sample_upstream(100.0)
    for seq in range(2, 202):
        if seq % 10:
            env.feed(0, seq, seq * 3000, seq, 1)
    layer.sample_upstream(101.0)
    assert layer.upstream.fraction == pytest.approx(0.1, abs=0.01)
    sub._on_report(0.10, 1000)
    assert sub.estimate.loss == pytest.approx(0.0, abs=0.01)
    sub._on_report(0.19, 1100)
    assert sub.estimate.loss == pytest.approx(0.1, abs=0.01)


async def test_a_peer_connection_whose_close_hangs_does_not_keep_the_session_open(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """aiortc closes a connection itself once its DTLS transports closed, and a
    second close waits for that one. One that never finishes must not hold up the
    end of a session: the peer stops waiting after ``PC_CLOSE_TIMEOUT``, logs it with
    opaque ids only, and the router is gone."""
    import media.peer

    relay = Relay(RelayConfig(host_addresses=("127.0.0.1",)))
    router = relay.router("s", create=True)
    peer = router.join("a")
    hung: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    class Hangs:
        async def close(self) -> None:
            await hung

    peer.publish_pc = Hangs()  # type: ignore[assignment]
    monkeypatch.setattr(media.peer, "PC_CLOSE_TIMEOUT", 0.2)
    await asyncio.wait_for(relay.close_session("s"), 5)
    assert "s" not in relay.routers
    assert peer.closed
    assert "pc close still running" in caplog.text
    assert "participant=a" in caplog.text
    hung.set_result(None)
    await relay.close()

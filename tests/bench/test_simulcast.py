"""The benchmark's simulcast publisher: three real layers through one aiortc stream."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import clients, simulcast
from media.config import RelayConfig
from media.rtp import build_extensions, find_extension, parse_header

OFFER = "\r\n".join([
    "v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 96", "a=mid:0", "a=ssrc:5 cname:x",
    "m=video 9 UDP/TLS/RTP/SAVPF 97 98", "a=mid:1",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=ssrc-group:FID 11 12", "a=ssrc:11 cname:x", "a=ssrc:12 cname:x", "",
])


class Source:
    def __init__(self) -> None:
        self.layer = 0
        self.active = set(simulcast.RIDS)


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    simulcast.PUBLISHERS.clear()
    yield
    simulcast.PUBLISHERS.clear()


def vp8(picture_id: int, data: bytes, start: bool = True) -> bytes:
    """A payload as aiortc packs it: X, I, a 15-bit PictureID, then the VP8 data."""
    return bytes([0x90 if start else 0x80, 0x80]) + struct.pack("!H", 0x8000 | picture_id) + data


def rtp(seq: int, timestamp: int, ssrc: int, payload: bytes) -> bytes:
    return (bytes([0x90, 97]) + struct.pack("!HII", seq, timestamp, ssrc)
            + build_extensions([(1, b"1")]) + payload)


def test_layers_are_hearths_configured_layers() -> None:
    assert simulcast.RIDS == ("q", "h", "f")
    assert [(s.width, s.height, s.bitrate) for s in simulcast.LAYERS] == [
        (320, 180, 150_000), (640, 360, 500_000), (1280, 720, 1_000_000)]
    custom = simulcast.layer_specs(RelayConfig(camera_max_bitrate=2_000_000))
    assert custom[-1].bitrate == 2_000_000


def test_offer_announces_three_layers_instead_of_the_video_ssrcs() -> None:
    sdp, ssrcs = simulcast.munge_offer(OFFER)
    assert ssrcs == [11, 12]
    video = sdp.split("m=video")[1]
    assert "a=ssrc" not in video
    assert "a=ssrc:5 cname:x" in sdp  # audio untouched
    assert "a=simulcast:send q;h;f" in video
    assert [line for line in video.splitlines() if line.startswith("a=rid:")] == [
        "a=rid:q send", "a=rid:h send", "a=rid:f send"]


def test_each_packet_goes_to_its_frames_layer_numbered_as_that_layer() -> None:
    """A frame of each layer per tick (as SimulcastTrack returns them): every packet
    keeps its payload data and timestamp but gets its layer's SSRC, rid, consecutive
    sequence numbers and PictureIDs, as three browser encodings would."""
    source = Source()
    publisher = simulcast.register(11, source)
    assert simulcast.to_layer(bytes([0x80, 96]) + struct.pack("!HII", 7, 9000, 5)) is None
    seen: dict[str, list[tuple[int, int, int, bytes]]] = {rid: [] for rid in simulcast.RIDS}
    seq = 100
    for tick in range(3):
        timestamp = 9000 + 3000 * tick
        for layer in range(3):
            source.layer = layer
            for part in range(2):  # two packets per frame
                data = bytes([tick, layer, part]) * 50
                out = simulcast.to_layer(rtp(seq, timestamp, 11, vp8(seq & 0x7FFF, data)))
                seq += 1
                assert out is not None
                h = parse_header(out)
                assert h is not None
                assert h.timestamp == timestamp
                assert find_extension(out, h, 1) == b"1"
                rid = find_extension(out, h, simulcast.RID_EXT_ID)
                assert rid == simulcast.RIDS[layer].encode()
                assert h.ssrc == publisher.streams[layer].ssrc
                payload = out[h.payload_offset:]
                picture_id = struct.unpack_from("!H", payload, 2)[0] & 0x7FFF
                seen[rid.decode()].append((h.seq, picture_id, h.ssrc, payload[4:]))
    assert len({s.ssrc for s in publisher.streams} | {11}) == 4
    for name, packets in seen.items():
        seqs = [p[0] for p in packets]
        assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(6)], name
        pids = [p[1] for p in packets]
        assert pids[0] == pids[1]
        assert pids[2] == pids[3]
        assert pids[4] == pids[5]
        assert (pids[2] - pids[0]) & 0x7FFF == 1
        assert (pids[4] - pids[2]) & 0x7FFF == 1
        layer = simulcast.RIDS.index(name)
        assert [p[3][:3] for p in packets] == [
            bytes([t, layer, part]) for t in range(3) for part in range(2)]


def test_vp8_descriptor_sizes_per_rfc_7741() -> None:
    assert simulcast.vp8_descriptor(b"\x10\xaa") == (1, -1)  # no X
    assert simulcast.vp8_descriptor(b"\x90\x80\x05\xaa") == (3, 2)  # 7-bit PictureID
    assert simulcast.vp8_descriptor(b"\x90\x80\x85\x00\xaa") == (4, 2)  # 15-bit
    assert simulcast.vp8_descriptor(b"\x90\xe0\x85\x00\x07\x40\xaa") == (6, 2)  # + L, T
    assert simulcast.vp8_descriptor(b"\x90\x50\x07\x01\xaa") == (4, -1)  # L, K, no I
    with pytest.raises(ValueError):
        simulcast.vp8_descriptor(b"\x90\x80")


def test_video_key_ignores_a_rewritten_descriptor() -> None:
    """Janus (simulcast) and Hearth (on a layer switch) rewrite PictureID and TL0PICIDX,
    even the descriptor's length; the key is the VP8 data's. The whole payload's digest,
    used before, changes with them."""
    data = bytes(range(200))
    sent = vp8(0x1234, data)
    janus = bytes([0x90, 0xC0]) + struct.pack("!HB", 0x8000 | 77, 9) + data  # + TL0PICIDX
    short = bytes([0x90, 0x80, 0x05]) + data  # 7-bit PictureID
    assert clients.video_key(sent) == clients.video_key(janus) == clients.video_key(short)
    assert clients.payload_key(sent) != clients.payload_key(janus)
    assert clients.video_key(sent) != clients.video_key(vp8(0x1234, data[:-1] + b"\x00"))


def test_feedback_about_a_layer_reaches_the_one_encoder() -> None:
    """The SFU asks a layer's SSRC for a keyframe; aiortc's own RTCP router (real,
    not a stand-in) routes it to the video sender once ``route_feedback`` ran. Before,
    it went nowhere, and a viewer gated on that layer's keyframe received nothing."""
    from aiortc.rtcdtlstransport import RtpRouter
    from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket

    router = RtpRouter()

    class Sender:  # hashable, as aiortc's RTCRtpSender is
        def __init__(self, ssrc: int) -> None:
            self._ssrc = ssrc
            self.track = Source()
            self.transport = SimpleNamespace(_rtp_router=router)

    sender, audio = Sender(11), Sender(5)
    pc = SimpleNamespace(getSenders=lambda: [audio, sender])
    publisher = simulcast.register_pc(pc, 11)
    assert publisher.source is sender.track
    layer_ssrc = publisher.streams[0].ssrc
    pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=layer_ssrc)
    assert router.route_rtcp(pli) == set()
    assert simulcast.route_feedback(pc) == 3
    routed: set[object] = set(router.route_rtcp(pli))
    assert routed == {sender}


def test_dynacast_pauses_layers_of_the_track() -> None:
    source = Source()
    simulcast.register(11, source)
    simulcast.set_active(11, ["q", "x"])
    assert source.active == {"q"}
    simulcast.set_active(99, ["h"])  # not a publisher of this process: ignored
    assert source.active == {"q"}


async def test_simulcast_track_returns_each_active_layer_per_frame() -> None:
    layers = {rid: [f"{rid}{i}".encode() for i in range(4)] for rid in simulcast.RIDS}
    track = clients.SimulcastTrack(layers, max_seconds=5, offset=1)
    track._interval = 0.0  # no pacing in a unit test
    got = []
    for _ in range(6):
        packet = await track.recv()
        got.append((bytes(packet), packet.pts, simulcast.RIDS[track.layer]))
    assert got == [(b"q1", 0, "q"), (b"h1", 0, "h"), (b"f1", 0, "f"),
                   (b"q2", 3000, "q"), (b"h2", 3000, "h"), (b"f2", 3000, "f")]
    track.active = {"q"}
    assert [bytes(await track.recv()) for _ in range(2)] == [b"q3", b"q0"]
    track.stop()


def test_clip_layers_are_real_vp8_at_distinct_rates(tmp_path: Path) -> None:
    """Each layer is its own encoding at its own size, near its maxBitrate: the 180p
    layer costs a fraction of the 720p one (copies of one stream cost the same), every
    layer starts with a keyframe on the same frames, and every frame decodes."""
    import av

    clip = clients.load_clip(tmp_path / "clip.pickle")
    seconds = clients.CLIP_FRAMES / clients.FPS
    rates = {}
    for spec in simulcast.LAYERS:
        frames = clip["layers"][spec.rid]
        assert len(frames) == clients.CLIP_FRAMES
        rates[spec.rid] = sum(map(len, frames)) * 8 / seconds
        assert 0.6 * spec.bitrate < rates[spec.rid] < 1.25 * spec.bitrate, (spec, rates)
        decoder = av.CodecContext.create("libvpx", "r")
        sizes = set()
        for i, data in enumerate(frames):
            if i % clients.KEYFRAME_EVERY == 0:
                assert data[0] & 1 == 0, f"{spec.rid} frame {i} is not a keyframe"
            for frame in decoder.decode(av.Packet(data)):
                sizes.add((frame.width, frame.height))
        assert sizes == {(spec.width, spec.height)}
    assert rates["q"] < 0.25 * rates["f"]
    assert rates["h"] < 0.6 * rates["f"]
    # within a layer and across layers no two frames are the same data
    all_frames = [f for rid in simulcast.RIDS for f in clip["layers"][rid]]
    assert len(set(all_frames)) == len(all_frames)

"""The benchmark's simulcast publisher: three layers out of one aiortc stream."""

from __future__ import annotations

import struct

from bench import simulcast
from media.rtp import build_extensions, find_extension, parse_header

OFFER = "\r\n".join([
    "v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 96", "a=mid:0", "a=ssrc:5 cname:x",
    "m=video 9 UDP/TLS/RTP/SAVPF 97 98", "a=mid:1",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=ssrc-group:FID 11 12", "a=ssrc:11 cname:x", "a=ssrc:12 cname:x", "",
])


def test_offer_announces_three_layers_instead_of_the_video_ssrcs() -> None:
    sdp, ssrcs = simulcast.munge_offer(OFFER)
    assert ssrcs == [11, 12]
    video = sdp.split("m=video")[1]
    assert "a=ssrc" not in video
    assert "a=ssrc:5 cname:x" in sdp  # audio untouched
    assert "a=simulcast:send q;h;f" in video
    assert [line for line in video.splitlines() if line.startswith("a=rid:")] == [
        "a=rid:q send", "a=rid:h send", "a=rid:f send"]


def test_each_packet_leaves_as_three_layers_with_their_rid_and_the_same_payload() -> None:
    simulcast.FANOUT.clear()
    simulcast.register(11)
    ext = build_extensions([(1, b"1")])
    payload = bytes(range(200))
    packet = bytes([0x90, 97]) + struct.pack("!HII", 7, 9000, 11) + ext + payload
    assert simulcast.fan_out(bytes([0x80, 96]) + struct.pack("!HII", 7, 9000, 5)) is None
    layers = simulcast.fan_out(packet)
    assert layers is not None
    assert len(layers) == 3
    seen = []
    for data in layers:
        h = parse_header(data)
        assert h is not None
        assert (h.seq, h.timestamp, h.payload_type) == (7, 9000, 97)
        assert data[h.payload_offset:] == payload
        assert find_extension(data, h, 1) == b"1"
        rid = find_extension(data, h, simulcast.RID_EXT_ID)
        seen.append((rid, h.ssrc))
    assert [rid for rid, _ in seen] == [b"q", b"h", b"f"]
    assert len({ssrc for _, ssrc in seen}) == 3
    assert 11 not in {s for _, s in seen}
    simulcast.FANOUT.clear()


def test_feedback_about_a_layer_reaches_the_one_encoder() -> None:
    """The SFU asks a layer's SSRC for a keyframe; aiortc's own RTCP router (real,
    not a stand-in) routes it to the video sender once ``route_feedback`` ran. Before,
    it went nowhere, and a viewer gated on that layer's keyframe received nothing."""
    from types import SimpleNamespace

    from aiortc.rtcdtlstransport import RtpRouter
    from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket

    simulcast.FANOUT.clear()
    simulcast.register(11)
    class Sender:  # hashable, as aiortc's RTCRtpSender is
        def __init__(self, ssrc: int) -> None:
            self._ssrc = ssrc
            self.transport = SimpleNamespace(_rtp_router=router)

    router = RtpRouter()
    sender, audio = Sender(11), Sender(5)
    pc = SimpleNamespace(getSenders=lambda: [audio, sender])
    layer_ssrc = simulcast.FANOUT[11][0][1]
    pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=layer_ssrc)
    assert router.route_rtcp(pli) == set()
    assert simulcast.route_feedback(pc) == 3
    assert router.route_rtcp(pli) == {sender}
    simulcast.FANOUT.clear()

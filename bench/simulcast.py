"""A simulcast publisher for the relay benchmark: three real encodings in one m-section.

aiortc sends one VP8 stream per track. For ``hearth-simulcast`` and
``janus-simulcast`` a publisher's video track (``clients.SimulcastTrack``) replays
three encodings of the clip, one per layer of Hearth's ``RelayConfig.layers``
(``LAYERS``: 180p, 360p and 720p at their maxBitrates), each tick one frame of every
layer, low to high. aiortc packetizes them as one stream; each packet it hands to
DTLS is moved to the layer its frame came from (``to_layer``): that layer's SSRC, its
own sequence numbers and VP8 PictureIDs, and an ``sdes:rtp-stream-id`` header
extension, as a browser's three-layer simulcast sends it. The layers really differ
in size and rate, so an SFU's bandwidth adaptation and its keyframe-gated switches
see what a browser would send. The offer announces the layers (``a=rid``,
``a=simulcast``, low to high) instead of the video SSRC.

A replayed clip cannot answer a keyframe request (every layer has a keyframe each
second); ``route_feedback`` still lets aiortc accept the SFU's feedback about the
layer SSRCs. ``set_active`` follows Hearth's dynacast, which tells the publisher
which layers anyone watches, as a browser does by pausing encodings.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass, field
from typing import Any, Protocol

from media.config import RelayConfig
from media.layers import layer_frames

#: the one-byte extension id the offer gives rtp-stream-id (aiortc uses 1 and 2)
RID_EXT_ID = 10
RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"


@dataclass(frozen=True)
class LayerSpec:
    """One simulcast layer as the benchmark encodes it."""

    rid: str
    width: int
    height: int
    #: the encoder's target (bps): the layer's configured maxBitrate
    bitrate: int


def layer_specs(config: RelayConfig | None = None) -> tuple[LayerSpec, ...]:
    """The layers Hearth asks a browser's camera for, low to high, so both SFUs get
    what a browser would send."""
    config = config or RelayConfig()
    frames = layer_frames(config.layers)
    return tuple(LayerSpec(rid, *frames[rid], bitrate) for rid, _, bitrate in config.layers)


LAYERS = layer_specs()
RIDS = tuple(layer.rid for layer in LAYERS)


# --- which layer a viewer is given --------------------------------------------------


def layer_spec(rid: str) -> LayerSpec:
    """The layer of this rid; a ValueError names the rids there are."""
    for spec in LAYERS:
        if spec.rid == rid:
            return spec
    raise ValueError(f"no simulcast layer {rid!r} (the layers are {', '.join(RIDS)})")


def tile_size(rid: str) -> tuple[int, int]:
    """The rendered tile size a viewer reports to Hearth to be given layer ``rid``: the
    layer's own frame, which that layer covers and no lower one does, so Hearth's size
    rule picks exactly it (1280x720 for 720p, 320x180 for 180p)."""
    spec = layer_spec(rid)
    return spec.width, spec.height


def view_sizes(layout: dict[str, dict[str, Any]], rid: str) -> dict[str, list[int]]:
    """Hearth's ``media_view`` sizes for a viewer's layout (slot mid -> what it carries):
    every video slot bound to a publisher, shown as a tile of ``tile_size(rid)``, as a
    browser reports the tiles it renders."""
    size = list(tile_size(rid))
    return {mid: list(size) for mid, slot in sorted(layout.items())
            if slot.get("kind") == "video" and slot.get("publisher_id")}


def substream(rid: str) -> int:
    """Janus's substream index of layer ``rid``: publishers announce their rids low to
    high with ``rid_order`` "lmh", so substream 0 is the lowest layer."""
    return RIDS.index(layer_spec(rid).rid)


class LayerSource(Protocol):
    """The video track of a simulcast publisher (``clients.SimulcastTrack``)."""

    #: index in ``RIDS`` of the frame the track returned last
    layer: int
    #: the rids it sends (dynacast)
    active: set[str]


@dataclass
class Stream:
    """One layer's RTP stream: what a browser numbers per layer."""

    rid: str
    ssrc: int = field(default_factory=lambda: secrets.randbits(32))
    seq: int = field(default_factory=lambda: secrets.randbits(16))
    picture_id: int = field(default_factory=lambda: secrets.randbits(15))
    timestamp: int | None = None


@dataclass
class Publisher:
    """A simulcast publisher: its track and its layers' streams, low to high."""

    source: LayerSource
    streams: list[Stream]


#: video SSRC of a simulcast publisher's aiortc sender -> its layers (this process)
PUBLISHERS: dict[int, Publisher] = {}


def munge_offer(sdp: str) -> tuple[str, list[int]]:
    """The offer with its video m-section announcing the rid layers and no SSRCs;
    returns it and the video SSRCs it no longer announces, the media SSRC first."""
    out: list[str] = []
    ssrcs: list[int] = []
    video = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            if video:
                out.extend(_layer_lines())
            video = line.startswith("m=video")
        elif video and line.startswith("a=ssrc-group:"):
            if line.startswith("a=ssrc-group:FID "):
                ssrcs.insert(0, int(line.split()[1]))  # the media SSRC, before its RTX
            continue
        elif video and line.startswith("a=ssrc:"):
            ssrc = int(line[len("a=ssrc:"):].split()[0])
            if ssrc not in ssrcs:
                ssrcs.append(ssrc)
            continue
        out.append(line)
    if video:
        out.extend(_layer_lines())
    return "\r\n".join(out) + "\r\n", ssrcs


def _layer_lines() -> list[str]:
    return [f"a=extmap:{RID_EXT_ID} {RID_URI}",
            *(f"a=rid:{rid} send" for rid in RIDS),
            f"a=simulcast:send {';'.join(RIDS)}"]


def register(video_ssrc: int, source: LayerSource) -> Publisher:
    """Send this SSRC's packets as the layers ``source`` says they belong to."""
    publisher = Publisher(source, [Stream(rid) for rid in RIDS])
    PUBLISHERS[video_ssrc] = publisher
    return publisher


def register_pc(pc: Any, video_ssrc: int) -> Publisher:
    """``register`` the pc's video sender whose SSRC the offer announced."""
    sender = next(s for s in pc.getSenders() if getattr(s, "_ssrc", None) == video_ssrc)
    return register(video_ssrc, sender.track)


def set_active(video_ssrc: int, rids: list[str]) -> None:
    """Send only these layers from now on (Hearth's dynacast)."""
    publisher = PUBLISHERS.get(video_ssrc)
    if publisher is not None:
        publisher.source.active = {rid for rid in rids if rid in RIDS}


def route_feedback(pc: Any) -> int:
    """Route the SFU's feedback about a layer (PLI, FIR, NACK) to the video sender it
    came from; returns the layer SSRCs routed. aiortc routes RTCP feedback by media
    SSRC and knows only its sender's own. (What aiortc resends for a NACK goes out on
    its RTX SSRC without a repaired-rid, which the SFU cannot place: the benchmark's
    runs do not rely on repairs.) Call once the answer is applied (the bundled
    transport is final then)."""
    routed = 0
    for sender in pc.getSenders():
        publisher = PUBLISHERS.get(getattr(sender, "_ssrc", -1))
        if publisher is None or sender.transport is None:
            continue
        for stream in publisher.streams:
            sender.transport._rtp_router.senders[stream.ssrc] = sender
            routed += 1
    return routed


def vp8_descriptor(payload: bytes) -> tuple[int, int]:
    """(size of the VP8 payload descriptor, offset of its PictureID or -1), RFC 7741
    section 4.2. What follows the descriptor is the encoder's data, which SFUs pass
    on untouched; the descriptor itself they may rewrite."""
    if not payload:
        raise ValueError("empty VP8 payload")
    size, picture_id_at = 1, -1
    if payload[0] & 0x80:  # X: an extension byte follows
        if len(payload) < 2:
            raise ValueError("VP8 descriptor cut short")
        ext = payload[1]
        size = 2
        if ext & 0x80:  # I: PictureID, 15 bits when its M bit is set
            if len(payload) < 3:
                raise ValueError("VP8 descriptor cut short")
            picture_id_at = size
            size += 2 if payload[size] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            size += 1
        if ext & 0x30:  # T or K: one byte holds TID, Y and KEYIDX
            size += 1
    if size > len(payload):
        raise ValueError("VP8 descriptor cut short")
    return size, picture_id_at


def to_layer(data: bytes) -> bytes | None:
    """The plain RTP packet of a simulcast publisher moved to its frame's layer, or None
    when it is not one (sent as it is): the layer's SSRC and next sequence number, its
    PictureID (one more per frame of that layer), and the rid extension."""
    if len(data) < 12:
        return None
    publisher = PUBLISHERS.get(struct.unpack_from("!I", data, 8)[0])
    if publisher is None:
        return None
    stream = publisher.streams[publisher.source.layer]
    b0 = data[0]
    head = 12 + 4 * (b0 & 0x0F)
    elements = b""
    payload_at = head
    if b0 & 0x10:
        if struct.unpack_from("!H", data, head)[0] != 0xBEDE:
            return None
        words = struct.unpack_from("!H", data, head + 2)[0]
        elements = data[head + 4: head + 4 + 4 * words].rstrip(b"\x00")
        payload_at = head + 4 + 4 * words
    timestamp = struct.unpack_from("!I", data, 4)[0]
    if stream.timestamp is not None and timestamp != stream.timestamp:
        stream.picture_id = (stream.picture_id + 1) & 0x7FFF
    stream.timestamp = timestamp
    seq, stream.seq = stream.seq, (stream.seq + 1) & 0xFFFF
    payload = data[payload_at:]
    _, picture_id_at = vp8_descriptor(payload)
    if picture_id_at >= 0 and payload[picture_id_at] & 0x80:
        payload = (payload[:picture_id_at] + struct.pack("!H", 0x8000 | stream.picture_id)
                   + payload[picture_id_at + 2:])
    rid = stream.rid.encode()
    body = elements + bytes([(RID_EXT_ID << 4) | (len(rid) - 1)]) + rid
    body += b"\x00" * (-len(body) % 4)
    return (bytes([b0 | 0x10, data[1]]) + struct.pack("!HII", seq, timestamp, stream.ssrc)
            + data[12:head] + struct.pack("!HH", 0xBEDE, len(body) // 4) + body + payload)

"""A simulcast publisher for the relay benchmark, built from aiortc's single stream.

aiortc sends one VP8 stream per track. For ``hearth-simulcast`` each video packet a
publisher hands to DTLS leaves as three packets, one per layer (``LAYERS``), each
with its own SSRC and an ``sdes:rtp-stream-id`` header extension, as a browser's
three-layer simulcast does; the offer announces the layers (``a=rid``,
``a=simulcast``) instead of the video SSRC. The payloads are the same clip in every
layer, so the relay's cost per forwarded packet is measured with three times the
ingress of a single layer, whichever layer each viewer is given. The SFU's keyframe
requests for a layer's SSRC reach the one encoder (``route_feedback``), so they are
answered.
"""

from __future__ import annotations

import secrets
import struct
from typing import Any

#: the rids a browser publishes (RelayConfig.layers' default)
LAYERS = ("q", "h", "f")
#: the one-byte extension id the offer gives rtp-stream-id (aiortc uses 1 and 2)
RID_EXT_ID = 10
RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"

#: video SSRC of a simulcast publisher -> (rid, layer SSRC) per layer (this process)
FANOUT: dict[int, list[tuple[bytes, int]]] = {}


def munge_offer(sdp: str) -> tuple[str, list[int]]:
    """The offer with its video m-section announcing three rid layers and no SSRCs;
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
            *(f"a=rid:{rid} send" for rid in LAYERS),
            f"a=simulcast:send {';'.join(LAYERS)}"]


def register(video_ssrc: int) -> None:
    """Send this SSRC's packets as three layers from now on."""
    FANOUT[video_ssrc] = [(rid.encode(), secrets.randbits(32)) for rid in LAYERS]


def route_feedback(pc: Any) -> int:
    """Route the SFU's keyframe requests for a layer (PLI, FIR) to the video sender
    it came from; returns the layer SSRCs routed. (A NACK reaches it too, but what
    aiortc resends goes out on its own RTX SSRC without a repaired-rid, which the SFU
    cannot place: the benchmark's loopback runs do not rely on repairs.)

    aiortc routes RTCP feedback by its media SSRC and knows only the SSRC its sender
    uses, so a keyframe request for a layer would be dropped and a viewer waiting for
    that layer's keyframe would wait for good. Call once the answer is applied (the
    bundled transport is final then)."""
    routed = 0
    for sender in pc.getSenders():
        layers = FANOUT.get(getattr(sender, "_ssrc", -1))
        if not layers or sender.transport is None:
            continue
        for _, ssrc in layers:
            sender.transport._rtp_router.senders[ssrc] = sender
            routed += 1
    return routed


def fan_out(data: bytes) -> list[bytes] | None:
    """The layer packets for one plain RTP packet of a simulcast publisher, or None
    when the packet is not one (sent as it is)."""
    if len(data) < 12:
        return None
    layers = FANOUT.get(struct.unpack_from("!I", data, 8)[0])
    if layers is None:
        return None
    b0 = data[0]
    head = 12 + 4 * (b0 & 0x0F)
    elements = b""
    payload_at = head
    if b0 & 0x10:
        words = struct.unpack_from("!H", data, head + 2)[0]
        if struct.unpack_from("!H", data, head)[0] != 0xBEDE:
            return None
        elements = data[head + 4: head + 4 + 4 * words].rstrip(b"\x00")
        payload_at = head + 4 + 4 * words
    out = []
    for rid, ssrc in layers:
        body = elements + bytes([(RID_EXT_ID << 4) | (len(rid) - 1)]) + rid
        body += b"\x00" * (-len(body) % 4)
        out.append(bytes([b0 | 0x10]) + data[1:8] + struct.pack("!I", ssrc)
                   + data[12:head] + struct.pack("!HH", 0xBEDE, len(body) // 4) + body
                   + data[payload_at:])
    return out

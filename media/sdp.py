"""SDP facts the relay checks and reads: validation, the pinned room codecs, the
negotiated payload types and extension ids, sources, and trickled candidates.

aiortc builds offers and answers from transceivers, and the room codec is pinned
with ``setCodecPreferences`` on both legs (on the publish leg by pre-creating
receive-only transceivers, so the answer carries only VP8 + RTX and Opus). The one
edits of SDP text are in the publish answer: ``simulcast_answer`` (aiortc knows
nothing of RIDs, so the relay adds the receive side of a browser's simulcast offer)
and ``opus_fec`` (aiortc's Opus has no format parameters, so the relay asks for
in-band FEC).
aiortc is imported where it parses, so the rest is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import MediaError

SOURCES = {"mic": "audio", "camera": "video", "screen": "video"}
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
PIN = {"video": "video/vp8", "audio": "audio/opus"}
RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
REPAIRED_RID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
#: the longest trickled candidate line accepted
MAX_CANDIDATE = 512


@dataclass(frozen=True)
class Simulcast:
    """What one video m-section of a publish offer asks to send as simulcast: its
    RIDs in the relay's order (low to high) and the two RID extension ids."""

    mid: str
    rids: tuple[str, ...]
    rid_ext: int
    repaired_rid_ext: int


def _sections(sdp: str) -> list[list[str]]:
    """The session part, then one list of lines per m-section (line ends dropped)."""
    out: list[list[str]] = [[]]
    for line in sdp.splitlines():
        if line.startswith("m="):
            out.append([])
        if line:
            out[-1].append(line)
    return out


def _attr(section: list[str], name: str) -> list[str]:
    prefix = f"a={name}:"
    return [line[len(prefix):].strip() for line in section if line.startswith(prefix)]


def _extmap_id(section: list[str], uri: str) -> int:
    for value in _attr(section, "extmap"):
        parts = value.split()
        if len(parts) >= 2 and parts[1] == uri:
            return int(parts[0].split("/")[0])
    return 0


def _send_rids(value: str) -> list[str]:
    """The RIDs of an ``a=simulcast`` value's send direction (first alternative of
    each, paused ``~`` marks dropped), in offer order."""
    parts = value.split()
    for direction, streams in zip(parts[::2], parts[1::2], strict=False):
        if direction == "send":
            return [alt.split(",")[0].lstrip("~") for alt in streams.split(";")]
    return []


def simulcast_offer(sdp: str, rids: Sequence[str]) -> dict[str, Simulcast]:
    """The video m-sections of a publish offer that send simulcast, by mid.

    ``rids`` are the relay's layers, low to high. Every offered RID must be one of
    them (so at most that many) and the offer must negotiate the RID extension;
    anything else is ``bad_simulcast``: the browser publishes exactly the layers the
    join result listed, and a layer the relay cannot name could never be chosen."""
    out: dict[str, Simulcast] = {}
    for section in _sections(sdp)[1:]:
        if not section[0].startswith("m=video"):
            continue
        values = _attr(section, "simulcast")
        if not values:
            continue
        offered = _send_rids(values[0])
        mid = next(iter(_attr(section, "mid")), "")
        if not rids:
            raise MediaError("bad_simulcast", "simulcast is off on this server")
        unknown = [r for r in offered if r not in rids]
        if not offered or unknown or len(set(offered)) != len(offered):
            raise MediaError("bad_simulcast", f"layers must be among {','.join(rids)}")
        try:
            rid_ext = _extmap_id(section, RID_URI)
            repaired = _extmap_id(section, REPAIRED_RID_URI)
        except ValueError as exc:
            raise MediaError("bad_sdp", "bad extmap") from exc
        if not rid_ext:
            raise MediaError("bad_simulcast", "simulcast needs the rtp-stream-id extension")
        ordered = tuple(r for r in rids if r in offered)
        out[mid] = Simulcast(mid, ordered, rid_ext, repaired)
    return out


def simulcast_answer(answer: str, offers: Mapping[str, Simulcast]) -> str:
    """aiortc's publish answer with the receive side of each simulcast m-section added:
    the two RID extensions under the offer's ids, ``a=rid:<rid> recv`` per layer and
    ``a=simulcast:recv``. Pure text work; line ends are CRLF as in aiortc's SDP."""
    if not offers:
        return answer
    out: list[str] = []
    for section in _sections(answer):
        mid = next(iter(_attr(section, "mid")), None) if section else None
        sim = offers.get(mid) if mid is not None and section[0].startswith("m=video") else None
        if sim is None:
            out.extend(section)
            continue
        ext = [f"a=extmap:{sim.rid_ext} {RID_URI}"]
        if sim.repaired_rid_ext:
            ext.append(f"a=extmap:{sim.repaired_rid_ext} {REPAIRED_RID_URI}")
        last_ext = max((i for i, line in enumerate(section) if line.startswith("a=extmap:")),
                       default=len(section) - 1)
        section = section[:last_ext + 1] + ext + section[last_ext + 1:]
        section += [f"a=rid:{rid} recv" for rid in sim.rids]
        section.append("a=simulcast:recv " + ";".join(sim.rids))
        out.extend(section)
    return "\r\n".join(out) + "\r\n"


#: Opus format parameters of the publish answer: 10 ms frames allowed, and in-band FEC
OPUS_FMTP = "minptime=10;useinbandfec=1"


def opus_fec(answer: str) -> str:
    """The publish answer with ``useinbandfec=1`` on every Opus payload type.

    A browser's Opus encoder adds in-band forward error correction (each packet
    carrying a coarse copy of the one before) only when the answer says the receiver
    takes it, and then in proportion to the loss our receiver reports tell it. The
    relay forwards those packets untouched; every listener's decoder rebuilds a packet
    the publisher's uplink lost from the next one, instead of concealing the gap.
    Pure text work; line ends are CRLF as in aiortc's SDP."""
    out: list[str] = []
    for section in _sections(answer):
        if section and section[0].startswith("m=audio"):
            section = list(section)
            for value in _attr(section, "rtpmap"):
                parts = value.split()
                if len(parts) < 2 or not parts[1].lower().startswith("opus/"):
                    continue
                pt = parts[0]
                fmtp = next((i for i, line in enumerate(section)
                             if line.startswith(f"a=fmtp:{pt} ")), None)
                if fmtp is None:
                    at = next(i for i, line in enumerate(section)
                              if line.startswith(f"a=rtpmap:{pt} "))
                    section.insert(at + 1, f"a=fmtp:{pt} {OPUS_FMTP}")
                elif "useinbandfec=" not in section[fmtp]:
                    section[fmtp] += ";useinbandfec=1"
        out.extend(section)
    return "\r\n".join(out) + "\r\n"


def pinned_codecs(kind: str) -> list[Any]:
    """Codec preferences for one room codec per kind: VP8 (+RTX) or Opus."""
    from aiortc import RTCRtpSender

    caps = RTCRtpSender.getCapabilities(kind).codecs
    main = [c for c in caps if c.mimeType.lower() == PIN[kind]]
    rtx = [c for c in caps if c.mimeType.lower() == f"{kind}/rtx"]
    return main + rtx


def payload_types(codecs: Sequence[Any]) -> tuple[int, int | None]:
    """(media payload type, its RTX payload type or None) from negotiated codecs,
    preferred first."""
    main = codecs[0].payloadType
    rtx = next(
        (
            c.payloadType
            for c in codecs
            if c.mimeType.lower().endswith("/rtx")
            and str(c.parameters.get("apt")) == str(main)
        ),
        None,
    )
    return main, rtx


def validate(sdp: object, max_bytes: int, max_mlines: int) -> Any:
    """Size, m-line count and syntax checks before aiortc sees the SDP; the parsed
    description."""
    from aiortc import sdp as aiortc_sdp

    if not isinstance(sdp, str):
        raise MediaError("bad_sdp", "sdp must be a string")
    if len(sdp.encode("utf-8", errors="replace")) > max_bytes:
        raise MediaError("sdp_too_large", f"limit is {max_bytes} bytes")
    mlines = sum(1 for line in sdp.splitlines() if line.startswith("m="))
    if mlines == 0:
        raise MediaError("bad_sdp", "no m-lines")
    if mlines > max_mlines:
        raise MediaError("too_many_mlines", f"limit is {max_mlines}")
    try:
        description = aiortc_sdp.SessionDescription.parse(sdp)
    except Exception as exc:
        raise MediaError("bad_sdp", type(exc).__name__) from exc
    if any(not m.rtp.muxId for m in description.media):
        raise MediaError("bad_sdp", "m-line without a mid")
    # With BUNDLE, bundle-only m-lines may omit transport parameters, but the
    # bundle's transport must have them.
    if not any(
        m.dtls is not None and m.dtls.fingerprints and m.ice is not None
        and m.ice.usernameFragment and m.ice.password
        for m in description.media
    ):
        raise MediaError("bad_sdp", "no ICE/DTLS parameters")
    return description


def check_publish(media: Sequence[Any], sources: Mapping[str, str]) -> None:
    """A publish offer carries audio and video only, and each named source matches an
    m-line of its kind."""
    for m in media:
        if m.kind not in ("audio", "video"):
            raise MediaError("bad_sdp", "publish offers carry audio and video only")
    for mid, source in sources.items():
        if source not in SOURCES:
            raise MediaError("bad_source", f"unknown source {source!r}")
        if not any(m.rtp.muxId == mid and m.kind == SOURCES[source] for m in media):
            raise MediaError("bad_source", f"source {source!r} does not match an m-line")


def default_source(kind: str, videos_before: int) -> str:
    """An unnamed m-line's source: the mic, the first video the camera, later ones
    a screen share."""
    return "mic" if kind == "audio" else ("camera" if videos_before == 0 else "screen")


def announced_ssrcs(m: Any) -> tuple[int | None, int | None]:
    """(media SSRC, RTX SSRC) an m-line announces (its FID group, else its first SSRC)."""
    fid = next((g for g in m.ssrc_group if g.semantic == "FID"), None)
    if fid is not None and len(fid.items) >= 2:
        return int(fid.items[0]), int(fid.items[1])
    ssrcs = [s.ssrc for s in m.ssrc]
    return (ssrcs[0] if ssrcs else None), None


def parse_candidate(candidate: Mapping[str, Any]) -> Any:
    """A trickled candidate (browser ``RTCIceCandidate`` JSON) as aiortc's object;
    raises on anything malformed (the caller turns it into ``bad_candidate``)."""
    from aiortc import sdp as aiortc_sdp

    line = str(candidate["candidate"])
    if len(line) > MAX_CANDIDATE:
        raise ValueError("too long")
    parsed = aiortc_sdp.candidate_from_sdp(line.removeprefix("candidate:"))
    parsed.sdpMid = candidate.get("sdpMid")
    parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
    if parsed.sdpMid is None and parsed.sdpMLineIndex is None:
        parsed.sdpMLineIndex = 0
    return parsed


def has_candidates(sdp: str) -> bool:
    """Whether a local description announces at least one ICE candidate."""
    return "a=candidate:" in sdp

"""The SFU: forwards publishers' RTP to subscribers, rewriting headers only.

Object model (closing a parent closes its children)::

    Relay (one per process)
      Router (one per session)
        Peer (one per participant: a publish PC and a subscribe PC)
          Publication (one per incoming track: mic, camera or screen)
          Subscription (one per send slot on the subscribe PC; bound to at most
                        one Publication at a time and re-pointable)

Negotiation is glare-free because each peer connection has exactly one offerer:
the client offers on its *publish* PC (relay answers, receive-only), and the
relay offers on the *subscribe* PC (K audio + K video send-only slots, client
answers). See media/README.md for the flow.

Who sees what is decided in one place only: ``Router.set_visible``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RtcpByePacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from . import ice
from .config import RelayConfig
from .errors import MediaError
from .rtp import (
    HEADER,
    Header,
    build_extensions,
    decode_level,
    find_extension,
    parse_header,
    rewrite,
    rtx_unwrap,
    rtx_wrap,
    seq_diff,
    vp8_is_keyframe,
)

logger = logging.getLogger(__name__)

SOURCES = {"mic": "audio", "camera": "video", "screen": "video"}
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
#: senders per compound RTCP datagram (28-byte SR + about 24-byte SDES chunk each)
RTCP_SENDERS_PER_PACKET = 16
#: timestamp step inserted when a slot switches source (one frame / one 20 ms packet)
TS_STEP = {"video": 3000, "audio": 960}
PIN = {"video": "video/vp8", "audio": "audio/opus"}
#: a gap's repair attempt from which the viewer is told to start its media over: when
#: it decodes nobody at all, and for any gap
RESTART_BLIND = 3
RESTART_ANY = 5

EventCallback = Callable[[str, str, str, dict[str, Any]], None]


def closed_meanwhile() -> MediaError:
    """The peer was closed (its person left, or started media over) mid-negotiation."""
    return MediaError("bad_state", "the media connection was closed meanwhile; "
                      "start media again")


def _new_id() -> str:
    return secrets.token_hex(6)


def pinned_codecs(kind: str) -> list[Any]:
    """Codec preferences for one room codec per kind: VP8 (+RTX) or Opus."""
    caps = RTCRtpSender.getCapabilities(kind).codecs
    main = [c for c in caps if c.mimeType.lower() == PIN[kind]]
    rtx = [c for c in caps if c.mimeType.lower() == f"{kind}/rtx"]
    return main + rtx


class ParkedTrack(MediaStreamTrack):
    """A track whose ``recv()`` never returns: the sender keeps its m-line and RTCP
    loop but never reaches ``get_encoder``."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Any:
        return await self._never


class _SeqTs:
    """The two fields aiortc's StreamStatistics reads, without an RtpPacket."""

    __slots__ = ("sequence_number", "timestamp")

    def __init__(self) -> None:
        self.sequence_number = 0
        self.timestamp = 0


class Publication:
    """One incoming track of a publisher; a source of packets for its sinks."""

    def __init__(
        self, peer: Peer, kind: str, source: str, mid: str, transceiver: Any
    ) -> None:
        self.id = _new_id()
        self.peer = peer
        self.kind = kind
        self.source = source
        self.mid = mid
        self.transceiver = transceiver
        self.receiver = transceiver.receiver
        self.ssrc: int | None = None
        self.rtx_ssrc: int | None = None
        codecs = transceiver._codecs
        self.payload_type: int = codecs[0].payloadType
        self.rtx_payload_type: int | None = next(
            (
                c.payloadType
                for c in codecs
                if c.mimeType.lower().endswith("/rtx")
                and str(c.parameters.get("apt")) == str(self.payload_type)
            ),
            None,
        )
        ext = {e.uri: e.id for e in transceiver._headerExtensions}
        self.audio_level_id: int = ext.get(AUDIO_LEVEL_URI, 0) if kind == "audio" else 0
        self.paused = False
        self.closed = False
        self.sinks: list[Subscription] = []
        #: when the router last saw this publication's sequence advance (0: never);
        #: sampled off the hot path, from ``_high_seq``
        self.progress_at = 0.0
        self._sampled_seq: int | None = None
        size = peer.router.relay.config.nack_history
        self._ring: list[bytes | None] = [None] * size
        self._ring_size = size
        self._high_seq: int | None = None
        self._last_pli = 0.0
        self.level = 127
        self.level_at = 0.0
        # Receiver reports: aiortc's receiver no longer sees packets, so we feed its
        # per-SSRC statistics ourselves and its own RTCP loop sends the RR.
        self._stats: Any = None
        self._stats_view = _SeqTs()
        self._sr: tuple[int, int] | None = None  # (ntp, rtp) of the publisher's last SR
        original_rtcp = self.receiver._handle_rtcp_packet

        async def handle_rtcp_packet(packet: Any) -> None:
            if isinstance(packet, RtcpSrPacket) and packet.ssrc == self.ssrc:
                self._on_sender_report(packet)
            await original_rtcp(packet)

        self.receiver._handle_rtcp_packet = handle_rtcp_packet

    def attach_stats(self) -> None:
        """Register our receive statistics for this SSRC with aiortc's receiver."""
        if self.ssrc is None or self._stats is not None:
            return
        clock = self.transceiver._codecs[0].clockRate
        self._stats = StreamStatistics(clock)
        self.receiver._RTCRtpReceiver__remote_streams[self.ssrc] = self._stats

    def _on_sender_report(self, packet: Any) -> None:
        """Translate the publisher's SR into each started sink's timeline."""
        info = packet.sender_info
        self._sr = (info.ntp_timestamp, info.rtp_timestamp)
        for sink in self.sinks:
            sink.sender_report(info.ntp_timestamp, info.rtp_timestamp)

    def info(self) -> dict[str, Any]:
        """Metadata signaling sends to clients: who, which source, which kind."""
        return {
            "publication_id": self.id,
            "publisher_id": self.peer.id,
            "kind": self.kind,
            "source": self.source,
            "paused": self.paused,
        }

    def on_rtp(self, data: bytes, h: Header) -> None:
        """Ingress for one decrypted packet: history, loss detection, fan-out.

        A paused publication still keeps its statistics and history (so receiver
        reports stay truthful) but forwards nothing.
        """
        if self.closed:
            return
        router = self.peer.router
        router.ingress_packets += 1
        self._ring[h.seq % self._ring_size] = data
        stats = self._stats
        if stats is not None:
            view = self._stats_view
            view.sequence_number = h.seq
            view.timestamp = h.timestamp
            stats.add(view)
        if self._high_seq is None:
            self._high_seq = h.seq
        else:
            d = seq_diff(h.seq, self._high_seq)
            if d > 0:
                if 1 < d <= 64 and self.kind == "video" and self.ssrc is not None:
                    lost = [(self._high_seq + i) & 0xFFFF for i in range(1, d)]
                    router.spawn(self.receiver._send_rtcp_nack(self.ssrc, lost))
                    router.nacks_sent += 1
                elif d > 64 and self.kind == "video":
                    # too big to repair: every sink waits for a fresh keyframe
                    for sink in self.sinks:
                        sink.waiting = True
                    self.request_keyframe(force=True)
                self._high_seq = h.seq
        if self.paused:
            return
        # The audio-level element is read once per packet: for active speaker here,
        # and handed to every sink, which passes it on under its own extension id.
        level = find_extension(data, h, self.audio_level_id) if self.audio_level_id else None
        if level:
            router.note_level(self, decode_level(level))
        for sink in self.sinks:
            sink.forward(data, h, level)

    def history(self, seq: int) -> bytes | None:
        """The original packet with sequence number ``seq``, if still in the ring."""
        data = self._ring[seq % self._ring_size]
        if data is None or len(data) < 4 or int.from_bytes(data[2:4], "big") != seq:
            return None
        return data

    def request_keyframe(self, force: bool = False) -> None:
        """Send a PLI to the publisher, at most once per ``pli_interval``."""
        if self.kind != "video" or self.ssrc is None or self.closed or self.paused:
            return
        now = time.monotonic()
        router = self.peer.router
        if not force and now - self._last_pli < router.relay.config.pli_interval:
            return
        self._last_pli = now
        router.keyframe_requests += 1
        router.spawn(self.receiver._send_rtcp_pli(self.ssrc))

    def waiting_sinks(self) -> bool:
        """Whether any ready sink is gated on a keyframe from this publication."""
        return any(s.waiting and s.ready() for s in self.sinks)

    def close(self) -> None:
        """Unbind every sink; the slots stay allocated for reuse."""
        self.closed = True
        for sink in list(self.sinks):
            sink.unbind()


class Subscription:
    """A sink: one send slot on a subscriber's PC, bound to at most one Publication.

    Re-pointing the slot keeps its SSRC, continues its sequence numbers, re-bases
    its timestamp and gates it on a keyframe, so switching needs no renegotiation.
    """

    def __init__(self, peer: Peer, kind: str, transceiver: Any) -> None:
        self.peer = peer
        self.kind = kind
        self.transceiver = transceiver
        self.sender = transceiver.sender
        self.ssrc: int = self.sender._ssrc
        self.rtx_ssrc: int = self.sender._rtx_ssrc
        self.mid: str | None = None
        self.payload_type = 0
        self.rtx_payload_type: int | None = None
        self.extensions = b""
        self._mid_element: list[tuple[int, bytes]] = []
        self.audio_level_id = 0
        self.negotiated = False
        self.publication: Publication | None = None
        self.waiting = True
        self.started = False
        self._seq_offset = 0
        self._ts_offset = 0
        self._start_in_seq = 0
        self._last_out_seq = secrets.randbits(16)
        self._last_out_ts = secrets.randbits(32)
        self._rtx_seq = secrets.randbits(16)
        self.failures = 0
        self.forwarded = 0
        self.octets = 0
        self._router = peer.router
        #: first header byte (version 2, X bit if we send an extension block)
        self._b0 = 0x80
        #: this sink's extension block with a given audio-level element, by level bytes
        self._level_ext: dict[bytes, bytes] = {}
        self._egress: ice.Egress | None = None
        # Subscriber PLI/FIR and NACK must reach the publisher / our history,
        # not the encoder this sender never has.
        self.sender._send_keyframe = self._on_keyframe_request
        self.sender._retransmit = self._on_nack
        # The peer's _rtcp_loop sends this slot's SR + SDES, compounded with its
        # other slots', instead of one datagram per slot and interval.
        self.sender._run_rtcp = self._rtcp_parked

    def configure(self) -> None:
        """Read what the subscribe leg negotiated: mid, payload types, mid extension."""
        t = self.transceiver
        self.mid = t.mid
        codecs = t._codecs
        if not codecs:
            return
        self.payload_type = codecs[0].payloadType
        self.rtx_payload_type = next(
            (
                c.payloadType
                for c in codecs
                if c.mimeType.lower().endswith("/rtx")
                and str(c.parameters.get("apt")) == str(self.payload_type)
            ),
            None,
        )
        ext = {e.uri: e.id for e in t._headerExtensions}
        self._mid_element = []
        if MID_URI in ext and self.mid is not None:
            self._mid_element.append((ext[MID_URI], self.mid.encode()))
        self.extensions = build_extensions(self._mid_element)
        self._b0 = 0x90 if self.extensions else 0x80
        self.audio_level_id = ext.get(AUDIO_LEVEL_URI, 0) if self.kind == "audio" else 0
        self._level_ext = {}
        # the subscribe leg's transports are final once its answer is applied
        self._egress = ice.egress_for(
            self.sender.transport, self._router.relay.config.connect_egress_sockets)
        self.negotiated = True

    def ready(self) -> bool:
        """Negotiated and connected: a keyframe that arrives now can be delivered."""
        return self.negotiated and self._egress is not None and self._egress.ready()

    def bind(self, publication: Publication) -> None:
        """Point this slot at ``publication``; gated until its next keyframe."""
        if self.publication is publication:
            return
        self.unbind()
        self.publication = publication
        self.waiting = True
        self.sender_report(0, 0)  # no timing mapping until the new source's SR
        publication.sinks.append(self)
        publication.request_keyframe(force=True)

    def unbind(self) -> None:
        """Stop forwarding; the slot stays, parked, for a later bind."""
        pub = self.publication
        if pub is not None and self in pub.sinks:
            pub.sinks.remove(self)
        self.publication = None
        self.waiting = True

    def forward(self, data: bytes, h: Header, level: bytes | None = None) -> None:
        """Rewrite one packet for this sink and send it; never raises.

        ``level`` is the publisher's audio-level element, already read once per packet.
        This runs once per packet per sink: sequence arithmetic is inlined and the
        header is packed in one call (see ``rtp.rewrite`` for the same layout).
        """
        try:
            if self.waiting:
                if not self.ready():
                    return
                if self.kind == "video" and not vp8_is_keyframe(data, h.payload_offset):
                    return
                self._start(h)
            else:
                since_start = (h.seq - self._start_in_seq) & 0xFFFF
                if since_start >= 0x8000:
                    return  # straggler from before this slot (re)started
                if since_start > 4096:
                    self._start_in_seq = (h.seq - 2048) & 0xFFFF
            seq = (h.seq + self._seq_offset) & 0xFFFF
            ts = (h.timestamp + self._ts_offset) & 0xFFFFFFFF
            if 0 < ((seq - self._last_out_seq) & 0xFFFF) < 0x8000:
                self._last_out_seq = seq
                self._last_out_ts = ts
            if level and self.audio_level_id:
                # pass the publisher's audio level through, under this leg's id
                extensions = self._level_ext.get(level)
                if extensions is None:
                    if len(self._level_ext) >= 256:
                        self._level_ext.clear()
                    extensions = self._level_ext[level] = build_extensions(
                        [*self._mid_element, (self.audio_level_id, level)])
                b0 = 0x90 if extensions else 0x80
            else:
                extensions = self.extensions
                b0 = self._b0
            off = h.payload_offset
            packet = HEADER.pack(
                b0 | h.padding, h.marker | self.payload_type, seq, ts, self.ssrc
            ) + extensions + data[off:]
            egress = self._egress  # bound when negotiated, which ``_start`` required
            if egress is not None and egress.send(packet):
                self.forwarded += 1
                self.octets += len(data) - off
                router = self._router
                router.forwarded_packets += 1
                router.forwarded_bytes += len(packet)
        except Exception:
            self._failed()

    def _start(self, h: Header) -> None:
        out_seq = (self._last_out_seq + 1) & 0xFFFF
        out_ts = (self._last_out_ts + (TS_STEP[self.kind] if self.started else 0)) & 0xFFFFFFFF
        self._seq_offset = (out_seq - h.seq) & 0xFFFF
        self._ts_offset = (out_ts - h.timestamp) & 0xFFFFFFFF
        self._start_in_seq = h.seq
        self.waiting = False
        self.started = True
        pub = self.publication
        if pub is not None and pub._sr is not None:
            self.sender_report(*pub._sr)

    def sender_report(self, ntp: int, rtp_ts: int) -> None:
        """Set what the sender's own RTCP loop puts in its next SR: the publisher's
        NTP/RTP pair shifted by this sink's timestamp offset, and our counts."""
        s = self.sender
        if ntp and (not self.started or self.waiting):
            return
        s._RTCRtpSender__ntp_timestamp = ntp
        s._RTCRtpSender__rtp_timestamp = (rtp_ts + self._ts_offset) & 0xFFFFFFFF if ntp else 0
        s._RTCRtpSender__packet_count = self.forwarded
        s._RTCRtpSender__octet_count = self.octets

    async def _rtcp_parked(self) -> None:
        """Stands in for the sender's ``_run_rtcp``: keeps its start/exit handshake
        with ``RTCRtpSender.stop`` and its BYE, but sends no periodic report (see
        ``Peer._rtcp_loop``)."""
        s = self.sender
        s._RTCRtpSender__rtcp_started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.get_running_loop().create_future()
        try:
            await s._send_rtcp([RtcpByePacket(sources=[self.ssrc])])
        except Exception:
            logger.debug("RTCP BYE failed", exc_info=True)
        finally:
            s._RTCRtpSender__rtcp_exited.set()

    def rtcp_report(self, now: float) -> tuple[RtcpSrPacket, RtcpSourceInfo | None]:
        """This slot's SR (the fields ``sender_report`` maintains) and SDES chunk, as
        aiortc's sender loop builds them, and the LSR it keeps for RTT estimates."""
        s = self.sender
        ntp = s._RTCRtpSender__ntp_timestamp
        sr = RtcpSrPacket(
            ssrc=self.ssrc,
            sender_info=RtcpSenderInfo(
                ntp_timestamp=ntp,
                rtp_timestamp=s._RTCRtpSender__rtp_timestamp,
                packet_count=s._RTCRtpSender__packet_count & 0xFFFFFFFF,
                octet_count=s._RTCRtpSender__octet_count & 0xFFFFFFFF,
            ),
        )
        s._RTCRtpSender__lsr = (ntp >> 16) & 0xFFFFFFFF
        s._RTCRtpSender__lsr_time = now
        cname = s._RTCRtpSender__cname
        chunk = (RtcpSourceInfo(ssrc=self.ssrc, items=[(1, cname.encode("utf8"))])
                 if cname is not None else None)
        return sr, chunk

    def _failed(self) -> None:
        self.failures += 1
        if self.failures == 1:
            logger.warning(
                "sink send failed: session=%s subscriber=%s mid=%s",
                self.peer.router.id, self.peer.id, self.mid, exc_info=True,
            )
        if self.failures >= 50:
            self.unbind()

    def _on_keyframe_request(self) -> None:
        pub = self.publication
        if pub is not None:
            pub.request_keyframe()

    async def _on_nack(self, sequence_number: int) -> None:
        pub = self.publication
        if pub is None or self.waiting:
            return
        in_seq = (sequence_number - self._seq_offset) & 0xFFFF
        if seq_diff(in_seq, self._start_in_seq) < 0:
            return
        data = pub.history(in_seq)
        if data is None:
            return
        h = parse_header(data)
        if h is None:
            return
        ts = (h.timestamp + self._ts_offset) & 0xFFFFFFFF
        if self.rtx_payload_type is not None and self.peer.router.relay.config.subscriber_rtx:
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            packet = rtx_wrap(
                data, h, self.rtx_payload_type, self._rtx_seq, ts, self.rtx_ssrc,
                self.extensions, sequence_number,
            )
        else:
            packet = rewrite(
                data, h, self.payload_type, sequence_number, ts, self.ssrc, self.extensions
            )
        try:
            if self._egress is not None and self._egress.send(packet):
                self.peer.router.retransmissions += 1
        except Exception:
            self._failed()

    def info(self) -> dict[str, Any]:
        """What this slot carries, for the subscriber's layout."""
        pub = self.publication
        out: dict[str, Any] = {"kind": self.kind, "mid": self.mid}
        if pub is not None:
            out.update(pub.info())
        return out


class Peer:
    """One participant: its publish PC (client offers) and subscribe PC (relay offers)."""

    def __init__(self, router: Router, participant_id: str) -> None:
        self.router = router
        self.id = participant_id
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc: RTCPeerConnection | None = None
        self.publications: dict[str, Publication] = {}  # by mid on the publish PC
        self.subscriptions: list[Subscription] = []
        self.visible: set[str] = set()
        #: extra slots per kind the next subscribe offer must add (more than K visible)
        self.slots_needed: dict[str, int] = {"audio": 0, "video": 0}
        self._by_ssrc: dict[int, Publication] = {}
        self._by_rtx_ssrc: dict[int, Publication] = {}
        self._mid_ext_id = 0
        self.closed = False
        self._lock = asyncio.Lock()
        self._rtcp_task: asyncio.Future[Any] | None = None
        #: slots per kind for the first subscribe offer (sized by signaling at join)
        self.initial_slots = router.relay.config.slots
        #: when ``renegotiate`` was last sent and is still unanswered (None: nothing owed)
        self.renegotiate_sent: float | None = None
        #: a subscribe offer was asked for while one was outstanding: offer again after
        #: the answer, so the second need is served, never refused
        self._offer_again = False
        #: packets forwarded to this subscriber as last seen by a repair, and when that
        #: number last grew (a repair restarts only a subscriber nothing reaches)
        self.forwarded_seen = 0
        self.forwarded_at = time.monotonic()

    def _new_pc(self) -> RTCPeerConnection:
        servers = [
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in self.router.relay.config.ice_servers
        ]
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            if pc.connectionState in ("failed", "closed") and not self.closed:
                logger.info("peer connection %s: session=%s participant=%s",
                            pc.connectionState, self.router.id, self.id)
                self.router.relay.emit(self.router.id, self.id, "peer_closed",
                                       {"reason": pc.connectionState})
                self.router.spawn(self.router.leave(self.id))

        return pc

    # -- ingress ---------------------------------------------------------------

    def on_rtp(self, data: bytes) -> None:
        """Dispatch one decrypted packet from this publisher to its publication."""
        h = parse_header(data)
        if h is None:
            return
        pub = self._by_ssrc.get(h.ssrc)
        if pub is not None:
            if h.payload_type == pub.payload_type:
                pub.on_rtp(data, h)
            return
        pub = self._by_rtx_ssrc.get(h.ssrc)
        if pub is not None and pub.ssrc is not None:
            if h.payload_type != pub.rtx_payload_type:
                return
            original = rtx_unwrap(data, h, pub.payload_type, pub.ssrc)
            oh = parse_header(original) if original is not None else None
            if original is not None and oh is not None:
                self.router.rtx_received += 1
                pub.on_rtp(original, oh)
            return
        self._learn_ssrc(data, h)

    def _learn_ssrc(self, data: bytes, h: Header) -> None:
        """SSRCs not in the SDP: map them by their sdes:mid extension."""
        mid = find_extension(data, h, self._mid_ext_id)
        if mid is None:
            return
        pub = self.publications.get(mid.decode(errors="replace"))
        if pub is None:
            return
        if h.payload_type == pub.payload_type and pub.ssrc is None:
            pub.ssrc = h.ssrc
            self._by_ssrc[h.ssrc] = pub
            pub.attach_stats()
            pub.on_rtp(data, h)
        elif h.payload_type == pub.rtx_payload_type and pub.rtx_ssrc is None:
            pub.rtx_ssrc = h.ssrc
            self._by_rtx_ssrc[h.ssrc] = pub

    # -- publish leg -------------------------------------------------------------

    async def publish_offer(self, sdp: str, sources: Mapping[str, str] | None) -> str:
        """Answer the client's publish offer; each sending m-line becomes a Publication."""
        description = self.router.relay.validate_sdp(sdp)
        media = description.media
        for m in media:
            if m.kind not in ("audio", "video"):
                raise MediaError("bad_sdp", "publish offers carry audio and video only")
        sources = dict(sources or {})
        for mid, source in sources.items():
            if source not in SOURCES:
                raise MediaError("bad_source", f"unknown source {source!r}")
            if not any(m.rtp.muxId == mid and m.kind == SOURCES[source] for m in media):
                raise MediaError("bad_source", f"source {source!r} does not match an m-line")
        async with self._lock:
            if self.publish_pc is None:
                self.publish_pc = self._new_pc()
            pc = self.publish_pc
            if pc.signalingState != "stable":
                raise MediaError("bad_state", "publish connection is mid-negotiation")
            # Pre-create receive-only transceivers so the room codec is pinned in
            # our answer (aiortc matches them to the offer's m-lines by kind).
            known = {t.mid for t in pc.getTransceivers()}
            for m in media:
                if m.rtp.muxId not in known:
                    t = pc.addTransceiver(m.kind, direction="recvonly")
                    t.setCodecPreferences(pinned_codecs(m.kind))
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except MediaError:
                raise
            except Exception as exc:
                raise MediaError("bad_sdp", type(exc).__name__) from exc
            config = self.router.relay.config
            ice.restrict_gathering(pc, config.host_addresses, config.port_range,
                                 dict(config.announce))
            try:
                answer = await pc.createAnswer()
                await pc.setLocalDescription(answer)
            except InvalidStateError as exc:
                raise closed_meanwhile() from exc
            self._require_candidates(pc)
            for dtls in ice.dtls_transports(pc):
                self._watch_ingress(dtls)
            self._sync_publications(description, sources)
            local = pc.localDescription
            assert local is not None
            return str(local.sdp)

    def _require_candidates(self, pc: RTCPeerConnection) -> None:
        """No local candidate (e.g. the media port range is exhausted): refuse this join
        with a clear code instead of handing out an offer that can never connect."""
        local = pc.localDescription
        if local is None or not ice.has_candidates(local.sdp):
            self.router.spawn(self.router.leave(self.id))
            raise MediaError("no_media_ports", "no free media port on the server; try again")

    def _watch_ingress(self, dtls: Any) -> None:
        """Install the ingress tap now: gathering has bound the sockets, SRTP keys do
        not exist yet, so no RTP packet can have reached aiortc."""
        ice.install_ingress(dtls, self.on_rtp, self.router.count_fallback)

    def _sync_publications(self, description: Any, sources: dict[str, str]) -> None:
        assert self.publish_pc is not None
        by_mid = {t.mid: t for t in self.publish_pc.getTransceivers()}
        video_seen = 0
        changed = False
        for m in description.media:
            mid = m.rtp.muxId
            t = by_mid.get(mid)
            sending = m.direction in ("sendonly", "sendrecv")
            existing = self.publications.get(mid)
            if existing is not None and not sending:
                self._drop_publication(existing)
                changed = True
                continue
            if existing is not None or not sending or t is None or not t._codecs:
                if m.kind == "video":
                    video_seen += 1
                continue
            if t._codecs[0].mimeType.lower() != PIN[m.kind]:
                raise MediaError("codec_mismatch", f"{m.kind} must be {PIN[m.kind]}")
            source = sources.get(mid)
            if source is None:
                source = "mic" if m.kind == "audio" else ("camera" if video_seen == 0 else "screen")
            if m.kind == "video":
                video_seen += 1
            pub = Publication(self, m.kind, source, mid, t)
            for header in t._headerExtensions:
                if header.uri == MID_URI:
                    self._mid_ext_id = header.id
            ssrcs = [s.ssrc for s in m.ssrc]
            fid = next((g for g in m.ssrc_group if g.semantic == "FID"), None)
            if fid is not None and len(fid.items) >= 2:
                pub.ssrc, pub.rtx_ssrc = int(fid.items[0]), int(fid.items[1])
            elif ssrcs:
                pub.ssrc = ssrcs[0]
            if pub.ssrc is not None:
                self._by_ssrc[pub.ssrc] = pub
                pub.attach_stats()
            if pub.rtx_ssrc is not None:
                self._by_rtx_ssrc[pub.rtx_ssrc] = pub
            self.publications[mid] = pub
            self.router.publications[pub.id] = pub
            logger.info("publication added: session=%s publisher=%s publication=%s source=%s",
                        self.router.id, self.id, pub.id, source)
            changed = True
        if changed:
            self.router.reconcile_all()

    def _drop_publication(self, pub: Publication) -> None:
        pub.close()
        self.publications.pop(pub.mid, None)
        self.router.publications.pop(pub.id, None)
        for table in (self._by_ssrc, self._by_rtx_ssrc):
            for k in [k for k, v in table.items() if v is pub]:
                del table[k]

    # -- subscribe leg -----------------------------------------------------------

    async def subscribe_offer(self) -> str:
        """The relay's offer for the subscribe PC, with K audio + K video slots.

        Negotiations on this leg are serialized: asked again while an offer is
        outstanding, it returns that same offer and owes the client another round
        once it is answered (``renegotiate`` then follows the answer)."""
        async with self._lock:
            if self.subscribe_pc is None:
                self.subscribe_pc = self._new_pc()
                wanted = self.router.visible_counts(self)
                for kind in ("audio", "video"):
                    self._add_slots(kind, max(self.initial_slots, wanted[kind]))
                self._rtcp_task = asyncio.ensure_future(self._rtcp_loop())
            pc = self.subscribe_pc
            if pc.signalingState == "have-local-offer" and pc.localDescription is not None:
                self._offer_again = True
                return str(pc.localDescription.sdp)
            if pc.signalingState != "stable":
                raise MediaError("bad_state", "subscribe connection is closed")
            for kind, extra in self.slots_needed.items():
                self._add_slots(kind, extra)
                self.slots_needed[kind] = 0
            config = self.router.relay.config
            ice.restrict_gathering(pc, config.host_addresses, config.port_range,
                                 dict(config.announce))
            ice.nominate_once(pc)  # the relay is the controlling agent on this leg
            try:
                offer = await pc.createOffer()
                await pc.setLocalDescription(offer)
            except InvalidStateError as exc:
                raise closed_meanwhile() from exc
            self._require_candidates(pc)
            local = pc.localDescription
            assert local is not None
            return str(local.sdp)

    async def _rtcp_loop(self) -> None:
        """Sender reports for the subscribe PC: every 0.5-1.5 s (aiortc's interval),
        one compound RTCP datagram per transport carrying every started slot's SR and
        an SDES with their CNAMEs, where aiortc would send one datagram per slot."""
        while not self.closed:
            await asyncio.sleep(0.5 + random.random())
            groups: dict[int, tuple[Any, list[Subscription]]] = {}
            for sub in self.subscriptions:
                sender = sub.sender
                if sender._RTCRtpSender__started:
                    dtls = sender.transport
                    groups.setdefault(id(dtls), (dtls, []))[1].append(sub)
            now = time.time()
            for dtls, subs in groups.values():
                for i in range(0, len(subs), RTCP_SENDERS_PER_PACKET):
                    try:
                        batch = subs[i:i + RTCP_SENDERS_PER_PACKET]
                        reports = [sub.rtcp_report(now) for sub in batch]
                        chunks = [chunk for _, chunk in reports if chunk is not None]
                        payload = b"".join(bytes(sr) for sr, _ in reports)
                        if chunks:
                            payload += bytes(RtcpSdesPacket(chunks=chunks))
                        await dtls._send_rtp(payload)
                    except ConnectionError:
                        pass  # not connected (yet, or any more)
                    except Exception:
                        logger.debug("RTCP send failed: session=%s participant=%s",
                                     self.router.id, self.id, exc_info=True)

    def _add_slots(self, kind: str, count: int) -> None:
        assert self.subscribe_pc is not None
        for _ in range(count):
            t = self.subscribe_pc.addTransceiver(ParkedTrack(kind), direction="sendonly")
            t.setCodecPreferences(pinned_codecs(kind))
            self.subscriptions.append(Subscription(self, kind, t))

    async def subscribe_answer(self, sdp: str) -> None:
        """Apply the client's answer; slots learn their negotiated mid and payload types."""
        self.router.relay.validate_sdp(sdp)
        async with self._lock:
            pc = self.subscribe_pc
            if pc is None or pc.signalingState != "have-local-offer":
                raise MediaError("bad_state", "no subscribe offer outstanding")
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            except Exception as exc:
                raise MediaError("bad_sdp", type(exc).__name__) from exc
            for sub in self.subscriptions:
                sub.configure()
            for sub in self.subscriptions:
                if sub.publication is not None:
                    sub.publication.request_keyframe(force=True)
            again, self._offer_again = self._offer_again, False
            self.renegotiate_sent = None
        # new slots may have arrived: bind what overflowed before
        self.router.reconcile_all()
        if again and self.renegotiate_sent is None and any(self.slots_needed.values()):
            self.router.ask_renegotiate(self)

    async def add_ice_candidate(self, leg: str, candidate: Mapping[str, Any] | None) -> None:
        """A trickled remote candidate for the ``publish`` or ``subscribe`` leg."""
        pc = self.publish_pc if leg == "publish" else self.subscribe_pc
        if leg not in ("publish", "subscribe"):
            raise MediaError("bad_candidate", "leg must be publish or subscribe")
        if pc is None:
            raise MediaError("bad_state", f"no {leg} connection")
        if candidate is None or not candidate.get("candidate"):
            return  # end of candidates
        try:
            line = str(candidate["candidate"])
            if len(line) > 512:
                raise ValueError("too long")
            parsed = aiortc_sdp.candidate_from_sdp(line.removeprefix("candidate:"))
            parsed.sdpMid = candidate.get("sdpMid")
            parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
            if parsed.sdpMid is None and parsed.sdpMLineIndex is None:
                parsed.sdpMLineIndex = 0
            await pc.addIceCandidate(parsed)
        except Exception as exc:
            raise MediaError("bad_candidate", type(exc).__name__) from exc

    def layout(self) -> dict[str, dict[str, Any]]:
        """Slot mid -> what it carries, for the subscriber to label its tracks."""
        return {
            str(s.mid): s.info()
            for s in self.subscriptions
            if s.mid is not None and s.publication is not None
        }

    def layout_message(self, overflow: list[str] | None = None) -> dict[str, Any]:
        """The layout with a per-peer sequence number: messages can overtake each other
        on their way to the browser, which applies only the newest."""
        seq = self.router.relay.next_layout_seq()
        return {"layout": self.layout(), "overflow": overflow or [], "seq": seq}

    async def close(self) -> None:
        """Close publications, subscriptions and both peer connections."""
        if self.closed:
            return
        self.closed = True
        if self._rtcp_task is not None:
            self._rtcp_task.cancel()
        for pub in list(self.publications.values()):
            self._drop_publication(pub)
        for sub in self.subscriptions:
            sub.unbind()
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                try:
                    await pc.close()
                except Exception:
                    logger.warning("pc close failed: session=%s participant=%s",
                                   self.router.id, self.id, exc_info=True)


class Router:
    """One session: its peers, publications and the visibility reconciliation."""

    def __init__(self, relay: Relay, session_id: str) -> None:
        self.relay = relay
        self.id = session_id
        self.peers: dict[str, Peer] = {}
        self.publications: dict[str, Publication] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self.active_speaker: str | None = None
        self._last_speaker_check = 0.0
        self.on_active_speaker: Callable[[str | None], None] | None = None
        # metrics: plain ints for now
        self.ingress_packets = 0
        self.forwarded_packets = 0
        self.forwarded_bytes = 0
        self.keyframe_requests = 0
        self.nacks_sent = 0
        self.retransmissions = 0
        self.rtx_received = 0
        self.ingress_fallback_packets = 0
        self.closed = False
        #: publishers whose media stopped arriving (see ``check_stalls``)
        self.stalled: set[str] = set()
        self._keyframe_task = asyncio.ensure_future(self._keyframe_loop())

    def count_fallback(self) -> None:
        """An RTP packet came through aiortc's DTLS task instead of the UDP callback."""
        self.ingress_fallback_packets += 1

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background, keeping a reference and logging failures."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("background task failed: session=%s", self.id,
                         exc_info=task.exception())

    async def _keyframe_loop(self) -> None:
        """Keep asking for keyframes while any ready sink waits (rate-limited per source);
        re-send unanswered renegotiations; watch for publishers whose media stopped."""
        interval = self.relay.config.keyframe_check_interval
        while True:
            await asyncio.sleep(interval)
            for pub in list(self.publications.values()):
                if pub.kind == "video" and pub.waiting_sinks():
                    pub.request_keyframe()
            now = time.monotonic()
            self.resend_renegotiations(now)
            self.check_stalls(now)

    def check_stalls(self, now: float) -> None:
        """A publisher whose every publication has stopped advancing for ``stall_after``
        seconds has lost its connection (or its sender): emit ``health`` on change."""
        for pub in self.publications.values():
            if pub._high_seq is not None and pub._high_seq != pub._sampled_seq:
                pub._sampled_seq = pub._high_seq
                pub.progress_at = now
        stalled = self.stalled_publishers(now)
        if stalled != self.stalled:
            self.stalled = stalled
            self.relay.emit(self.id, "", "health", {"stalled": sorted(stalled)})

    def stalled_publishers(self, now: float) -> set[str]:
        """Publishers that sent media before and sent none for ``stall_after`` seconds."""
        after = self.relay.config.stall_after
        out = set()
        for p in self.peers.values():
            pubs = [pub for pub in p.publications.values() if not pub.closed]
            if pubs and all(pub.progress_at for pub in pubs) \
                    and now - max(pub.progress_at for pub in pubs) >= after:
                out.add(p.id)
        return out

    def live(self, pub: Publication, now: float) -> bool:
        """Forwarding now: on, and its packets arrived within ``stall_after``."""
        return (not pub.paused and not pub.closed and pub.progress_at > 0
                and now - pub.progress_at < self.relay.config.stall_after)

    def expected(self, viewer_id: str) -> set[tuple[str, str]]:
        """(publisher, kind) that ``viewer_id`` should be decoding now: visible, turned
        on and arriving at the relay (a publisher's own outage is not a viewer's gap)."""
        p = self.peer(viewer_id)
        now = time.monotonic()
        return {
            (pid, pub.kind)
            for pid in p.visible
            if (publisher := self.peers.get(pid)) is not None
            for pub in publisher.publications.values()
            if self.live(pub, now)
        }

    def repair(self, viewer_id: str, publisher_id: str, kind: str, attempt: int = 1,
               blind: bool = False) -> str:
        """Fix one gap, escalating while it lasts; returns what it did.

        1. bind what is unbound (renegotiating if no slot is free), ask for a keyframe
           for a bound video (rate-limited; deltas keep flowing, so a slow decoder is
           never set back), and re-send the layout;
        2. from the second attempt, when nothing has left the relay for the viewer for
           ``stall_after`` seconds, also run a subscribe round again (fresh offer and
           answer: every slot re-reads what was negotiated and asks for keyframes);
           while packets do leave, a round would only add load to a starved host;
        3. when nothing has left the relay for the viewer for ``stall_after`` seconds
           and it decodes nobody (``blind``) from the third attempt, or any gap from
           the fifth, or at once when its subscribe connection has failed: tell the
           viewer to start its media over (``peer_closed``). While packets do leave
           for it, its decoder is only slow (a starved host): a restart would only
           set it back.
        """
        p = self.peer(viewer_id)
        pc = p.subscribe_pc
        dead = pc is not None and pc.connectionState in ("failed", "closed")
        now = time.monotonic()
        sent = sum(s.forwarded for s in p.subscriptions)
        if sent != p.forwarded_seen:
            p.forwarded_seen, p.forwarded_at = sent, now
        silent = now - p.forwarded_at >= self.relay.config.stall_after
        if dead or (silent and ((blind and attempt >= RESTART_BLIND)
                                or attempt >= RESTART_ANY)):
            logger.info("repair restarts media: session=%s viewer=%s attempt=%d blind=%s "
                        "subscribe=%s forwarded=%d", self.id, p.id, attempt, blind,
                        pc.connectionState if pc is not None else "none", sent)
            self.relay.emit(self.id, p.id, "peer_closed", {"reason": "repair"})
            return "restart"
        overflow = self._reconcile(p)
        done = "layout"
        for sub in p.subscriptions:
            pub = sub.publication
            if pub is not None and pub.peer.id == publisher_id and kind == pub.kind == "video":
                pub.request_keyframe()
                done = "keyframe"
        if pc is not None and (overflow or (attempt >= 2 and silent)):
            self.ask_renegotiate(p)
            done = "renegotiate"
        self.relay.emit(self.id, p.id, "layout", p.layout_message(overflow))
        return done

    def peer(self, participant_id: str) -> Peer:
        """The peer, or MediaError('no_such_peer')."""
        p = self.peers.get(participant_id)
        if p is None:
            raise MediaError("no_such_peer", "participant has not joined")
        return p

    def join(self, participant_id: str) -> Peer:
        """Add (or return) a participant's peer."""
        p = self.peers.get(participant_id)
        if p is None:
            p = Peer(self, participant_id)
            self.peers[participant_id] = p
        return p

    async def leave(self, participant_id: str) -> None:
        """Remove a participant; its publications' sinks elsewhere are unbound."""
        p = self.peers.pop(participant_id, None)
        if p is None:
            return
        await p.close()
        self.reconcile_all()

    def set_visible(self, subscriber_id: str, publisher_ids: Iterable[str]) -> dict[str, Any]:
        """THE visibility entry point: ``subscriber_id`` sees exactly these publishers.

        Reconciles slots against the desired publications: unbinds what is no
        longer visible, re-points free slots at what now is. Returns the layout
        and ``overflow``: publication ids that found no free slot. On overflow the
        relay emits ``renegotiate`` for the subscriber; signaling then runs
        ``subscribe_offer``/``subscribe_answer`` again, which adds the missing slots.
        """
        p = self.peer(subscriber_id)
        p.visible = {pid for pid in publisher_ids if pid != subscriber_id}
        overflow = self._reconcile(p)
        message = p.layout_message(overflow)
        logger.info("visibility set: session=%s subscriber=%s visible=%s slots=%d bound=%d "
                    "overflow=%d seq=%d", self.id, p.id, ",".join(sorted(p.visible)),
                    len(p.subscriptions), len(message["layout"]), len(overflow), message["seq"])
        return message

    def _reconcile(self, p: Peer) -> list[str]:
        desired = [
            pub
            for pid in sorted(p.visible)
            if (publisher := self.peers.get(pid)) is not None
            for pub in publisher.publications.values()
            if not pub.closed
        ]
        want = {pub.id for pub in desired}
        for sub in p.subscriptions:
            if sub.publication is not None and sub.publication.id not in want:
                sub.unbind()
        bound = {sub.publication.id for sub in p.subscriptions if sub.publication is not None}
        overflow: list[str] = []
        for pub in desired:
            if pub.id in bound:
                continue
            free = next(
                (s for s in p.subscriptions if s.kind == pub.kind and s.publication is None),
                None,
            )
            if free is None:
                overflow.append(pub.id)
                continue
            free.bind(pub)
        if overflow and p.subscribe_pc is not None:
            need = {"audio": 0, "video": 0}
            for pid in overflow:
                need[self.publications[pid].kind] += 1
            if need != p.slots_needed or p.renegotiate_sent is None:
                p.slots_needed = need
                self.ask_renegotiate(p)
        return overflow

    def ask_renegotiate(self, p: Peer) -> None:
        """Tell the subscriber to run a subscribe round; re-sent until it is answered."""
        p.renegotiate_sent = time.monotonic()
        self.relay.emit(self.id, p.id, "renegotiate", {"leg": "subscribe", **p.slots_needed})

    def visible_counts(self, p: Peer) -> dict[str, int]:
        """Publications per kind that ``p`` may see now: the first offer's slot floor."""
        counts = {"audio": 0, "video": 0}
        for pid in p.visible:
            publisher = self.peers.get(pid)
            if publisher is not None:
                for pub in publisher.publications.values():
                    if not pub.closed:
                        counts[pub.kind] += 1
        return counts

    def resend_renegotiations(self, now: float) -> None:
        """A renegotiation nobody answered (a lost event, a client that failed midway)
        is sent again, so a needed slot is never forgotten."""
        interval = self.relay.config.renegotiate_interval
        for p in list(self.peers.values()):
            sent = p.renegotiate_sent
            if sent is not None and now - sent >= interval and not p.closed:
                self.ask_renegotiate(p)

    def reconcile_all(self) -> None:
        """Re-apply every subscriber's visibility after publications changed."""
        for p in list(self.peers.values()):
            overflow = self._reconcile(p)
            self.relay.emit(self.id, p.id, "layout", p.layout_message(overflow))

    def set_paused(self, publication_id: str, paused: bool) -> None:
        """Mute / camera off: a paused publication forwards no bytes at all."""
        pub = self.publications.get(publication_id)
        if pub is None:
            raise MediaError("no_such_publication", "unknown publication")
        if pub.paused == paused:
            return
        pub.paused = paused
        if not paused:
            for sink in pub.sinks:
                sink.waiting = True
            pub.request_keyframe(force=True)

    def note_level(self, pub: Publication, level: int) -> None:
        """Record an audio level; at most every interval, emit a changed active speaker."""
        now = time.monotonic()
        pub.level = level
        pub.level_at = now
        if now - self._last_speaker_check < self.relay.config.active_speaker_interval:
            return
        self._last_speaker_check = now
        candidates = [
            p for p in self.publications.values()
            if p.kind == "audio" and not p.paused and now - p.level_at < 1.0 and p.level < 70
        ]
        speaker = min(candidates, key=lambda p: p.level).peer.id if candidates else None
        if speaker is not None and speaker != self.active_speaker:
            self.active_speaker = speaker
            if self.on_active_speaker is not None:
                self.on_active_speaker(speaker)
            self.relay.emit(self.id, speaker, "active_speaker", {"participant_id": speaker})

    def metrics(self) -> dict[str, int]:
        """Counters as plain ints."""
        return {
            "ingress_packets": self.ingress_packets,
            "forwarded_packets": self.forwarded_packets,
            "forwarded_bytes": self.forwarded_bytes,
            "keyframe_requests": self.keyframe_requests,
            "nacks_sent": self.nacks_sent,
            "retransmissions": self.retransmissions,
            "rtx_received": self.rtx_received,
            "ingress_fallback_packets": self.ingress_fallback_packets,
        }

    async def close(self) -> None:
        """Close every peer and stop the keyframe loop."""
        self.closed = True
        self._keyframe_task.cancel()
        for pid in list(self.peers):
            await self.leave(pid)
        for task in list(self._tasks):
            task.cancel()


class Relay:
    """The process-wide relay: routers by session id, and the signaling-facing API.

    Every method takes and returns plain strings/dicts; errors are ``MediaError``
    with a stable ``code`` for an error ack.
    """

    def __init__(
        self, config: RelayConfig | None = None, on_event: EventCallback | None = None
    ) -> None:
        self.config = config or RelayConfig()
        self.routers: dict[str, Router] = {}
        #: (session_id, participant_id, event, payload); events: "layout",
        #: "active_speaker", "renegotiate" (run subscribe_offer/answer again),
        #: "peer_closed" (a PC failed or closed; the participant was removed)
        self.on_event = on_event
        # Layout numbers only grow, across peers and across processes (a node that
        # takes a session over starts later): microseconds at start, then +1 each.
        self._layout_seq = time.time_ns() // 1000

    def next_layout_seq(self) -> int:
        """The next layout sequence number (see ``Peer.layout_message``)."""
        self._layout_seq += 1
        return self._layout_seq

    def emit(self, session_id: str, participant_id: str, event: str,
             payload: dict[str, Any]) -> None:
        """Tell signaling something changed; a failing callback never harms media."""
        if self.on_event is None:
            return
        try:
            self.on_event(session_id, participant_id, event, payload)
        except Exception:
            logger.warning("event callback failed: session=%s event=%s", session_id, event,
                           exc_info=True)

    def validate_sdp(self, sdp: object) -> Any:
        """Size, m-line count and syntax checks before aiortc sees the SDP."""
        if not isinstance(sdp, str):
            raise MediaError("bad_sdp", "sdp must be a string")
        if len(sdp.encode("utf-8", errors="replace")) > self.config.max_sdp_bytes:
            raise MediaError("sdp_too_large", f"limit is {self.config.max_sdp_bytes} bytes")
        mlines = sum(1 for line in sdp.splitlines() if line.startswith("m="))
        if mlines == 0:
            raise MediaError("bad_sdp", "no m-lines")
        if mlines > self.config.max_mlines:
            raise MediaError("too_many_mlines", f"limit is {self.config.max_mlines}")
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

    def router(self, session_id: str, create: bool = False) -> Router:
        """The session's router, or MediaError('no_such_session')."""
        r = self.routers.get(session_id)
        if r is None:
            if not create:
                raise MediaError("no_such_session", "session has no media router")
            r = self.routers[session_id] = Router(self, session_id)
        return r

    async def join(self, session_id: str, participant_id: str,
                   slots: int | None = None) -> dict[str, Any]:
        """Add a participant; returns what signaling sends the client to configure itself.

        ``slots``: how many others this person may come to see (signaling sizes it from
        the session's people), so a normal family never needs a renegotiation."""
        peer = self.router(session_id, create=True).join(participant_id)
        if slots is not None and peer.subscribe_pc is None:
            peer.initial_slots = max(self.config.slots, min(slots, self.config.max_slots))
        return {
            "ice_servers": self.config.client_ice_servers(),
            "bitrate_caps": self.config.bitrate_caps(),
            "codecs": {"audio": "opus", "video": "VP8"},
            "slots": peer.initial_slots,
        }

    async def leave(self, session_id: str, participant_id: str) -> None:
        """Remove a participant and close its connections (idempotent)."""
        r = self.routers.get(session_id)
        if r is not None:
            await r.leave(participant_id)

    async def publish_offer(
        self, session_id: str, participant_id: str, sdp: str,
        sources: Mapping[str, str] | None = None,
    ) -> str:
        """Client's publish offer -> relay's answer. ``sources`` maps mid -> mic|camera|screen."""
        peer = self.router(session_id).peer(participant_id)
        return await peer.publish_offer(sdp, sources)

    async def subscribe_offer(self, session_id: str, participant_id: str) -> str:
        """The relay's offer for the participant's subscribe PC (K audio + K video slots)."""
        return await self.router(session_id).peer(participant_id).subscribe_offer()

    async def subscribe_answer(self, session_id: str, participant_id: str, sdp: str) -> None:
        """The client's answer to ``subscribe_offer``."""
        await self.router(session_id).peer(participant_id).subscribe_answer(sdp)

    async def add_ice_candidate(
        self, session_id: str, participant_id: str, leg: str,
        candidate: Mapping[str, Any] | None,
    ) -> None:
        """A trickled candidate (browser ``RTCIceCandidate`` JSON) for one leg."""
        peer = self.router(session_id).peer(participant_id)
        await peer.add_ice_candidate(leg, candidate)

    def publications(self, session_id: str) -> list[dict[str, Any]]:
        """Metadata of every publication in the session."""
        return [p.info() for p in self.router(session_id).publications.values()]

    def set_paused(self, session_id: str, publication_id: str, paused: bool) -> None:
        """Pause (mute, camera off) or resume a publication."""
        self.router(session_id).set_paused(publication_id, paused)

    def set_visible(
        self, session_id: str, subscriber_id: str, publisher_ids: Iterable[str]
    ) -> dict[str, Any]:
        """The one who-sees-what entry point; see ``Router.set_visible``."""
        return self.router(session_id).set_visible(subscriber_id, publisher_ids)

    def layout(self, session_id: str, subscriber_id: str) -> dict[str, dict[str, Any]]:
        """Slot mid -> publication metadata for one subscriber."""
        return self.router(session_id).peer(subscriber_id).layout()

    def layout_message(self, session_id: str, subscriber_id: str) -> dict[str, Any]:
        """``{"layout", "overflow", "seq"}``: the layout numbered for the subscriber."""
        return self.router(session_id).peer(subscriber_id).layout_message()

    def expected(self, session_id: str, viewer_id: str) -> set[tuple[str, str]]:
        """(publisher, kind) the viewer should be decoding now; see ``Router.expected``."""
        return self.router(session_id).expected(viewer_id)

    def repair(self, session_id: str, viewer_id: str, publisher_id: str, kind: str,
               attempt: int = 1, blind: bool = False) -> str:
        """Repair one gap between desired and actual; see ``Router.repair``."""
        return self.router(session_id).repair(viewer_id, publisher_id, kind, attempt, blind)

    def stalled(self, session_id: str) -> set[str]:
        """Publishers of the session whose media stopped arriving."""
        r = self.routers.get(session_id)
        return set(r.stalled) if r is not None else set()

    async def close_session(self, session_id: str) -> None:
        """Close a session's router and everything under it."""
        r = self.routers.pop(session_id, None)
        if r is not None:
            await r.close()

    async def close(self) -> None:
        """Close every router."""
        for sid in list(self.routers):
            await self.close_session(sid)

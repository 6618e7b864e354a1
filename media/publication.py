"""A publication: one incoming track of a publisher, made of one or more layers.

A camera published as simulcast arrives as several RTP streams (RIDs "q", "h", "f",
low to high), each a ``Layer`` with its own SSRC; anything else is one layer with
RID "". A sink forwards exactly one layer of its publication at a time.

``Layer.on_rtp`` is the per-packet ingress path: history (``nack.SendHistory``),
loss detection (``nack.GapDetector``, called only when a packet skips ahead),
receive statistics for aiortc's receiver reports, the audio level for active
speaker, the sinks waiting to switch onto this layer (only when there are any) and
the fan-out to every bound sink.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import aiortc_shim, keyframes, layers, sdp
from .estimate import WIRE_OVERHEAD, Meter, UpstreamLoss
from .nack import Gap, GapDetector, SendHistory
from .rtp import Header, decode_level, find_extension, vp8_is_keyframe

if TYPE_CHECKING:
    from .peer import Peer
    from .subscription import Subscription


def new_id() -> str:
    """An opaque id (publications; safe in logs and metrics)."""
    return secrets.token_hex(6)


class _SeqTs:
    """The two fields aiortc's StreamStatistics reads, without an RtpPacket."""

    __slots__ = ("sequence_number", "timestamp")

    def __init__(self) -> None:
        self.sequence_number = 0
        self.timestamp = 0


#: a layer's send rate is read over this many seconds: long enough that the keyframe
#: a resumed tile asks for does not make its layer look dearer and pause it again
SENT_RATE_WINDOW = 10.0
#: ...once it covers this many
SENT_RATE_MIN = 2.0
#: ...and not believed once nothing arrived for this long (the layer was turned off)
SENT_RATE_STALE = 3.0


class Layer(SendHistory, GapDetector):
    """One RTP stream of a publication (one simulcast layer, or the only one): its
    SSRCs, history, gap detection, receive statistics, PLI throttle, SR intake and
    the sinks forwarding it."""

    def __init__(self, pub: Publication, rid: str, index: int) -> None:
        config = pub.peer.router.relay.config
        SendHistory.__init__(self, config.nack_history)
        GapDetector.__init__(self)
        self.pub = pub
        self.rid = rid
        self.index = index
        self.kind = pub.kind
        self.router = pub.peer.router
        self.payload_type = pub.payload_type
        self.rtx_payload_type = pub.rtx_payload_type
        self.audio_level_id = pub.audio_level_id
        self.ssrc: int | None = None
        self.rtx_ssrc: int | None = None
        self.paused = False
        self.closed = False
        self.sinks: list[Subscription] = []
        #: sinks that switch to this layer on its next keyframe (forwarding another
        #: layer until then); ``on_rtp`` looks at them only when there are any
        self.pending: list[Subscription] = []
        #: packets handed to sinks (for the per-layer metric)
        self.fanout = 0
        #: when the router last saw this layer's sequence advance (0: never);
        #: sampled off the hot path, from ``_high_seq``
        self.progress_at = 0.0
        self._sampled_seq: int | None = None
        #: when the publisher was last asked to send this layer (at publish, and when
        #: dynacast turns it on again)
        self.asked_at = time.monotonic()
        self._pli = keyframes.PliThrottle(config.pli_interval)
        # Receiver reports: aiortc's receiver no longer sees packets, so we feed its
        # per-SSRC statistics ourselves and its own RTCP loop sends the RR.
        self._stats: Any = None
        self._stats_view = _SeqTs()
        #: what the publisher's uplink loses of this layer (viewers' reports count it)
        self.upstream = UpstreamLoss()
        self._sr: tuple[int, int] | None = None  # (ntp, rtp) of the publisher's last SR
        #: payload bytes of this layer that reached the relay (``send_rate``)
        self.octets = 0
        self.sent = Meter(SENT_RATE_WINDOW)
        aiortc_shim.on_sender_report(pub.receiver, lambda: self.ssrc, self._on_sender_report)

    def send_rate(self, now: float) -> float | None:
        """What this layer costs a viewer on the wire (bps): what reached the relay
        over the last ``SENT_RATE_WINDOW``; None before it covers ``SENT_RATE_MIN``
        seconds (a layer just started) or once nothing arrived for
        ``SENT_RATE_STALE`` (turned off). Counted at the relay's ingress, so a layer
        nobody forwards has a price too: a slow viewer's paused 180p tile costs what
        the camera sends, not the configured maxBitrate. (The publisher's own SR
        counts would include its RTX padding: several times the layer, at times.)"""
        if self.sent.span() < SENT_RATE_MIN or now - self.progress_at > SENT_RATE_STALE:
            return None
        return self.sent.rate()

    def attach_stats(self) -> None:
        """Register our receive statistics for this SSRC with aiortc's receiver, and
        route the publisher's SRs about it there (a learned SSRC is not in the SDP)."""
        if self.ssrc is None or self._stats is not None:
            return
        pub = self.pub
        clock = aiortc_shim.codecs(pub.transceiver)[0].clockRate
        self._stats = aiortc_shim.receive_statistics(pub.receiver, self.ssrc, clock)
        aiortc_shim.route_ssrc(pub.receiver, self.ssrc)

    def _on_sender_report(self, ntp: int, rtp_ts: int) -> None:
        """Translate the publisher's SR into each started sink's timeline."""
        self._sr = (ntp, rtp_ts)
        for sink in self.sinks:
            sink.sender_report(ntp, rtp_ts)

    def on_rtp(self, data: bytes, h: Header) -> None:
        """Ingress for one decrypted packet: history, loss detection, fan-out.

        A paused layer still keeps its statistics and history (so receiver reports
        stay truthful) but forwards nothing.
        """
        if self.closed:
            return
        router = self.router
        router.ingress_packets += 1
        high = self._high_seq
        if high is not None and h.seq == ((high + 1) & 0xFFFF):
            self._high_seq = h.seq  # in order: GapDetector.gap's common case, inlined
        else:
            if self.history(h.seq) is not None:
                # Already here and forwarded: a browser probes its uplink by resending
                # recent packets over RTX, several times the layer's own rate at
                # times. Forwarded, every viewer's link would carry that probe too.
                router.duplicates_dropped += 1
                return
            gap = self.gap(h.seq)
            if gap is not None and self.kind == "video":
                self._on_gap(*gap)
        self.octets += len(data)
        self._ring[h.seq % self._ring_size] = data  # SendHistory.store, inlined
        stats = self._stats
        if stats is not None:
            view = self._stats_view
            view.sequence_number = h.seq
            view.timestamp = h.timestamp
            stats.add(view)
        if self.paused:
            return
        # The audio-level element is read once per packet: for active speaker here,
        # and handed to every sink, which passes it on under its own extension id.
        level = find_extension(data, h, self.audio_level_id) if self.audio_level_id else None
        if level:
            router.note_level(self.pub, decode_level(level))
        if self.pending:
            self._take_pending(data, h)
        sinks = self.sinks
        self.fanout += len(sinks)
        for sink in sinks:
            sink.forward(data, h, level)

    def _take_pending(self, data: bytes, h: Header) -> None:
        """On this layer's keyframe, the sinks waiting for it leave their old layer."""
        if not vp8_is_keyframe(data, h.payload_offset):
            return
        for sink in list(self.pending):
            if sink.ready():
                self.pending.remove(sink)
                sink.move_to(self)

    def _on_gap(self, gap: Gap, lost: list[int]) -> None:
        """NACK a small gap once; after a big one every sink waits for a keyframe."""
        router = self.router
        if gap is Gap.NACK:
            if self.ssrc is not None:
                router.spawn(aiortc_shim.send_nack(self.pub.receiver, self.ssrc, lost))
                router.nacks_sent += 1
        else:
            keyframes.gate(self.sinks)
            self.request_keyframe(force=True)

    def request_keyframe(self, force: bool = False) -> None:
        """Send a PLI for this layer to the publisher, at most once per ``pli_interval``."""
        if self.kind != "video" or self.ssrc is None or self.closed or self.paused:
            return
        if not self._pli.due(time.monotonic(), force):
            return
        router = self.router
        router.keyframe_requests += 1
        router.spawn(aiortc_shim.send_pli(self.pub.receiver, self.ssrc))

    def sample_upstream(self, now: float) -> None:
        """Note what the uplink's gaps skipped (``UpstreamLoss``) and what arrived
        (``send_rate``)."""
        stats = self._stats
        if stats is not None and stats.base_seq is not None:
            self.upstream.sample(now, stats.packets_expected, self.skipped)
            self.sent.add(now, self.octets + stats.packets_received * WIRE_OVERHEAD)

    def available(self, now: float) -> bool:
        """Whether a viewer may be switched to this layer (``layers.available``)."""
        return layers.available(self.rid in self.pub.active_rids, self.progress_at,
                                self.asked_at, now)

    def arriving(self, now: float) -> bool:
        """Whether its packets arrived lately (``layers.LAYER_GRACE``)."""
        return bool(self.progress_at) and now - self.progress_at < layers.LAYER_GRACE

    def wants_keyframe(self) -> bool:
        """Whether a ready sink waits for a keyframe of this layer (gated on it, or
        switching onto it)."""
        return keyframes.waiting(self.sinks) or any(s.ready() for s in self.pending)

    def newest(self) -> bytes | None:
        """The newest packet of this layer still in the history."""
        return self.history(self._high_seq) if self._high_seq is not None else None

    def close(self) -> None:
        self.closed = True
        self.pending.clear()
        for sink in list(self.sinks):
            sink.unbind()


class Publication:
    """One incoming track of a publisher; its layers are the sinks' sources."""

    def __init__(
        self, peer: Peer, kind: str, source: str, mid: str, transceiver: Any,
        rids: Sequence[str] = ("",),
    ) -> None:
        self.id = new_id()
        self.peer = peer
        self.kind = kind
        self.source = source
        self.mid = mid
        self.transceiver = transceiver
        self.receiver = transceiver.receiver
        self.payload_type, self.rtx_payload_type = sdp.payload_types(
            aiortc_shim.codecs(transceiver))
        ext = aiortc_shim.header_extensions(transceiver)
        self.audio_level_id: int = ext.get(sdp.AUDIO_LEVEL_URI, 0) if kind == "audio" else 0
        self._paused = False
        self.closed = False
        self.level = 127
        self.level_at = 0.0
        #: low to high; one layer with RID "" unless published as simulcast
        self.layers = [Layer(self, rid, i) for i, rid in enumerate(rids)]
        #: RIDs the publisher was last told to send (``Router.emit_layers``)
        self.active_rids: tuple[str, ...] = tuple(rids)

    @property
    def simulcast(self) -> bool:
        """Published as several layers named by RID."""
        return bool(self.layers[0].rid)

    def layer(self, rid: str) -> Layer | None:
        """The layer with this RID."""
        return next((layer for layer in self.layers if layer.rid == rid), None)

    @property
    def ssrc(self) -> int | None:
        """The lowest layer's SSRC (the only one of a single-layer publication)."""
        return self.layers[0].ssrc

    @property
    def sinks(self) -> list[Subscription]:
        """Every sink forwarding one of this publication's layers now."""
        return [sink for layer in self.layers for sink in layer.sinks]

    @property
    def paused(self) -> bool:
        """Muted / camera off: no layer forwards anything."""
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        self._paused = value
        for layer in self.layers:
            layer.paused = value

    @property
    def progress_at(self) -> float:
        """When any of its layers last advanced (0: never)."""
        return max(layer.progress_at for layer in self.layers)

    def info(self) -> dict[str, Any]:
        """Metadata signaling sends to clients: who, which source, which kind."""
        return {
            "publication_id": self.id,
            "publisher_id": self.peer.id,
            "kind": self.kind,
            "source": self.source,
            "paused": self.paused,
        }

    def request_keyframe(self, force: bool = False) -> None:
        """A PLI for every layer somebody forwards or switches to."""
        for layer in self.layers:
            if layer.sinks or layer.pending:
                layer.request_keyframe(force)

    def waiting_sinks(self) -> bool:
        """Whether any ready sink is gated on a keyframe from this publication."""
        return any(layer.wants_keyframe() for layer in self.layers)

    def close(self) -> None:
        """Unbind every sink; the slots stay allocated for reuse."""
        self.closed = True
        for layer in self.layers:
            layer.close()

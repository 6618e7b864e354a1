"""A publication: one incoming track of a publisher, and the source of its sinks.

``on_rtp`` is the per-packet ingress path: history (``nack.SendHistory``), loss
detection (``nack.GapDetector``, called only when a packet skips ahead), receive
statistics for aiortc's receiver reports, the audio level for active speaker, and
the fan-out to every bound sink.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from . import aiortc_shim, keyframes, sdp
from .nack import Gap, GapDetector, SendHistory
from .rtp import Header, decode_level, find_extension

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


class Publication(SendHistory, GapDetector):
    """One incoming track of a publisher; a source of packets for its sinks."""

    def __init__(
        self, peer: Peer, kind: str, source: str, mid: str, transceiver: Any
    ) -> None:
        config = peer.router.relay.config
        SendHistory.__init__(self, config.nack_history)
        GapDetector.__init__(self)
        self.id = new_id()
        self.peer = peer
        self.kind = kind
        self.source = source
        self.mid = mid
        self.transceiver = transceiver
        self.receiver = transceiver.receiver
        self.ssrc: int | None = None
        self.rtx_ssrc: int | None = None
        self.payload_type, self.rtx_payload_type = sdp.payload_types(
            aiortc_shim.codecs(transceiver))
        ext = aiortc_shim.header_extensions(transceiver)
        self.audio_level_id: int = ext.get(sdp.AUDIO_LEVEL_URI, 0) if kind == "audio" else 0
        self.paused = False
        self.closed = False
        self.sinks: list[Subscription] = []
        #: when the router last saw this publication's sequence advance (0: never);
        #: sampled off the hot path, from ``_high_seq``
        self.progress_at = 0.0
        self._sampled_seq: int | None = None
        self._pli = keyframes.PliThrottle(config.pli_interval)
        self.level = 127
        self.level_at = 0.0
        # Receiver reports: aiortc's receiver no longer sees packets, so we feed its
        # per-SSRC statistics ourselves and its own RTCP loop sends the RR.
        self._stats: Any = None
        self._stats_view = _SeqTs()
        self._sr: tuple[int, int] | None = None  # (ntp, rtp) of the publisher's last SR
        aiortc_shim.on_sender_report(self.receiver, lambda: self.ssrc, self._on_sender_report)

    def attach_stats(self) -> None:
        """Register our receive statistics for this SSRC with aiortc's receiver."""
        if self.ssrc is None or self._stats is not None:
            return
        clock = aiortc_shim.codecs(self.transceiver)[0].clockRate
        self._stats = aiortc_shim.receive_statistics(self.receiver, self.ssrc, clock)

    def _on_sender_report(self, ntp: int, rtp_ts: int) -> None:
        """Translate the publisher's SR into each started sink's timeline."""
        self._sr = (ntp, rtp_ts)
        for sink in self.sinks:
            sink.sender_report(ntp, rtp_ts)

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
        self._ring[h.seq % self._ring_size] = data  # SendHistory.store, inlined
        stats = self._stats
        if stats is not None:
            view = self._stats_view
            view.sequence_number = h.seq
            view.timestamp = h.timestamp
            stats.add(view)
        high = self._high_seq
        if high is not None and h.seq == ((high + 1) & 0xFFFF):
            self._high_seq = h.seq  # in order: GapDetector.gap's common case, inlined
        else:
            gap = self.gap(h.seq)
            if gap is not None and self.kind == "video":
                self._on_gap(*gap)
        if self.paused:
            return
        # The audio-level element is read once per packet: for active speaker here,
        # and handed to every sink, which passes it on under its own extension id.
        level = find_extension(data, h, self.audio_level_id) if self.audio_level_id else None
        if level:
            router.note_level(self, decode_level(level))
        for sink in self.sinks:
            sink.forward(data, h, level)

    def _on_gap(self, gap: Gap, lost: list[int]) -> None:
        """NACK a small gap once; after a big one every sink waits for a keyframe."""
        router = self.peer.router
        if gap is Gap.NACK:
            if self.ssrc is not None:
                router.spawn(aiortc_shim.send_nack(self.receiver, self.ssrc, lost))
                router.nacks_sent += 1
        else:
            keyframes.gate(self.sinks)
            self.request_keyframe(force=True)

    def request_keyframe(self, force: bool = False) -> None:
        """Send a PLI to the publisher, at most once per ``pli_interval``."""
        if self.kind != "video" or self.ssrc is None or self.closed or self.paused:
            return
        if not self._pli.due(time.monotonic(), force):
            return
        router = self.peer.router
        router.keyframe_requests += 1
        router.spawn(aiortc_shim.send_pli(self.receiver, self.ssrc))

    def waiting_sinks(self) -> bool:
        """Whether any ready sink is gated on a keyframe from this publication."""
        return keyframes.waiting(self.sinks)

    def close(self) -> None:
        """Unbind every sink; the slots stay allocated for reuse."""
        self.closed = True
        for sink in list(self.sinks):
            sink.unbind()

"""A subscription: one send slot on a subscriber's connection (a sink).

Bound to at most one Publication at a time and re-pointable without renegotiating:
the slot keeps its SSRC, continues its sequence numbers and re-bases its timestamp
(``munger.SeqMunger``), and waits for a keyframe (``keyframes``). ``forward`` runs
once per packet per sink and keeps that work inline.

Of a simulcast publication the slot forwards one layer (``layer``). ``set_target``
moves it: the target layer holds the slot in its ``pending`` list and, on its next
keyframe, takes it over (``move_to``); until then the slot keeps forwarding the old
layer. The VP8 PictureID and TL0PICIDX continue across the switch (``vp8``).
``set_target(None)`` pauses video to this viewer (its connection cannot carry it)
while the slot stays bound.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from aiortc.mediastreams import MediaStreamTrack

from . import aiortc_shim, rtcp, sdp
from .egress import Egress, egress_for
from .estimate import BELOW_RTP, LossEstimate, RoundTrip, downstream_loss
from .munger import WINDOW_KEEP, WINDOW_SLIDE_AFTER, SeqMunger
from .rtp import HEADER, Header, build_extensions, parse_header, rewrite, rtx_wrap, vp8_is_keyframe
from .vp8 import Vp8Munger

if TYPE_CHECKING:
    from .peer import Peer
    from .publication import Layer, Publication

logger = logging.getLogger(__name__)

#: timestamp step inserted when a slot switches source (one frame / one 20 ms packet)
TS_STEP = {"video": 3000, "audio": 960}
#: consecutive send failures after which a sink is unbound
MAX_FAILURES = 50
#: padding (``pad``) resends at most this many of a slot's latest packets per call
PAD_DEPTH = 16
#: CPython keeps an instance's attributes in a shared-key dict, and specialises reads
#: of them, only up to about 30 attributes; with 30 the per-sink forwarding cost rose
#: by 5-15 % (bench/forward.py). Sinks stay under it (tests/media/test_munger_inline.py).
MAX_INSTANCE_ATTRIBUTES = 29

# forward() inlines SeqMunger.accept with these literal values
assert (WINDOW_SLIDE_AFTER, WINDOW_KEEP) == (4096, 2048)

#: the capture height the camera layers' ``scaleResolutionDownBy`` divides (720p)
FULL_HEIGHT = 720


def initial_layer(size: tuple[int, int], scales: list[float], cap: int) -> int:
    """The layer a slot starts on: the lowest whose nominal height covers the tile's
    rendered height (``scales``: each layer's scale-down, low to high), at most
    ``cap``; the lowest while the size is unknown or (0, 0)."""
    top = min(cap, len(scales) - 1)
    height = size[1]
    if height <= 0:
        return 0
    for i, scale in enumerate(scales[:top + 1]):
        if FULL_HEIGHT / scale >= height:
            return i
    return max(top, 0)


class SlotView:
    """A slot's state off the per-packet path: which layer it forwards, which it
    switches to, the tile size, VP8 numbering, send failures, the RTX sequence and
    the viewer's estimate. One object, so ``Subscription`` stays within
    ``MAX_INSTANCE_ATTRIBUTES``."""

    __slots__ = ("estimate", "failures", "layer", "paused", "round_trip", "rtx_seq", "size",
                 "target", "vp8")

    def __init__(self, estimate: LossEstimate) -> None:
        self.layer: Layer | None = None
        #: the layer this slot switches to on its next keyframe (in its ``pending``)
        self.target: Layer | None = None
        #: video paused to this viewer for bandwidth (``set_target(None)``)
        self.paused = False
        #: the tile's rendered size in device pixels ((0, 0): not rendered or unknown)
        self.size = (0, 0)
        self.vp8 = Vp8Munger()
        self.failures = 0
        self.rtx_seq = secrets.randbits(16)
        self.estimate = estimate
        #: the viewer's round trips on this slot, from its receiver reports
        self.round_trip = RoundTrip()


class ParkedTrack(MediaStreamTrack):
    """A track whose ``recv()`` never returns: the sender keeps its m-line and RTCP
    loop but never reaches ``get_encoder``."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Any:
        return await self._never


class Subscription(SeqMunger):
    """A sink: one send slot on a subscriber's PC, bound to at most one Publication.

    Re-pointing the slot keeps its SSRC, continues its sequence numbers, re-bases
    its timestamp and gates it on a keyframe, so switching needs no renegotiation.
    """

    def __init__(self, peer: Peer, kind: str, transceiver: Any) -> None:
        SeqMunger.__init__(self)
        self.peer = peer
        self.kind = kind
        self.transceiver = transceiver
        self.sender = transceiver.sender
        self.ssrc, self.rtx_ssrc = aiortc_shim.sender_ssrcs(self.sender)
        self.mid: str | None = None
        self.payload_type = 0
        self.rtx_payload_type: int | None = None
        self.extensions = b""
        self._mid_element: list[tuple[int, bytes]] = []
        self.audio_level_id = 0
        self.publication: Publication | None = None
        #: gated: nothing is forwarded until the next keyframe (see ``keyframes``)
        self.waiting = True
        self.forwarded = 0
        self.octets = 0
        self._router = peer.router
        #: first header byte (version 2, X bit if we send an extension block)
        self._b0 = 0x80
        #: this sink's extension block with a given audio-level element, by level bytes
        self._level_ext: dict[bytes, bytes] = {}
        self._egress: Egress | None = None
        # Subscriber PLI/FIR and NACK must reach the publisher / our history, not the
        # encoder this sender never has. The peer's _rtcp_loop sends this slot's
        # SR + SDES, compounded with its other slots', instead of one datagram per
        # slot and interval.
        aiortc_shim.hook_sender(self.sender, keyframe=self._on_keyframe_request,
                                retransmit=self._on_nack, run_rtcp=self._rtcp_parked)
        # the viewer's loss-based estimate for this slot (``estimate``), from its RRs
        bitrates = peer.router.relay.config.bitrate_caps().values()
        self.view = SlotView(LossEstimate(max(bitrates)))
        #: the VP8 numbering to apply in ``forward``, only while an offset is active
        self._vp8: Vp8Munger | None = None
        aiortc_shim.on_receiver_report(self.sender, self._on_report)

    def _on_report(self, fraction: float, highest: int, lsr: int = 0, dlsr: int = 0) -> None:
        """The viewer's receiver report: only the loss on the relay's leg counts
        against its estimate (``downstream_loss``); its LSR and DLSR give a round
        trip (``RoundTrip``)."""
        view = self.view
        layer = view.layer
        upstream = layer.upstream.fraction if layer is not None else 0.0
        view.estimate.on_loss(downstream_loss(fraction, upstream), highest=highest)
        view.round_trip.on_report(lsr, dlsr, time.time())

    @property
    def estimate(self) -> LossEstimate:
        """The viewer's loss-based estimate for this slot, from its receiver reports."""
        return self.view.estimate

    @property
    def round_trip(self) -> RoundTrip:
        """The viewer's round trips on this slot, from its receiver reports."""
        return self.view.round_trip

    @property
    def failures(self) -> int:
        """Consecutive send failures."""
        return self.view.failures

    @property
    def layer(self) -> Layer | None:
        """The layer this slot forwards now (None: unbound or paused for bandwidth)."""
        return self.view.layer

    @property
    def size(self) -> tuple[int, int]:
        """The tile's rendered size in device pixels, as the viewer's browser reported."""
        return self.view.size

    @size.setter
    def size(self, value: tuple[int, int]) -> None:
        self.view.size = value

    def configure(self) -> None:
        """Read what the subscribe leg negotiated: mid, payload types, mid extension."""
        t = self.transceiver
        self.mid = t.mid
        codecs = aiortc_shim.codecs(t)
        if not codecs:
            return
        self.payload_type, self.rtx_payload_type = sdp.payload_types(codecs)
        ext = aiortc_shim.header_extensions(t)
        self._mid_element = []
        if sdp.MID_URI in ext and self.mid is not None:
            self._mid_element.append((ext[sdp.MID_URI], self.mid.encode()))
        self.extensions = build_extensions(self._mid_element)
        self._b0 = 0x90 if self.extensions else 0x80
        self.audio_level_id = ext.get(sdp.AUDIO_LEVEL_URI, 0) if self.kind == "audio" else 0
        self._level_ext = {}
        # the subscribe leg's transports are final once its answer is applied
        self._egress = egress_for(
            self.sender.transport, self._router.relay.config.connect_egress_sockets)

    @property
    def negotiated(self) -> bool:
        """Whether the subscribe leg's answer configured this slot (its egress is bound
        then). A property, not an attribute: see ``MAX_INSTANCE_ATTRIBUTES``."""
        return self._egress is not None

    def ready(self) -> bool:
        """Negotiated and connected: a keyframe that arrives now can be delivered."""
        return self._egress is not None and self._egress.ready()

    def bind(self, publication: Publication) -> None:
        """Point this slot at ``publication`` (its layer by the tile's size, else the
        lowest); gated until its next keyframe."""
        if self.publication is publication:
            return
        self.unbind()
        self.publication = publication
        self.view.vp8.reset()  # a new publication's numbering starts afresh
        self._vp8 = None
        self.sender_report(0, 0)  # no timing mapping until the new source's SR
        layer = publication.layers[self._initial_index(publication)]
        self._attach(layer)
        layer.request_keyframe(force=True)

    def _initial_index(self, pub: Publication) -> int:
        if not pub.simulcast:
            return 0
        config = self._router.relay.config
        scales = {rid: scale for rid, scale, _ in config.layers}
        rids = [layer.rid for layer in pub.layers]
        cap = max((i for i, rid in enumerate(rids)
                   if config.rid_index(rid) <= config.rid_index(config.max_layer)), default=0)
        # Only a layer whose packets arrive: one the camera does not send (too small a
        # capture for three layers) would leave the new tile black.
        now = time.monotonic()
        cap = min(cap, max((i for i, layer in enumerate(pub.layers) if layer.arriving(now)),
                           default=0))
        return initial_layer(self.view.size, [scales.get(r, 1.0) for r in rids], cap)

    def unbind(self) -> None:
        """Stop forwarding; the slot stays, parked, for a later bind."""
        self._leave_layer(keep_numbering=False)
        self.publication = None
        self.view.paused = False
        self.waiting = True

    def _attach(self, layer: Layer) -> None:
        """Forward ``layer`` from its next keyframe on."""
        self.view.layer = layer
        self.waiting = True
        layer.sinks.append(self)

    def _leave_layer(self, keep_numbering: bool = True) -> None:
        """Stop forwarding the current layer (and switching to another); with
        ``keep_numbering``, remember the VP8 numbers last sent so the next layer of
        the same publication continues them."""
        view = self.view
        layer = view.layer
        if layer is not None:
            if keep_numbering and self.kind == "video":
                # the numbers of the newest packet as this slot sent it (none sent
                # from this layer yet while gated: keep the last ones known)
                data = layer.newest() if not self.waiting else None
                h = parse_header(data) if data is not None else None
                view.vp8.leave(data if h is not None else None,
                               h.payload_offset if h is not None else 0)
            if self in layer.sinks:
                layer.sinks.remove(self)
        view.layer = None
        self._cancel_pending()

    def _cancel_pending(self) -> None:
        target = self.view.target
        if target is not None and self in target.pending:
            target.pending.remove(self)
        self.view.target = None

    def set_target(self, index: int | None) -> None:
        """Forward layer ``index`` of the bound publication (clamped to what it has),
        switching on that layer's next keyframe and forwarding the current layer until
        then; None pauses video to this viewer (the slot stays bound, the layout says
        ``video_paused: "bandwidth"``). Audio slots and unbound slots ignore it."""
        pub = self.publication
        if pub is None or self.kind != "video":
            return
        view = self.view
        router = self._router
        if index is None:
            if view.paused:
                return
            self._leave_layer()
            view.paused = True
            self.waiting = True
            router.layout_changed(self.peer)
            return
        target = pub.layers[max(0, min(index, len(pub.layers) - 1))]
        resumed = view.paused
        view.paused = False
        current = view.layer
        if target is current:
            self._cancel_pending()
        elif current is None or self.waiting:
            # nothing flows from the current layer yet: take the target at once
            self._leave_layer()
            self._attach(target)
            target.request_keyframe(force=True)
            if current is not None:
                router.count_switch(current, target)
        elif view.target is not target:
            self._cancel_pending()
            view.target = target
            target.pending.append(self)
            target.request_keyframe(force=True)
        if resumed:
            router.layout_changed(self.peer)

    def move_to(self, layer: Layer) -> None:
        """``layer``'s keyframe has come: leave the old layer, forward this one (the
        keyframe in hand opens the gate)."""
        old = self.view.layer
        self._leave_layer()
        self._attach(layer)
        if old is not None:
            self._router.count_switch(old, layer)

    def request_keyframe(self, force: bool = False) -> None:
        """A PLI for the layer this slot forwards or switches to."""
        layer = self.view.target or self.view.layer
        if layer is not None:
            layer.request_keyframe(force)

    def forward(self, data: bytes, h: Header, level: bytes | None = None) -> None:
        """Rewrite one packet for this sink and send it; never raises.

        ``level`` is the publisher's audio-level element, already read once per packet.
        This runs once per packet per sink, so the keyframe gate, ``SeqMunger.accept``
        and ``SeqMunger.map`` are inlined (tests/media/test_munger_inline.py checks
        they agree) and the header is packed in one call (``rtp.rewrite``'s layout).
        """
        try:
            if self.waiting:
                if not self.ready():
                    return
                if self.kind == "video" and not vp8_is_keyframe(data, h.payload_offset):
                    return
                self._start(data, h)
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
            vp8 = self._vp8  # None unless a layer switch moved the VP8 numbering
            packet = HEADER.pack(
                b0 | h.padding, h.marker | self.payload_type, seq, ts, self.ssrc
            ) + extensions + (data[off:] if vp8 is None else vp8.payload(data, off))
            egress = self._egress  # bound when negotiated, which ``_start`` required
            if egress is not None and egress.send(packet):
                self.forwarded += 1
                self.octets += len(data) - off
                router = self._router
                router.forwarded_packets += 1
                router.forwarded_bytes += len(packet)
        except Exception:
            self._failed()

    def _start(self, data: bytes, h: Header) -> None:
        """The gate opens on a keyframe: re-base onto this source (sequence numbers,
        timestamps, VP8 numbering), resume SRs from its layer."""
        self.switch(h.seq, h.timestamp, TS_STEP[self.kind])
        self.waiting = False
        view = self.view
        if self.kind == "video" and view.vp8.resume:
            self._vp8 = view.vp8 if view.vp8.start(data, h.payload_offset) else None
        layer = view.layer
        if layer is not None and layer._sr is not None:
            self.sender_report(*layer._sr)

    def sender_report(self, ntp: int, rtp_ts: int) -> None:
        """Set what this slot's next SR carries: the publisher's NTP/RTP pair shifted by
        this sink's timestamp offset, and our counts (ntp 0: no mapping yet)."""
        if ntp and (not self.started or self.waiting):
            return
        aiortc_shim.set_sender_report(
            self.sender, ntp, rtcp.translate_rtp_time(rtp_ts, self._ts_offset) if ntp else 0,
            self.forwarded, self.octets)

    async def _rtcp_parked(self) -> None:
        """Stands in for the sender's ``_run_rtcp`` (see ``aiortc_shim.parked_rtcp``);
        ``Peer._rtcp_loop`` sends this slot's reports."""
        await aiortc_shim.parked_rtcp(self.sender, self.ssrc)

    def rtcp_report(self, now: float) -> tuple[int, int, int, int, int, bytes | None]:
        """This slot's SR fields and CNAME for ``rtcp.compound``; keeps the LSR for
        the RTT estimate as aiortc's sender loop does."""
        ntp, rtp_ts, packets, octets, cname = aiortc_shim.sender_report(self.sender)
        aiortc_shim.note_lsr(self.sender, rtcp.middle_ntp(ntp), now)
        self.view.round_trip.on_sr(rtcp.middle_ntp(ntp), now)
        return self.ssrc, ntp, rtp_ts, packets, octets, cname

    def _failed(self) -> None:
        self.view.failures += 1
        if self.view.failures == 1:
            logger.warning(
                "sink send failed: session=%s subscriber=%s mid=%s",
                self.peer.router.id, self.peer.id, self.mid, exc_info=True,
            )
        if self.view.failures >= MAX_FAILURES:
            self.unbind()

    def _on_keyframe_request(self) -> None:
        self.request_keyframe()

    async def _on_nack(self, sequence_number: int) -> None:
        """A subscriber's NACK: re-rewrite the original for this slot (as RTX if
        negotiated)."""
        if self._resend(sequence_number, self.peer.router.relay.config.subscriber_rtx):
            self.peer.router.retransmissions += 1

    def pad(self, octets: int) -> int:
        """Resend this slot's latest packets over RTX, about ``octets`` bytes of them:
        padding that tests the viewer's link before an upgrade (``layers``, TESTING).
        The viewer's jitter buffer drops the copies, as the relay drops a
        publisher's own (``Layer.on_rtp``). Only over RTX: a copy on the media SSRC
        would count as received twice in the viewer's receiver reports. Returns the
        wire bytes sent."""
        if self.kind != "video" or self.rtx_payload_type is None or self.waiting \
                or not self.started or not self.peer.router.relay.config.subscriber_rtx:
            return 0
        sent = 0
        for back in range(PAD_DEPTH):
            if sent >= octets:
                break
            sent += self._resend((self._last_out_seq - back) & 0xFFFF, True)
        self.peer.router.probe_bytes += sent
        return sent

    def _resend(self, sequence_number: int, rtx: bool) -> int:
        """Send output packet ``sequence_number`` again from its layer's history (as
        RTX when ``rtx`` and negotiated); the wire bytes sent, 0 if it is gone."""
        layer = self.view.layer
        if layer is None or self.waiting:
            return 0
        in_seq = self.source_seq(sequence_number)
        if in_seq is None:
            return 0
        data = layer.history(in_seq)
        if data is None:
            return 0
        h = parse_header(data)
        if h is None:
            return 0
        if self._vp8 is not None:
            data = data[:h.payload_offset] + self._vp8.payload(data, h.payload_offset)
        ts = self.out_ts(h.timestamp)
        if self.rtx_payload_type is not None and rtx:
            view = self.view
            view.rtx_seq = (view.rtx_seq + 1) & 0xFFFF
            packet = rtx_wrap(
                data, h, self.rtx_payload_type, view.rtx_seq, ts, self.rtx_ssrc,
                self.extensions, sequence_number,
            )
        else:
            packet = rewrite(
                data, h, self.payload_type, sequence_number, ts, self.ssrc, self.extensions
            )
        try:
            if self._egress is not None and self._egress.send(packet):
                return len(packet) + BELOW_RTP
        except Exception:
            self._failed()
        return 0

    def info(self) -> dict[str, Any]:
        """What this slot carries, for the subscriber's layout."""
        pub = self.publication
        out: dict[str, Any] = {"kind": self.kind, "mid": self.mid}
        if pub is not None:
            out.update(pub.info())
            if self.kind == "video":
                layer = self.view.layer
                out["layer"] = layer.rid if layer is not None else None
                out["layers"] = len(pub.layers)
                out["video_paused"] = "bandwidth" if self.view.paused else None
        return out

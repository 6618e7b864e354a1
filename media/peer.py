"""A peer: one participant's publish connection (client offers) and subscribe
connection (relay offers, K audio + K video send-only slots), so offers never cross.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidStateError
from aiortc.rtcconfiguration import RTCBundlePolicy

from . import aiortc_shim, estimate, gathering, rtcp
from . import sdp as sdp_facts
from .errors import MediaError
from .ingress import install_ingress
from .publication import Layer, Publication
from .rtp import Header, find_extension, parse_header, rtx_unwrap
from .subscription import ParkedTrack, Subscription

if TYPE_CHECKING:
    from .router import Router

logger = logging.getLogger(__name__)

#: seconds ``Peer.close`` waits for each peer connection to close
PC_CLOSE_TIMEOUT = 5.0
#: peer connection closes still running (``Peer._close_pc``)
_CLOSING: set[asyncio.Future[None]] = set()


def _closed(task: asyncio.Future[None]) -> None:
    """A background close ended: forget it, and log how if it failed."""
    _CLOSING.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("pc close failed in the background", exc_info=task.exception())


def closed_meanwhile() -> MediaError:
    """The peer was closed (its person left, or started media over) mid-negotiation."""
    return MediaError("bad_state", "the media connection was closed meanwhile; "
                      "start media again")


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
        #: publication ids the last reconciliation found no free slot for
        self.overflow: list[str] = []
        #: extra slots per kind the next subscribe offer must add (more than K visible)
        self.slots_needed: dict[str, int] = {"audio": 0, "video": 0}
        self._by_ssrc: dict[int, Layer] = {}
        self._by_rtx_ssrc: dict[int, Layer] = {}
        self._mid_ext_id = 0
        #: the publish offer's rtp-stream-id and repaired-rtp-stream-id extension ids
        self._rid_ext_id = 0
        self._repaired_rid_ext_id = 0
        #: simulcast m-sections of the publish leg, by mid (kept for later offers)
        self._simulcast: dict[str, sdp_facts.Simulcast] = {}
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
        #: sender SSRC of the REMB messages to this publisher
        self._remb_ssrc = secrets.randbits(32)
        #: the last REMB sent constrained the publisher (a release at the caps is owed)
        self._remb_limited = False

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
        """Dispatch one decrypted packet from this publisher to its layer."""
        h = parse_header(data)
        if h is None:
            return
        layer = self._by_ssrc.get(h.ssrc)
        if layer is not None:
            if h.payload_type == layer.payload_type:
                layer.on_rtp(data, h)
            return
        layer = self._by_rtx_ssrc.get(h.ssrc)
        if layer is not None and layer.ssrc is not None:
            if h.payload_type != layer.rtx_payload_type:
                return
            original = rtx_unwrap(data, h, layer.payload_type, layer.ssrc)
            oh = parse_header(original) if original is not None else None
            if original is not None and oh is not None:
                self.router.rtx_received += 1
                layer.on_rtp(original, oh)
            return
        self._learn_ssrc(data, h)

    def _learn_ssrc(self, data: bytes, h: Header) -> None:
        """SSRCs not in the SDP: map them to a publication by their sdes:mid extension,
        and to its layer by rtp-stream-id (media) or repaired-rtp-stream-id (RTX)."""
        mid = find_extension(data, h, self._mid_ext_id)
        if mid is None:
            return
        pub = self.publications.get(mid.decode(errors="replace"))
        if pub is None:
            return
        rtx = h.payload_type == pub.rtx_payload_type
        if not rtx and h.payload_type != pub.payload_type:
            return
        layer: Layer | None = pub.layers[0]
        if pub.simulcast:
            rid = find_extension(data, h, self._repaired_rid_ext_id if rtx
                                 else self._rid_ext_id)
            layer = pub.layer(rid.decode(errors="replace")) if rid else None
        if layer is None:
            return
        if not rtx and layer.ssrc is None:
            layer.ssrc = h.ssrc
            self._by_ssrc[h.ssrc] = layer
            layer.attach_stats()
            layer.on_rtp(data, h)
        elif rtx and layer.rtx_ssrc is None:
            layer.rtx_ssrc = h.ssrc
            self._by_rtx_ssrc[h.ssrc] = layer

    # -- publish leg -------------------------------------------------------------

    async def publish_offer(self, sdp: str, sources: Mapping[str, str] | None) -> str:
        """Answer the client's publish offer; each sending m-line becomes a Publication."""
        description = self.router.relay.validate_sdp(sdp)
        media = description.media
        sources = dict(sources or {})
        sdp_facts.check_publish(media, sources)
        simulcast = sdp_facts.simulcast_offer(sdp, self.router.relay.config.simulcast_rids())
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
                    t.setCodecPreferences(sdp_facts.pinned_codecs(m.kind))
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except MediaError:
                raise
            except Exception as exc:
                raise MediaError("bad_sdp", type(exc).__name__) from exc
            self._restrict(pc)
            await self._describe(pc, pc.createAnswer)
            for dtls in gathering.dtls_transports(pc):
                self._watch_ingress(dtls)
            for sim in simulcast.values():
                self._rid_ext_id = sim.rid_ext
                self._repaired_rid_ext_id = sim.repaired_rid_ext
            self._simulcast = simulcast
            self._sync_publications(description, sources)
            local = pc.localDescription
            assert local is not None
            # aiortc answers without RIDs and without Opus parameters: add the receive
            # side of the simulcast, and ask for Opus in-band FEC
            return sdp_facts.opus_fec(sdp_facts.simulcast_answer(str(local.sdp), simulcast))

    def _restrict(self, pc: RTCPeerConnection) -> None:
        """Gather only the configured addresses and ports, announcing as configured."""
        config = self.router.relay.config
        gathering.restrict_gathering(pc, config.host_addresses, config.port_range,
                                     dict(config.announce))

    async def _describe(self, pc: RTCPeerConnection,
                        create: Callable[[], Awaitable[RTCSessionDescription]]) -> None:
        """Create (offer or answer) and set the local description; a connection closed
        meanwhile is a coded error, and a description without candidates is refused."""
        try:
            await pc.setLocalDescription(await create())
        except InvalidStateError as exc:
            raise closed_meanwhile() from exc
        self._require_candidates(pc)

    def _require_candidates(self, pc: RTCPeerConnection) -> None:
        """No local candidate (e.g. the media port range is exhausted): refuse this join
        with a clear code instead of handing out an offer that can never connect."""
        local = pc.localDescription
        if local is None or not sdp_facts.has_candidates(local.sdp):
            self.router.spawn(self.router.leave(self.id))
            raise MediaError("no_media_ports", "no free media port on the server; try again")

    def _watch_ingress(self, dtls: Any) -> None:
        """Install the ingress tap now: gathering has bound the sockets, SRTP keys do
        not exist yet, so no RTP packet can have reached aiortc."""
        install_ingress(dtls, self.on_rtp, self.router.count_fallback)

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
            codecs = aiortc_shim.codecs(t) if t is not None else []
            if existing is not None or not sending or t is None or not codecs:
                if m.kind == "video":
                    video_seen += 1
                continue
            pin = sdp_facts.PIN[m.kind]
            if codecs[0].mimeType.lower() != pin:
                raise MediaError("codec_mismatch", f"{m.kind} must be {pin}")
            source = sources.get(mid)
            if source is None:
                source = sdp_facts.default_source(m.kind, video_seen)
            if m.kind == "video":
                video_seen += 1
            sim = self._simulcast.get(mid)
            pub = Publication(self, m.kind, source, mid, t,
                              sim.rids if sim is not None else ("",))
            mid_id = aiortc_shim.header_extensions(t).get(sdp_facts.MID_URI)
            if mid_id is not None:
                self._mid_ext_id = mid_id
            if sim is None:  # a simulcast offer's layers announce no SSRCs: learned
                layer = pub.layers[0]
                layer.ssrc, layer.rtx_ssrc = sdp_facts.announced_ssrcs(m)
                if layer.ssrc is not None:
                    self._by_ssrc[layer.ssrc] = layer
                    layer.attach_stats()
                if layer.rtx_ssrc is not None:
                    self._by_rtx_ssrc[layer.rtx_ssrc] = layer
            self.publications[mid] = pub
            self.router.publications[pub.id] = pub
            logger.info("publication added: session=%s publisher=%s publication=%s source=%s "
                        "layers=%s", self.router.id, self.id, pub.id, source,
                        ",".join(layer.rid for layer in pub.layers) or "-")
            changed = True
        if changed:
            self.router.reconcile_all()

    def _drop_publication(self, pub: Publication) -> None:
        pub.close()
        self.router.forget_publication(pub)
        self.publications.pop(pub.mid, None)
        self.router.publications.pop(pub.id, None)
        for table in (self._by_ssrc, self._by_rtx_ssrc):
            for k in [k for k, v in table.items() if v.pub is pub]:
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
            self._restrict(pc)
            gathering.nominate_once(pc)  # the relay is the controlling agent on this leg
            await self._describe(pc, pc.createOffer)
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
                if aiortc_shim.sender_started(sender):
                    dtls = sender.transport
                    groups.setdefault(id(dtls), (dtls, []))[1].append(sub)
            now = time.time()
            for dtls, subs in groups.values():
                for batch in rtcp.batches(subs):
                    try:
                        payload = rtcp.compound([sub.rtcp_report(now) for sub in batch])
                        await aiortc_shim.send_rtcp(dtls, payload)
                    except ConnectionError:
                        pass  # not connected (yet, or any more)
                    except Exception:
                        logger.debug("RTCP send failed: session=%s participant=%s",
                                     self.router.id, self.id, exc_info=True)

    def send_remb(self) -> bool:
        """Tell this publisher's connection its ceiling when its viewers constrain it:
        the slowest watching viewer's estimate (``estimate``) over its video
        publications, as one RTCP REMB, while that is under the publisher's own caps,
        and once more at the caps when it no longer is (REMB values persist in the
        browser). True when one was sent. A publisher nobody constrains gets none, so
        it keeps its own estimate under the caps it was given at join."""
        pubs = [p for p in self.publications.values()
                if p.kind == "video" and not p.closed
                and any(layer.ssrc is not None for layer in p.layers)]
        if not pubs:
            return False
        config = self.router.relay.config
        cap = sum(config.screen_max_bitrate if p.source == "screen"
                  else config.camera_max_bitrate for p in pubs)
        value = estimate.publisher_ceiling(pubs)
        limited = value is not None and value < cap
        if not limited and not self._remb_limited:
            return False
        self._remb_limited = limited
        bitrate = value if value is not None and limited else cap
        data = rtcp.remb(self._remb_ssrc, bitrate,
                         [layer.ssrc for p in pubs for layer in p.layers
                          if layer.ssrc is not None])
        self.router.spawn(aiortc_shim.send_rtcp(pubs[0].receiver.transport, data))
        return True

    def _add_slots(self, kind: str, count: int) -> None:
        assert self.subscribe_pc is not None
        for _ in range(count):
            t = self.subscribe_pc.addTransceiver(ParkedTrack(kind), direction="sendonly")
            t.setCodecPreferences(sdp_facts.pinned_codecs(kind))
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
            parsed = sdp_facts.parse_candidate(candidate)
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
                await self._close_pc(pc)

    async def _close_pc(self, pc: Any) -> None:
        """Close one peer connection, waiting at most ``PC_CLOSE_TIMEOUT``. aiortc
        closes a connection itself once its DTLS transports closed, and a second
        ``close`` waits for that one: a close that hangs in aiortc must not keep a
        session from ending, so it goes on in the background and is logged."""
        task = asyncio.ensure_future(pc.close())
        _CLOSING.add(task)  # referenced until done, and its outcome retrieved
        task.add_done_callback(_closed)
        try:
            await asyncio.wait_for(asyncio.shield(task), PC_CLOSE_TIMEOUT)
        except TimeoutError:
            logger.warning("pc close still running after %.0f s: session=%s participant=%s",
                           PC_CLOSE_TIMEOUT, self.router.id, self.id)
        except Exception:
            logger.warning("pc close failed: session=%s participant=%s",
                           self.router.id, self.id, exc_info=True)

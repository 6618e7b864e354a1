"""A router: one session's peers, publications and who sees what.

``set_visible`` is the only place that decides who sees what; ``_reconcile`` binds
slots to publications from it. A per-router loop re-asks for keyframes while a sink
waits (``keyframes``), re-sends unanswered renegotiations and watches for publishers
whose media stopped (``health``). ``repair`` escalates a viewer's gap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import estimate, keyframes, speaker
from .adapt import Adapter
from .errors import MediaError
from .peer import Peer
from .publication import Layer, Publication

if TYPE_CHECKING:
    from .relay import Relay

logger = logging.getLogger(__name__)

#: a gap's repair attempt from which the viewer is told to start its media over: when
#: it decodes nobody at all, and for any gap
RESTART_BLIND = 3
RESTART_ANY = 5


class Router:
    """One session: its peers, publications and the visibility reconciliation."""

    def __init__(self, relay: Relay, session_id: str) -> None:
        self.relay = relay
        self.id = session_id
        self.peers: dict[str, Peer] = {}
        self.publications: dict[str, Publication] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._speaker = speaker.SpeakerDetector(relay.config.active_speaker_interval)
        self.on_active_speaker: Callable[[str | None], None] | None = None
        # metrics: plain ints for now
        self.ingress_packets = 0
        self.forwarded_packets = 0
        self.forwarded_bytes = 0
        self.keyframe_requests = 0
        self.nacks_sent = 0
        self.retransmissions = 0
        self.rtx_received = 0
        #: packets that arrived a second time (RTX probe padding) and were dropped
        self.duplicates_dropped = 0
        #: bytes resent to viewers as padding that tests an upgrade (``layers``)
        self.probe_bytes = 0
        self.ingress_fallback_packets = 0
        #: REMB messages sent to publishers (see ``estimate``)
        self.rembs_sent = 0
        self._next_remb = 0.0
        self.closed = False
        #: publishers whose media stopped arriving (see ``check_stalls``)
        self.stalled: set[str] = set()
        #: layer switches that completed, upwards and downwards
        self.layer_switches_up = 0
        self.layer_switches_down = 0
        #: forwarded packets of layers of publications since closed, by RID
        self._closed_layer_packets: dict[str, int] = {}
        #: subscribers whose layout changed outside a visibility change (a slot's
        #: video paused or resumed for bandwidth); sent by the loop, once each
        self._layout_dirty: set[str] = set()
        #: the layer policy (``media.adapt``), run from the loop
        self.adapter = Adapter(self)
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
            slept = time.monotonic()
            await asyncio.sleep(interval)
            lag = time.monotonic() - slept - interval
            for pub in list(self.publications.values()):
                if pub.kind == "video":
                    for layer in pub.layers:
                        if layer.wants_keyframe():
                            layer.request_keyframe()
            now = time.monotonic()
            try:
                if self.relay.config.simulcast:  # with one layer each, nothing adapts
                    self.adapter.tick(now, lag)
            except Exception:
                logger.warning("layer adaptation failed: session=%s", self.id, exc_info=True)
            self.flush_layouts()
            self.resend_renegotiations(now)
            self.check_stalls(now)
            if now >= self._next_remb:
                self._next_remb = now + estimate.REMB_INTERVAL
                self.send_rembs()

    def send_rembs(self) -> None:
        """One REMB per publisher connection whose video anyone watches."""
        for p in list(self.peers.values()):
            if p.publish_pc is not None and not p.closed and p.send_remb():
                self.rembs_sent += 1

    def check_stalls(self, now: float) -> None:
        """A publisher whose every publication has stopped advancing for ``stall_after``
        seconds has lost its connection (or its sender): emit ``health`` on change."""
        for pub in self.publications.values():
            for layer in pub.layers:
                if layer._high_seq is not None and layer._high_seq != layer._sampled_seq:
                    layer._sampled_seq = layer._high_seq
                    layer.progress_at = now
                layer.sample_upstream(now)
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
        p.overflow = overflow = []
        for sub in p.subscriptions:
            if sub.publication is not None and sub.publication.id not in want:
                sub.unbind()
        bound = {sub.publication.id for sub in p.subscriptions if sub.publication is not None}
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
            for layer in pub.layers:
                keyframes.gate(layer.sinks)
            pub.request_keyframe(force=True)

    def set_view(self, viewer_id: str, sizes: Mapping[str, tuple[int, int]]) -> None:
        """The viewer's rendered tile sizes (device pixels) by video slot mid; a mid
        left out keeps its last size, (0, 0) is a tile not rendered. The adapter
        reads them; a slot bound later starts on the layer its size needs."""
        p = self.peer(viewer_id)
        for sub in p.subscriptions:
            if sub.kind == "video" and sub.mid is not None and sub.mid in sizes:
                w, h = sizes[sub.mid]
                sub.size = (int(w), int(h))

    def count_switch(self, old: Layer, new: Layer) -> None:
        """A slot moved from layer ``old`` to ``new`` of one publication."""
        if new.index > old.index:
            self.layer_switches_up += 1
        elif new.index < old.index:
            self.layer_switches_down += 1

    def layout_changed(self, p: Peer) -> None:
        """A slot's video paused or resumed for bandwidth: the loop re-sends ``p``'s
        layout (once, however many slots changed meanwhile)."""
        self._layout_dirty.add(p.id)

    def flush_layouts(self) -> None:
        """Send the layouts marked by ``layout_changed``."""
        dirty, self._layout_dirty = self._layout_dirty, set()
        for pid in sorted(dirty):
            p = self.peers.get(pid)
            if p is not None and not p.closed:
                self.relay.emit(self.id, p.id, "layout", p.layout_message(p.overflow))

    def emit_layers(self, pub: Publication, active: Iterable[str]) -> bool:
        """Tell ``pub``'s publisher which of its layers to keep sending (dynacast):
        relay event ``layers`` ``{"mid", "active"}``, only on change. True if sent."""
        rids = tuple(layer.rid for layer in pub.layers if layer.rid in set(active))
        if not pub.simulcast or rids == pub.active_rids or pub.closed:
            return False
        now = time.monotonic()
        for layer in pub.layers:
            if layer.rid in rids and layer.rid not in pub.active_rids:
                layer.asked_at = now
        pub.active_rids = rids
        self.relay.emit(self.id, pub.peer.id, "layers", {"mid": pub.mid, "active": list(rids)})
        return True

    def downlink_estimates(self) -> list[int]:
        """Each receiving viewer's estimated downlink (bps), for a histogram (no ids)."""
        return self.adapter.downlink_estimates()

    @property
    def active_speaker(self) -> str | None:
        """The participant who spoke loudest lately (None until anyone has)."""
        return self._speaker.current

    def note_level(self, pub: Publication, level: int) -> None:
        """Record an audio level; at most every interval, emit a changed active speaker."""
        now = time.monotonic()
        pub.level = level
        pub.level_at = now
        detector = self._speaker  # once per audio packet: SpeakerDetector.due, inlined
        if now - detector.last_check < detector.interval:
            return
        detector.last_check = now
        found = detector.decide(
            (speaker.Level(p.peer.id, p.level, p.level_at, p.paused)
             for p in self.publications.values() if p.kind == "audio"), now)
        if found is not None:
            if self.on_active_speaker is not None:
                self.on_active_speaker(found)
            self.relay.emit(self.id, found, "active_speaker", {"participant_id": found})

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
            "duplicates_dropped": self.duplicates_dropped,
            "probe_bytes": self.probe_bytes,
            "ingress_fallback_packets": self.ingress_fallback_packets,
            **{f"layer_packets_{rid}": n for rid, n in self.layer_packets().items()},
            "layer_switches_up": self.layer_switches_up,
            "layer_switches_down": self.layer_switches_down,
            "layers_paused": sum(
                len(pub.layers) - len(pub.active_rids)
                for pub in self.publications.values() if pub.simulcast and not pub.closed),
        }

    def layer_packets(self) -> dict[str, int]:
        """Packets forwarded per simulcast layer RID (q, h, f), closed ones included."""
        out = {"q": 0, "h": 0, "f": 0, **self._closed_layer_packets}
        for pub in self.publications.values():
            for layer in pub.layers:
                if layer.rid:
                    out[layer.rid] = out.get(layer.rid, 0) + layer.fanout
        return out

    def forget_publication(self, pub: Publication) -> None:
        """Keep a closing publication's per-layer counts in the totals."""
        for layer in pub.layers:
            if layer.rid:
                self._closed_layer_packets[layer.rid] = (
                    self._closed_layer_packets.get(layer.rid, 0) + layer.fanout)

    async def close(self) -> None:
        """Close every peer and stop the keyframe loop."""
        self.closed = True
        self._keyframe_task.cancel()
        for pid in list(self.peers):
            await self.leave(pid)
        for task in list(self._tasks):
            task.cancel()


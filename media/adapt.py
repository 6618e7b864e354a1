"""The adaptation loop: per viewer, an estimate, then a layer per slot; per
publication, which layers the publisher keeps sending.

``Adapter.tick(now)`` runs from the router's periodic loop (every
``keyframe_check_interval``), never per packet. Each tick, for each viewer:

1. what the relay sent it over the last second (every slot's bytes plus per-packet
   wire overhead, audio included) and the fraction lost over all its streams, pooled
   by packet count until there is enough to tell (``estimate.LossWindow``), feed its
   ``estimate.DownlinkEstimate`` (told when an upgrade was just made, so a rise in
   loss undoes it); its round trips over all slots (``estimate.QueueWatch``), less
   the relay loop's own lateness of late, say whether a queue is building on its
   link, which stops the estimate's growth and fails a step's test, and a queue that
   stands lowers the estimate under what was sent;
2. the video budget is that estimate minus the audio it receives;
3. ``layers.decide`` (size, clinic cap, budget, hysteresis) gives each visible
   video slot a layer index or None (paused for bandwidth), and the slot is told
   (``set_target``) when that changed;
4. while the viewer's next step is tested (``layers.Phase.TESTING``), its video
   slots resend recent packets at the step's rate (``SlotView.pad``), counted in what
   the relay sent it, so the link carries the step before the viewer sees it.

Then, for each simulcast publication, ``layers.Dynacast`` says which rids any viewer
needs; a change goes to the publisher as the relay event ``layers``
(``Router.emit_layers``).

A slot is never targeted above the highest layer that is available
(``layers.available``): a camera under 1280x720 sends fewer layers than it was asked
for, and a viewer switched to one that never comes would wait for its keyframe.

A layer's cost is what reached the relay of it lately (``Layer.send_rate``), else
what the slots forwarding it measured, else its ``maxBitrate`` from
``RelayConfig.layers``. The adapter reads
the router through the small protocols below, so its tests use plain objects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from . import layers
from .estimate import (
    OVERUSE_DRAIN,
    WIRE_OVERHEAD,
    DownlinkEstimate,
    LossEstimate,
    LossWindow,
    Meter,
    QueueWatch,
    Recent,
    RoundTrip,
)

#: smoothing of a layer's measured rate per tick (about 2 s at 10 ticks a second)
RATE_SMOOTHING = 0.05
#: a measured layer rate older than this (seconds) is forgotten
RATE_STALE = 5.0
#: a measured cost is at least this share of the configured maxBitrate (a stalled or
#: just-started layer does not look free)
MEASURED_FLOOR = 0.25
#: padding covers at most this many seconds since a viewer's previous tick (a late
#: tick does not send a burst)
PAD_TICK_MAX = 0.25
#: a round trip measured now may have waited this many seconds of the relay's own
#: loop lateness (the most it was late over them) before it was read
LAG_SPAN = 1.0


class LayerView(Protocol):
    @property
    def rid(self) -> str: ...
    def available(self, now: float) -> bool:
        """Whether a viewer may be switched to it (``layers.available``)."""
    def send_rate(self, now: float) -> float | None:
        """What reached the relay of it lately (bps on the wire), None if unknown."""


class PeerRef(Protocol):
    @property
    def id(self) -> str: ...


class PublicationView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def mid(self) -> str: ...
    @property
    def paused(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def peer(self) -> PeerRef: ...
    @property
    def layers(self) -> Sequence[LayerView]: ...


class SlotView(Protocol):
    """A subscribe slot: what the adapter reads and the one thing it sets."""

    @property
    def kind(self) -> str: ...
    @property
    def mid(self) -> str | None: ...
    @property
    def size(self) -> tuple[int, int]: ...
    @property
    def octets(self) -> int: ...
    @property
    def forwarded(self) -> int: ...
    @property
    def estimate(self) -> LossEstimate: ...
    @property
    def round_trip(self) -> RoundTrip: ...
    @property
    def publication(self) -> PublicationView | None: ...
    @property
    def layer(self) -> LayerView | None: ...
    def set_target(self, index: int | None) -> None: ...
    def pad(self, octets: int) -> int:
        """Resend about ``octets`` of what the slot sent lately, as padding the
        viewer drops; the wire bytes sent (0: nothing to resend)."""


class ViewerView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def subscriptions(self) -> Sequence[SlotView]: ...


class ConfigView(Protocol):
    @property
    def layers(self) -> tuple[tuple[str, float, int], ...]: ...
    @property
    def max_layer(self) -> str: ...
    @property
    def audio_only_below(self) -> int: ...


class RelayView(Protocol):
    @property
    def config(self) -> ConfigView: ...
    def emit(self, session_id: str, participant_id: str, event: str,
             payload: dict[str, Any]) -> None: ...


class RouterView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def relay(self) -> RelayView: ...
    @property
    def peers(self) -> Mapping[str, ViewerView]: ...
    @property
    def publications(self) -> Mapping[str, PublicationView]: ...
    def emit_layers(self, pub: Any, active: Iterable[str]) -> bool:
        """Send the publisher of ``pub`` the relay event ``layers`` (on change)."""


class _Slot:
    """What the adapter remembers of one slot between ticks."""

    __slots__ = ("counted", "layer", "layer_since", "meter", "missing", "told")

    def __init__(self, estimate: LossEstimate) -> None:
        self.meter = Meter()
        #: the estimate's cumulative report counts already pooled (``LossEstimate``)
        self.counted = estimate.counted
        self.missing = estimate.missing
        #: (publication id, target) last given to ``set_target``
        self.told: tuple[str, int | None] | None = None
        #: the layer it forwards and since when (for measuring that layer's rate)
        self.layer: object = None
        self.layer_since = 0.0


class _Viewer:
    __slots__ = ("backed_off", "downlink", "failed_probe", "hold", "losses", "meter", "owed",
                 "padded", "queue", "receives", "slots", "ticked")

    def __init__(self) -> None:
        self.downlink = DownlinkEstimate()
        #: the upgrade (its ``Hold.raised_at``) whose loss already lowered the estimate
        self.failed_probe = -1.0
        self.losses = LossWindow()
        self.queue = QueueWatch()
        #: when the estimate was last lowered (on loss or on a standing queue)
        self.backed_off = -math.inf
        self.meter = Meter()
        self.hold: layers.Hold | None = None
        self.slots: dict[int, _Slot] = {}
        #: whether any slot was bound at the last tick
        self.receives = False
        #: wire bytes of padding sent to the viewer so far (``Hold.pad``), and when
        #: the last tick was
        self.padded = 0
        self.ticked: float | None = None
        #: padding due but not sent yet (bytes; negative: sent ahead). Whole packets
        #: go out, so each tick's share is carried to the next, and the step's rate
        #: is what the link carries on average
        self.owed = 0.0


def pad(slots: Sequence[SlotView], octets: float) -> int:
    """About ``octets`` of padding to a viewer, from its video slots in turn (each
    resends at most its latest ``subscription.PAD_DEPTH`` packets); the wire bytes
    sent."""
    sent = 0
    for s in slots:
        if sent >= octets:
            break
        if s.kind == "video" and s.layer is not None:
            sent += s.pad(int(octets - sent))
    return sent


def wire_bytes(slot: SlotView) -> int:
    """Bytes the slot put on the wire: payloads plus per-packet overhead."""
    return slot.octets + slot.forwarded * WIRE_OVERHEAD


class Adapter:
    """The per-router adaptation: estimates, layer targets, dynacast."""

    def __init__(self, router: RouterView, policy: layers.Policy | None = None) -> None:
        self.router = router
        config = router.relay.config
        self.policy = policy or layers.Policy(audio_only_below=config.audio_only_below)
        self._viewers: dict[str, _Viewer] = {}
        self._dynacast: dict[str, layers.Dynacast] = {}
        #: measured rate (bps) and when, per (publication id, layer index)
        self._rates: dict[tuple[str, int], tuple[float, float]] = {}
        self._frames = layers.layer_frames(config.layers)
        #: this tick's layer costs per publication id (``costs`` once per tick)
        self._costs: dict[str, tuple[int, ...]] = {}
        #: how late the relay's loop ran at each tick lately (seconds)
        self._lag = Recent(LAG_SPAN)

    # -- reading ---------------------------------------------------------------------

    def downlink_estimates(self) -> list[int]:
        """The downlink estimate (bps) of each viewer that receives anything, for a
        histogram: no ids."""
        return [int(v.downlink.rate) for v in self._viewers.values() if v.receives]

    def phase(self, viewer_id: str) -> layers.Phase | None:
        """A viewer's hysteresis phase (None before its first tick)."""
        v = self._viewers.get(viewer_id)
        return None if v is None or v.hold is None else v.hold.phase

    def costs(self, pub: PublicationView, now: float) -> tuple[int, ...]:
        """What each layer of ``pub`` costs (bps): measured, else its maxBitrate.

        A single-layer publication (a screen share) has no lower layer: its publisher
        adapts to its slowest viewer instead (REMB, ``estimate.publisher_ceiling``),
        so it costs at most the audio-only threshold here. Counted at its full rate, a
        slow viewer's screen share would be paused while the cameras play on."""
        config = {rid: rate for rid, _, rate in self.router.relay.config.layers}
        lowest = self.router.relay.config.layers[0][2]
        out = []
        for i, layer in enumerate(pub.layers):
            configured = config.get(layer.rid, lowest)
            sent = layer.send_rate(now)
            measured = self._rates.get((pub.id, i))
            if sent is not None:
                out.append(max(int(sent), int(configured * MEASURED_FLOOR)))
            elif measured is not None and now - measured[1] < RATE_STALE:
                out.append(max(int(measured[0]), int(configured * MEASURED_FLOOR)))
            else:
                out.append(configured)
        if len(out) == 1:
            out[0] = min(out[0], self.policy.audio_only_below)
        return tuple(out)

    def lateness(self, now: float) -> float:
        """The most the relay's loop ran late over the last ``LAG_SPAN`` (seconds)."""
        return max(self._lag.values(now), default=0.0)

    # -- the tick --------------------------------------------------------------------

    def tick(self, now: float, lag: float = 0.0) -> None:
        """One round: every viewer's targets, then every publication's layers.
        ``lag``: how late the relay's loop ran this tick (seconds), which a round
        trip read lately may hold too."""
        router = self.router
        self._costs = {}
        self._lag.add(now, max(0.0, lag))
        for vid in [v for v in self._viewers if v not in router.peers]:
            del self._viewers[vid]
        for viewer in list(router.peers.values()):
            self._viewer(viewer, now)
        self._dynacast_tick(now)

    def _viewer(self, viewer: ViewerView, now: float) -> None:
        v = self._viewers.get(viewer.id)
        if v is None:
            v = self._viewers[viewer.id] = _Viewer()
        slots = list(viewer.subscriptions)
        v.receives = any(s.publication is not None for s in slots)
        known = {id(s) for s in slots}
        for key in [k for k in v.slots if k not in known]:
            del v.slots[key]
        sent = v.meter.add(now, sum(wire_bytes(s) for s in slots) + v.padded)
        lag = self.lateness(now)
        audio = 0.0
        for s in slots:
            est = s.estimate
            st = v.slots.get(id(s))
            if st is None:
                st = v.slots[id(s)] = _Slot(est)
            rate = st.meter.add(now, wire_bytes(s))
            if s.kind == "audio":
                audio += rate
            v.losses.add(now, est.counted - st.counted, est.missing - st.missing)
            st.counted, st.missing = est.counted, est.missing
            for rtt in s.round_trip.take():
                v.queue.add(now, max(0.0, rtt - lag))
            self._measure(s, st, rate, now)
        pooled = v.losses.take(now)
        loss, packets = pooled if pooled is not None else (None, 0)
        # An upgrade (or its test) is checked until its loss undid it once: the loss
        # that follows while the layers or the padding come down is the same
        # failure, not a second one.
        probing = v.hold is not None \
            and now - v.hold.raised_at < self.policy.upgrade_fails_within
        counted = v.hold is not None and v.hold.raised_at == v.failed_probe
        queuing = v.queue.queuing(now)
        overuse = v.queue.standing(now, since=v.backed_off + OVERUSE_DRAIN)
        before = v.downlink.rate
        estimate = v.downlink.update(now, sent, loss, probing, packets, counted, queuing,
                                     overuse)
        fell = v.downlink.rate < before
        if overuse or fell:
            # whatever lowered it, the queue read next is the one that lowering drains
            v.backed_off = now
        if fell and probing and not counted and v.hold is not None:
            v.failed_probe = v.hold.raised_at
        budget = estimate - audio
        demands = self._demands(slots, now)
        if v.hold is None:
            v.hold = layers.start(budget, self.policy)
        kept = {s.mid: st.told[1] for s in slots if s.mid is not None
                and (st := v.slots[id(s)]).told is not None and s.publication is not None
                and st.told[0] == s.publication.id}
        v.hold, targets = layers.decide(v.hold, now, demands, budget, self.policy, kept,
                                        queuing, v.queue.rising(now))
        if v.hold.phase is layers.Phase.TESTING and v.hold.pad > 0 and v.ticked is not None:
            due = v.hold.pad * min(PAD_TICK_MAX, now - v.ticked) / 8
            # a debt no slot could pay (nothing to resend) is not paid later in a burst
            v.owed = min(v.owed + due, 2 * due)
            if v.owed >= 1:
                paid = pad(slots, v.owed)
                v.padded += paid
                v.owed -= paid
        else:
            v.owed = 0.0
        v.ticked = now
        for s in slots:
            pub = s.publication
            if s.kind != "video" or pub is None or s.mid not in targets:
                continue
            st = v.slots[id(s)]
            told = (pub.id, targets[s.mid])
            if st.told != told:
                st.told = told
                s.set_target(told[1])

    def _demands(self, slots: Sequence[SlotView], now: float) -> list[layers.Demand]:
        max_layer = self.router.relay.config.max_layer
        out = []
        for s in slots:
            pub = s.publication
            if s.kind != "video" or pub is None or pub.paused or pub.closed \
                    or s.mid is None or not pub.layers:
                continue
            costs = self._costs.get(pub.id)
            if costs is None:
                costs = self._costs[pub.id] = self.costs(pub, now)
            highest = max((i for i, x in enumerate(pub.layers) if x.available(now)),
                          default=0)
            out.append(layers.demand(s.mid, s.size, [x.rid for x in pub.layers],
                                     costs, self._frames, max_layer, highest))
        return out

    def _measure(self, s: SlotView, st: _Slot, rate: float, now: float) -> None:
        """A slot that forwarded one layer for a whole window measures that layer."""
        layer = s.layer
        if layer is not st.layer:
            st.layer, st.layer_since = layer, now
            return
        pub = s.publication
        if layer is None or pub is None or s.kind != "video" or pub.paused \
                or now - st.layer_since < st.meter.window or st.meter.span() < st.meter.window:
            return
        index = next((i for i, x in enumerate(pub.layers) if x is layer), None)
        if index is None:
            return
        key = (pub.id, index)
        old = self._rates.get(key)
        smooth = rate if old is None or now - old[1] >= RATE_STALE \
            else old[0] + (rate - old[0]) * RATE_SMOOTHING
        self._rates[key] = (smooth, now)

    def _dynacast_tick(self, now: float) -> None:
        """Per simulcast publication: the rids any viewer needs; emit on change."""
        router = self.router
        pubs = {p.id: p for p in router.publications.values()
                if p.kind == "video" and not p.closed and len(p.layers) > 1}
        for pid in [p for p in self._dynacast if p not in pubs]:
            del self._dynacast[pid]
        for key in [k for k in self._rates if k[0] not in router.publications]:
            del self._rates[key]
        want: dict[str, set[int | None]] = {pid: set() for pid in pubs}
        for viewer in router.peers.values():
            v = self._viewers.get(viewer.id)
            for s in viewer.subscriptions:
                pub = s.publication
                if pub is None or pub.id not in want:
                    continue
                indices = want[pub.id]
                indices.add(None)  # watched
                layer = s.layer
                if layer is not None:
                    indices.add(next((i for i, x in enumerate(pub.layers) if x is layer), None))
                st = v.slots.get(id(s)) if v is not None else None
                if st is not None and st.told is not None and st.told[0] == pub.id:
                    indices.add(st.told[1])
        for pid, pub in pubs.items():
            rids = [x.rid for x in pub.layers]
            # A missing layer stays asked for: it costs nothing while it is not sent,
            # and it is noticed when it arrives (a camera switched to a larger size).
            # Turned off, it would look available, be needed, be asked for again and
            # go missing again, round after round.
            want[pid].update(i for i, x in enumerate(pub.layers) if not x.available(now))
            d = self._dynacast.get(pid)
            if d is None or d.rids != tuple(rids):
                d = self._dynacast[pid] = layers.Dynacast(rids)
            indices = want[pid]
            active = d.update(now, layers.needed(rids, indices, None in indices))
            if active is not None:
                router.emit_layers(pub, active)

"""Prometheus metrics. Labels are bounded enums (event names, codes), never ids or names.

A registry per app (not the global default) so tests and several apps in one
process never share counters.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from server.appkeys import SETTINGS
from signaling import timing


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.events = Counter(
            "hearth_signaling_events_total", "Signaling events by name and outcome",
            ["event", "outcome"], registry=r,
        )
        self.ack_latency = Histogram(
            "hearth_signaling_ack_seconds", "Time from event receipt to ack", ["event"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.store_errors = Counter(
            "hearth_store_errors_total", "Store operations that failed", registry=r
        )
        self.links_refused = Counter(
            "hearth_links_refused_total", "Join links refused, by code", ["code"], registry=r
        )
        self.media_gaps = Counter(
            "hearth_media_gaps_total", "Media gaps (a viewer not decoding a source it should "
            "for over 2 s): opened, repair attempts, closed", ["event"], registry=r,
        )
        self.media_gap_seconds = Histogram(
            "hearth_media_gap_seconds", "How long closed media gaps lasted",
            buckets=(2.5, 3, 4, 5, 7.5, 10, 20, 30, 60, 120), registry=r,
        )
        self.media_gap_longest = Gauge(
            "hearth_media_gap_longest_seconds", "The longest closed media gap since this "
            "process started (the histogram only bounds it)", registry=r,
        )
        self._longest_gap = 0.0

        self.breakout_stage = Histogram(
            "hearth_breakout_stage_seconds", "A breakout switch (open, close, move), seconds "
            "from the command's arrival to each stage: committed, snapshot (every state "
            "sent), relay_first and relay (the first and the last person's slots "
            "re-pointed), layout (the last person told), acked",
            ["stage"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r,
        )
        timing.subscribe(self.observe_stage)

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.breakout_stage.labels(stage=stage).observe(seconds)

    def observe_event(self, event: str, outcome: str, seconds: float) -> None:
        """One signaling event handled: its outcome (``ok`` or the error code) and the
        time to its ack."""
        self.events.labels(event=event, outcome=outcome).inc()
        self.ack_latency.labels(event=event).observe(seconds)

    def link_refused(self, code: str) -> None:
        self.links_refused.labels(code=code).inc()

    def observe_gap(self, event: str, seconds: float | None) -> None:
        """The media reconciler's gap events (``opened``, ``repair``, ``closed``)."""
        self.media_gaps.labels(event=event).inc()
        if seconds is not None:
            self.media_gap_seconds.observe(seconds)
            if seconds > self._longest_gap:
                self._longest_gap = seconds
                self.media_gap_longest.set(seconds)

    def watch(self, snapshot: Callable[[], dict[str, float]]) -> None:
        """Expose live figures (sockets, sessions, relay counters) read at scrape time."""
        self.registry.register(_Snapshot(snapshot))

    def watch_downlink(self, estimates: Callable[[], list[int]]) -> None:
        """Expose the relay's downlink estimate per viewer as a histogram of now."""
        self.registry.register(_Downlink(estimates))


# name -> (help, kind); kind "counter" values are cumulative per live session.
LIVE = {
    "connections": ("Sockets connected to this process", "gauge"),
    "sessions": ("Sessions with a media router on this process", "gauge"),
    "placed_sessions": ("Sessions placed on this process (node)", "gauge"),
    "draining": ("1 while this process drains after SIGTERM", "gauge"),
    "media_peers": ("Participants with media on this process", "gauge"),
    "media_publications": ("Incoming tracks", "gauge"),
    "media_subscriptions": ("Outgoing slots bound to a track", "gauge"),
    "media_ingress_packets": ("RTP packets received from publishers", "counter"),
    "media_forwarded_packets": ("RTP packets forwarded to subscribers", "counter"),
    "media_forwarded_bytes": ("RTP bytes forwarded to subscribers", "counter"),
    "media_keyframe_requests": ("PLIs sent to publishers", "counter"),
    "media_nacks_sent": ("NACKs sent to publishers", "counter"),
    "media_retransmissions": ("Packets retransmitted to subscribers", "counter"),
    "media_duplicates_dropped": ("Packets a publisher sent twice (its bandwidth probes "
                                 "resend recent ones) and the relay did not forward",
                                 "counter"),
    "media_probe_bytes": ("Bytes resent to viewers over RTX to test their link before "
                          "a higher layer is sent to them", "counter"),
    "media_layers_paused": ("Camera layers paused at their publisher because nobody "
                            "receives them", "gauge"),
}
# name -> (help, label, {label value: figure}); counters, one series per label value.
LABELLED = {
    "media_layer_packets": ("RTP packets forwarded to viewers, by simulcast layer (q 180p, "
                            "h 360p, f 720p)", "layer",
                            {"q": "media_layer_packets_q", "h": "media_layer_packets_h",
                             "f": "media_layer_packets_f"}),
    "media_layer_switches": ("A viewer slot's switches to a higher or lower layer",
                             "direction", {"up": "media_layer_switches_up",
                                           "down": "media_layer_switches_down"}),
}
#: upper bounds (bps) of the downlink histogram's buckets: the relay pauses video below
#: 150 kbit/s; 300 k is about the low layer, 1 M a family's high layers
DOWNLINK_BUCKETS = (150_000, 300_000, 500_000, 1_000_000, 2_000_000, 5_000_000)


class RouterCounts(Protocol):
    """What the figures read of a relay router (``media.relay.Router``)."""

    @property
    def peers(self) -> Mapping[str, Any]: ...
    @property
    def publications(self) -> Mapping[str, Any]: ...
    def metrics(self) -> Mapping[str, int]: ...


def live_figures(*, connections: int, routers: Collection[RouterCounts], placed: int,
                 draining: bool) -> dict[str, float]:
    """The ``LIVE`` figures of this process: its sockets, the sessions placed on it and
    its relay's routers (``media.relay.Router``: peers, publications, counters)."""
    figures: dict[str, float] = {
        "connections": connections,
        "sessions": len(routers),
        "placed_sessions": placed,
        "draining": float(draining),
    }
    for router in routers:
        figures["media_peers"] = figures.get("media_peers", 0) + len(router.peers)
        figures["media_publications"] = (figures.get("media_publications", 0)
                                         + len(router.publications))
        figures["media_subscriptions"] = figures.get("media_subscriptions", 0) + sum(
            1 for p in router.peers.values() for sub in p.subscriptions
            if sub.publication is not None)
        for key, value in router.metrics().items():
            name = f"media_{key}"
            figures[name] = figures.get(name, 0) + value
    return figures


class _Snapshot:
    """A collector over a snapshot function; counters reset when a session closes."""

    def __init__(self, snapshot: Callable[[], dict[str, float]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        values = self._snapshot()
        for name, (help_text, kind) in LIVE.items():
            family: Metric
            if kind == "counter":
                family = CounterMetricFamily(f"hearth_{name}", help_text)
            else:
                family = GaugeMetricFamily(f"hearth_{name}", help_text)
            family.add_metric([], float(values.get(name, 0)))
            yield family
        for name, (help_text, label, figures) in LABELLED.items():
            counter = CounterMetricFamily(f"hearth_{name}", help_text, labels=[label])
            for value, figure in figures.items():
                counter.add_metric([value], float(values.get(figure, 0)))
            yield counter


def downlink_estimates(routers: Iterable[object]) -> list[int]:
    """Every viewer's downlink estimate (bps) over the routers, with no ids."""
    out: list[int] = []
    for router in routers:
        estimates = getattr(router, "downlink_estimates", None)  # a relay without simulcast
        if callable(estimates):
            out.extend(int(bps) for bps in estimates())
    return out


class _Downlink:
    """The viewers' downlink estimates now, as a gauge histogram (no labels: a bucket
    counts viewers, never names one)."""

    def __init__(self, estimates: Callable[[], list[int]]) -> None:
        self._estimates = estimates

    def collect(self) -> Iterable[Metric]:
        values = self._estimates()
        buckets = [(str(float(le)), float(sum(1 for v in values if v <= le)))
                   for le in DOWNLINK_BUCKETS]
        buckets.append(("+Inf", float(len(values))))
        yield GaugeHistogramMetricFamily(
            "hearth_media_downlink_bps", "Viewers' estimated downlink (bit/s) as the relay "
            "last measured it, one per viewer with media", buckets=buckets,
            gsum_value=float(sum(values)))


METRICS = web.AppKey("metrics", Metrics)


LOOPBACK = frozenset({"127.0.0.1", "::1"})


def metrics_allowed(request: web.Request, token: str | None) -> bool:
    """With ``metrics_token`` set, only ``Authorization: Bearer <token>`` reads metrics;
    without one, only this machine does (a scraper on loopback or a local sidecar)."""
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    return request.remote in LOOPBACK and "X-Forwarded-For" not in request.headers


async def metrics_view(request: web.Request) -> web.Response:
    if not metrics_allowed(request, request.app[SETTINGS].secret("metrics_token")):
        return web.json_response(
            {"error": {"code": "unauthenticated",
                       "message": "metrics need the bearer token (HEARTH_METRICS_TOKEN)"}},
            status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

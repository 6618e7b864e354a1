"""Prometheus metrics. Labels are bounded enums (event names, codes), never ids or names.

A registry per app (not the global default) so tests and several apps in one
process never share counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.sessions = Gauge(
            "hearth_sessions_live", "Sessions with a live socket here", registry=r
        )
        self.participants = Gauge(
            "hearth_participants_connected", "Connected participants here", registry=r
        )
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
        self.publications = Gauge("hearth_media_publications", "Incoming tracks", registry=r)
        self.subscriptions = Gauge("hearth_media_subscriptions", "Outgoing tracks", registry=r)
        self.forwarded_packets = Counter(
            "hearth_media_forwarded_packets_total", "RTP packets forwarded", registry=r
        )
        self.forwarded_bytes = Counter(
            "hearth_media_forwarded_bytes_total", "RTP bytes forwarded", registry=r
        )
        self.keyframe_requests = Counter(
            "hearth_media_keyframe_requests_total", "PLIs sent to publishers", registry=r
        )
        self.ice_failures = Counter(
            "hearth_media_ice_failures_total", "Peer connections that failed", registry=r
        )


METRICS = web.AppKey("metrics", Metrics)


async def metrics_view(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

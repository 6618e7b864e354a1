"""The composition root: the one place that builds Hearth's objects and connects them.

Nothing here decides anything. Backends are chosen here (embedded SQLite, or Redis when
configured, for the store, the socket.io manager and the bus); what happens when
something happens lives with its owner: relay reports in signaling/media.py, the
serving node's part in server/serving.py, drain in server/placement.py, chat retention
in signaling/chat.py, audit in server/audit.py, live figures in server/metrics.py.
Each resource is opened and closed by its own ``cleanup_ctx``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio
from aiohttp import web
from aioice.ice import get_host_addresses

from media.config import IceServer, RelayConfig
from media.errors import MediaError
from media.relay import Relay
from rooms.model import Session
from rooms.service import EventSink, RoomService
from rooms.stores import Store, StoreError
from rooms.stores.redis import RedisStore
from rooms.stores.sqlite import SqliteStore
from server.accounts import Accounts
from server.appkeys import (
    ACCOUNTS,
    DIRECTORY,
    KEYS,
    LINKS,
    LIVE,
    LOGINS,
    ROOMS,
    RUNTIME,
    SETTINGS,
    STORE,
    Runtime,
)
from server.audit import AuditLog, Auditor, AuditSink
from server.auth import LoginSessions
from server.bus import RedisBus, ResilientRedisManager
from server.config import Settings
from server.directory import Directory
from server.http import environ_address
from server.identity import identify
from server.keys import Keys
from server.metrics import METRICS, Metrics, downlink_estimates, live_figures
from server.placement import Placement, drain
from server.program.sealing import Sealer
from server.reconcile import Reconciler
from server.records.api import RECORDS
from server.records.wiring import Records
from server.sealedstore import SealedStore
from server.serving import ServingNode
from server.storehealth import WatchedStore
from server.tasks import stop_task
from server.turn import client_ice_servers
from signaling.chat import ChatLog, sweep_retention
from signaling.checkin import register_checkin
from signaling.media import MediaHealth, MediaSink, RelayEvents, RelayVisibility, register_media
from signaling.namespace import HearthNamespace, Revocations, answer_oversized_frames
from signaling.outbox import Outbox
from signaling.ratelimit import Penalties
from signaling.registry import Registry
from signaling.service import Signaling, build_registry
from signaling.tokens import LinkSigner

log = logging.getLogger("hearth.server")
FRAME_OVERHEAD = 1024  # socket.io framing around the largest payload the gate accepts
SOCKETIO_REDIS_CONNECTIONS = 1024


def create_store(settings: Settings) -> Store:
    """The backend: Redis when configured, else embedded SQLite in the data directory."""
    redis_url = settings.secret("redis_url")
    if redis_url:
        return RedisStore(redis_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStore(settings.data_dir / "hearth.db")


def create_socketio(settings: Settings) -> Any:
    """socket.io server: Redis fan-out across processes when configured; same-origin only."""
    redis_url = settings.secret("redis_url")
    # Publishing takes a pooled connection per emit; the default cap of 100 failed
    # under a burst of 1,000 clients (bench.signaling), so allow more (Redis: 10,000).
    manager = ResilientRedisManager(
        redis_url, redis_options={"max_connections": SOCKETIO_REDIS_CONNECTIONS}
    ) if redis_url else None
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=[settings.public_origin],
        max_http_buffer_size=256 * 1024,
        ping_interval=10,
        ping_timeout=10,
        logger=False,
        engineio_logger=False,
    )


def relay_config(settings: Settings) -> RelayConfig:
    """The relay's settings from Hearth's configuration (one place)."""
    # The relay itself is reachable on its announced addresses; TURN is for clients.
    servers = tuple(IceServer(urls=(url,)) for url in settings.ice_servers
                    if url.startswith("stun:"))
    # Empty means every local (non-loopback) address, as aioice would gather by default;
    # production sets the public or NAT address, tests set 127.0.0.1.
    hosts = settings.media_hosts or tuple(get_host_addresses(use_ipv4=True, use_ipv6=False))
    return RelayConfig(host_addresses=hosts, ice_servers=servers,
                       port_range=settings.media_port_range,
                       simulcast=settings.simulcast, max_layer=settings.video_max_layer,
                       announce=tuple(zip(settings.media_hosts, settings.media_announce,
                                          strict=False)))  # lengths checked by Settings


class Live:
    """Everything a live session needs, built once per app and connected here.

    Construction opens nothing; the ``cleanup_ctx`` functions below start and stop
    what runs. The serving node reads these attributes when its hooks run, so they
    are handed out before every part exists.
    """

    def __init__(self, settings: Settings, store: Store, keys: Keys, metrics: Metrics) -> None:
        self.store = store
        self.node = node = ServingNode(self, chat_retention=settings.chat_retention_hours * 3600,
                                      move_settle=settings.move_settle_seconds)
        self.links = LinkSigner(
            keys.ring.keys, keys.ring.active_kid, issuer=settings.public_url, store=store
        )
        self.directory = Directory(store)
        self.chat = ChatLog(store, keys.data)
        self.sio: Any = create_socketio(settings)
        self.outbox = Outbox(node.emit, node.kick, self.chat, on_ended=node.ended,
                             on_gone=node.gone)
        self.relay = Relay(relay_config(settings))
        self.placement = Placement(
            store, settings.node_id, settings.node_url,
            heartbeat=settings.placement_heartbeat_seconds, ttl=settings.placement_ttl_seconds,
            on_claim=node.claimed, on_lost=node.lost, on_beat=node.beaten)
        self.media_health = MediaHealth(self.relay, self._session, node.emit,
                                        on_gap=metrics.observe_gap)
        self.relay_events = RelayEvents(node.emit, self._session, self.media_health)
        self.relay.on_event = self.relay_events
        self.media_sink = MediaSink(self.relay, self.media_health)
        self.reconciler = Reconciler(
            self._session, lambda: self.placement.local,
            ended=node.end_here, changed=node.refresh_here)
        redis_url = settings.secret("redis_url")
        self.bus = RedisBus(redis_url, settings.node_id) if redis_url else None
        salt = hmac.new(keys.ring.active, b"hearth address hashing", hashlib.sha256).digest()
        self.audit_log = AuditLog(store, salt, hash_addresses=settings.audit_hash_addresses)
        self.audit = Auditor(self.audit_log, on_refused=metrics.link_refused)
        self.records = Records(store, keys.data)
        # People are told, then the relay is re-pointed, then records and other nodes.
        later: list[EventSink] = [AuditSink(self.audit_log)]
        if self.bus is not None:
            later.append(self.bus)
        later.append(self.records.attendance_sink)
        self.rooms = RoomService(
            store, sinks=[self.outbox, self.reconciler, self.media_sink],
            media=RelayVisibility(self.relay, on_layout=self.relay_events.layout,
                                  newest=self.media_sink.newest),
            later_sinks=later, arms=self.placement.is_local)
        self.signaling = Signaling(self.rooms, self.chat, self.outbox, gate=self.records.gate)
        self.registry: Registry = build_registry(self.signaling)
        register_media(self.registry, self.signaling, self.relay,
                       ice_servers_for=functools.partial(
                           client_ice_servers, settings.ice_servers,
                           settings.secret("turn_secret"),
                           lifetime=settings.turn_credential_minutes * 60),
                       health=self.media_health)
        register_checkin(self.registry, self.signaling, audit=self.audit,
                         once=lambda key, ttl: store.add_once(key, ttl=ttl))
        self.penalties = Penalties(store, salt)
        self.namespace = HearthNamespace(
            self.registry, self.links, on_join=self.signaling.on_join,
            on_leave=node.leave, audit=self.audit, coded_errors=(MediaError,),
            observe=metrics.observe_event, place=node.place,
            identify=functools.partial(identify, self.rooms), penalties=self.penalties,
            address=lambda environ: environ_address(environ, settings.trusted_proxies),
        )
        self.rooms.sinks.append(Revocations(self.namespace))
        self.sio.register_namespace(self.namespace)
        # engine.io refuses what the gate would refuse, with the gate's own answer.
        answer_oversized_frames(self.sio, max(
            spec.max_bytes for spec in self.registry.events.values()) + FRAME_OVERHEAD)
        metrics.watch(lambda: live_figures(
            connections=len(self.namespace.connections), routers=self.relay.routers.values(),
            placed=len(self.placement.local), draining=self.placement.draining))
        metrics.watch_downlink(lambda: downlink_estimates(self.relay.routers.values()))
        self.drain: Callable[[float], Awaitable[None]] = functools.partial(
            drain, self.placement, lambda: self.namespace.connections, node.move)

    async def _session(self, session_id: str) -> Session | None:
        return await self.rooms.get(session_id)


# --- what runs, one cleanup_ctx per resource (closed in reverse order) ------------------
Context = Callable[[web.Application], AsyncIterator[None]]


async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    """Check the store; if it is unreachable, keep serving so /readyz can say why."""
    store = app[STORE]
    try:
        await store.ping()
    except StoreError as exc:
        app[RUNTIME].store_error = str(exc)
        log.error("store unreachable at startup; /readyz will fail", extra={"reason": str(exc)})
    yield
    started = time.monotonic()
    await store.close()
    log.info("store closed", extra={"seconds": round(time.monotonic() - started, 2)})


async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
    """The relay opens sessions on demand; closing it closes every peer connection."""
    yield
    started = time.monotonic()
    await app[LIVE].relay.close()
    log.info("media closed", extra={"seconds": round(time.monotonic() - started, 2)})


async def rooms_ctx(app: web.Application) -> AsyncIterator[None]:
    """Session timers are armed as sessions are placed here; closing cancels them."""
    yield
    await app[LIVE].rooms.close()


async def placement_ctx(app: web.Application) -> AsyncIterator[None]:
    """This node's heartbeat record; stopping removes it (best effort)."""
    placement = app[LIVE].placement
    await placement.start()
    yield
    await placement.stop()


async def bus_ctx(app: web.Application) -> AsyncIterator[None]:
    """With Redis: changes committed on other nodes reach the sessions served here."""
    live = app[LIVE]
    if live.bus is None:
        yield
        return
    live.bus.on_reconnect = live.node.redis_back
    await live.bus.start(live.node.changed_elsewhere)
    yield
    await live.bus.close()


async def socketio_manager_ctx(app: web.Application) -> AsyncIterator[None]:
    """With Redis: a socket.io subscription that comes back asks for a catch-up pass.
    (The sockets themselves close in ``close_sockets``, before any of this.)"""
    live = app[LIVE]
    manager = live.sio.manager
    if isinstance(manager, ResilientRedisManager):
        manager.on_reconnect = live.node.redis_back
    yield
    if isinstance(manager, ResilientRedisManager):
        await manager.close()  # its listener task and connections, bounded


async def media_health_ctx(app: web.Application) -> AsyncIterator[None]:
    """The lost-socket rechecks are timers; closing cancels them."""
    yield
    app[LIVE].media_health.close()


async def reconcile_ctx(app: web.Application) -> AsyncIterator[None]:
    """Catch-up passes run on heartbeats and reconnects; closing stops any running."""
    yield
    await app[LIVE].reconciler.close()


async def pending_sends_ctx(app: web.Application) -> AsyncIterator[None]:
    """Relay reports being sent and socket closes waiting their delay are cancelled."""
    yield
    app[LIVE].relay_events.close()
    await app[LIVE].node.close()


async def chat_retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """With a chat retention: ended sessions' chat is purged once it has passed, swept
    every quarter of the retention (at most every 10 minutes)."""
    retention = app[SETTINGS].chat_retention_hours * 3600.0
    if retention <= 0:  # purged as each session ends
        yield
        return
    task = asyncio.create_task(sweep_retention(app[LIVE].chat, min(600.0, retention / 4)),
                               name="chat-retention-sweep")
    yield
    await stop_task(task, "chat retention sweep")


CONTEXTS: tuple[Context, ...] = (
    store_ctx, relay_ctx, rooms_ctx, placement_ctx, bus_ctx, socketio_manager_ctx,
    media_health_ctx, reconcile_ctx, pending_sends_ctx, chat_retention_ctx,
)


async def close_sockets(app: web.Application) -> None:
    """On shutdown, before any resource closes: stop taking work, then close live
    sockets so clients reconnect (elsewhere) at once."""
    app[RUNTIME].draining = True
    log.info("shutting down: draining")
    live = app[LIVE]
    # Engine.IO's shutdown stops its service task but leaves sockets open; close them
    # first so clients reconnect at once instead of waiting out a ping timeout.
    started = time.monotonic()
    for sid in list(live.namespace.connections):
        await live.namespace.disconnect(sid)
    await live.sio.shutdown()
    log.info("sockets closed", extra={"seconds": round(time.monotonic() - started, 2)})


def assemble(app: web.Application, settings: Settings, keys: Keys) -> None:
    """Build every object the app's routes and sockets use, put each under its key,
    serve socket.io from the app and run each resource in its own ``cleanup_ctx``.
    Nothing is opened until the app starts."""
    app[SETTINGS] = settings
    app[KEYS] = keys
    app[RUNTIME] = Runtime()
    app[METRICS] = metrics = Metrics()
    # Session records hold names: sealed with the data key before they reach the
    # backend. Refused writes show on /readyz.
    store = WatchedStore(SealedStore(create_store(settings), keys.data), metrics.registry)
    app[STORE] = store
    app[ACCOUNTS] = Accounts(store, Sealer(keys.data))
    app[LOGINS] = LoginSessions(
        store, app[ACCOUNTS], idle_seconds=settings.login_idle_minutes * 60,
        secure=settings.public_url.startswith("https://"),
        salt=hmac.new(keys.ring.active, b"hearth sign-in throttle", "sha256").digest(),
    )
    app[LIVE] = live = Live(settings, store, keys, metrics)
    app[LINKS] = live.links
    app[DIRECTORY] = live.directory
    app[ROOMS] = live.rooms
    app[RECORDS] = live.records
    live.sio.attach(app)
    app.cleanup_ctx.extend(CONTEXTS)
    app.on_shutdown.append(close_sockets)

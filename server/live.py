"""Wiring of the live session machinery: rooms service, chat, outbox, socket.io.

Kept apart from the HTTP app factory so the one place that connects rooms,
signaling (and later media) is easy to read.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from typing import Any

from aiohttp import web
from aioice.ice import get_host_addresses

from media.config import IceServer, RelayConfig
from media.errors import MediaError
from media.relay import Relay
from rooms.events import ENDINGS, EventKind
from rooms.model import ParticipantStatus, Session
from rooms.service import EventSink, RoomService
from rooms.stores import Store, StoreError
from rooms.visibility import location, members
from server.audit import AuditLog, AuditSink
from server.bus import RedisBus, ResilientRedisManager
from server.config import Settings
from server.directory import Directory
from server.http import environ_address
from server.identity import identify
from server.keys import Keys
from server.metrics import Metrics
from server.placement import Placement
from server.reconcile import Reconciler
from server.records.wiring import Records
from server.tasks import stop_task
from server.turn import client_ice_servers
from server.wiring import create_socketio
from signaling.chat import ChatLog
from signaling.checkin import register_checkin
from signaling.media import MediaHealth, MediaSink, VisibilityPort, register_media
from signaling.namespace import HearthNamespace, Revocations, answer_oversized_frames
from signaling.outbox import Outbox, session_of_room, socket_room
from signaling.ratelimit import Penalties
from signaling.registry import Registry
from signaling.service import Signaling, build_registry
from signaling.tokens import Identity, JoinClaims, LinkSigner

log = logging.getLogger("hearth.live")
KICK_DELAY = 0.3
FRAME_OVERHEAD = 1024  # socket.io framing around the largest payload the gate accepts


class Live:
    """Everything a live session needs, built once per app."""

    def __init__(self, settings: Settings, store: Store, keys: Keys, metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self._tasks: set[asyncio.Task[None]] = set()
        self.metrics = metrics
        self.links = LinkSigner(
            keys.ring.keys, keys.ring.active_kid, issuer=settings.public_url, store=store
        )
        self.directory = Directory(store)
        self.chat = ChatLog(store, keys.data)
        self.sio: Any = create_socketio(settings)
        self.outbox = Outbox(
            self._emit, self._kick, self.chat, on_ended=self._ended, on_gone=self._gone
        )
        self.relay = Relay(relay_config(settings), on_event=self._media_event)
        self.placement = Placement(
            store, settings.node_id, settings.node_url,
            heartbeat=settings.placement_heartbeat_seconds, ttl=settings.placement_ttl_seconds,
            on_claim=self._claimed, on_lost=self._lost, on_beat=self._beaten)
        self.media_health = MediaHealth(self.relay, self._session, self._emit,
                                        on_gap=metrics.observe_gap)
        self.media_sink = MediaSink(self.relay, self.media_health)
        self.reconciler = Reconciler(
            lambda sid: self.rooms.get(sid), lambda: self.placement.local,
            ended=self._end_here, changed=self._refresh_here)
        redis_url = settings.secret("redis_url")
        self.bus = RedisBus(redis_url, settings.node_id) if redis_url else None
        salt = hmac.new(keys.ring.active, b"hearth address hashing", hashlib.sha256).digest()
        self.audit_log = AuditLog(store, salt, hash_addresses=settings.audit_hash_addresses)
        self.records = Records(store, keys.data)
        sinks: list[EventSink] = [self.outbox, self.reconciler, self.media_sink,
                                  AuditSink(self.audit_log)]
        if self.bus is not None:
            sinks.append(self.bus)
        sinks.append(self.records.attendance_sink)
        self.rooms = RoomService(
            store, sinks=sinks,
            media=VisibilityPort(self.relay, on_layout=self._layout,
                                 newest=self.media_sink.newest),
            arms=self.placement.is_local)
        self.signaling = Signaling(self.rooms, self.chat, self.outbox, gate=self.records.gate)
        self.registry: Registry = build_registry(self.signaling)
        register_media(self.registry, self.signaling, self.relay,
                       ice_servers_for=self._ice_servers_for, health=self.media_health)
        register_checkin(self.registry, self.signaling, audit=self.audit,
                         once=lambda key, ttl: store.add_once(key, ttl=ttl))
        self.penalties = Penalties(store, salt)
        self.namespace = HearthNamespace(
            self.registry, self.links, on_join=self.signaling.on_join,
            on_leave=self.signaling.on_leave, audit=self.audit, coded_errors=(MediaError,),
            observe=self._observe, place=self._place, identify=self.identify,
            penalties=self.penalties,
            address=lambda environ: environ_address(environ, settings.trusted_proxies),
        )
        self.rooms.sinks.append(Revocations(self.namespace))
        self.sio.register_namespace(self.namespace)
        # engine.io refuses what the gate would refuse, with the gate's own answer.
        answer_oversized_frames(self.sio, max(
            spec.max_bytes for spec in self.registry.events.values()) + FRAME_OVERHEAD)
        metrics.watch(self.live_figures)

    def _media_event(self, session_id: str, participant_id: str, event: str,
                     payload: dict[str, Any]) -> None:
        """Relay → client messages (slot layout, active speaker), sent on the loop."""
        async def send() -> None:
            if event == "health":
                await self.media_health.relay_stalled(session_id, payload["stalled"])
            elif event == "layout":
                await self._emit("media_layout", payload, socket_room(session_id, participant_id))
            elif event == "active_speaker":
                session = await self.rooms.get(session_id)
                if session is None:
                    return
                for pid in members(session, location(session, participant_id) or "main"):
                    await self._emit("active_speaker", {"participant_id": participant_id},
                                     socket_room(session_id, pid))
            else:
                await self._emit(f"media_{event}", payload,
                                 socket_room(session_id, participant_id))

        task = asyncio.get_running_loop().create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def identify(self, claims: JoinClaims) -> Identity:
        """Verified claims → identity (role and name from the server)."""
        return await identify(self.rooms, claims)

    async def _session(self, session_id: str) -> Any:
        return await self.rooms.get(session_id)

    async def _place(self, session_id: str) -> str | None:
        """None when the session is served here, else the URL of the node that serves it."""
        node = await self.placement.locate(session_id)
        return None if node.id == self.placement.node_id else node.url

    async def _claimed(self, session_id: str) -> None:
        """A session placed (or taken over) here: its timers run here from now on."""
        await self.rooms.resume(session_id)

    async def _lost(self, session_id: str) -> None:
        """Another node took this session over (our record lapsed): send its people there."""
        await self._move(self.namespace.sids_of(session_id, None))

    async def _move(self, sids: list[str]) -> None:
        """Ask these sockets to reconnect (they land on the serving node), then close them."""
        for sid in sids:
            await self.sio.emit("notice", {"kind": "moved"}, to=sid)
        await asyncio.sleep(KICK_DELAY)  # let the notices go out before the sockets close
        for sid in sids:
            await self.namespace.disconnect(sid)

    async def start(self) -> None:
        await self.placement.start()
        if self.bus is not None:
            self.bus.on_reconnect = self._redis_back
            await self.bus.start(self._changed_elsewhere)
        if isinstance(self.sio.manager, ResilientRedisManager):
            self.sio.manager.on_reconnect = self._redis_back

    def _beaten(self, recovered: bool) -> None:
        """Each heartbeat: catch up on what the bus missed; after a store outage, resend."""
        self.reconciler.request(force=recovered)

    async def _redis_back(self) -> None:
        """A Redis subscription came back: messages may have been lost meanwhile."""
        self.reconciler.request(force=True)

    async def _end_here(self, session: Session) -> None:
        """The session ended (seen in the store): tell this node's sockets, close them,
        let the relay and the placement go. Repeating it is harmless."""
        for sid in self.namespace.sids_of(session.id, None):
            await self.sio.emit("notice", {"kind": "session_ended", "version": session.version},
                                to=sid)
        await self.outbox.send_state(session, [
            pid for pid, p in session.participants.items()
            if p.status is not ParticipantStatus.INVITED])
        await self.relay.close_session(session.id)
        await self._kick(session.id, None)
        await self.placement.release(session.id)

    async def _refresh_here(self, session: Session) -> None:
        """The stored state is newer than what this node's clients were sent: people
        removed or denied leave, the relay follows, timers re-arm, everyone gets a fresh
        viewer-filtered snapshot."""
        for pid, p in session.participants.items():
            if p.status in (ParticipantStatus.REMOVED, ParticipantStatus.DENIED):
                sids = self.namespace.sids_of(session.id, pid)
                for sid in sids:
                    await self.sio.emit("notice", {"kind": p.status.value,
                                                   "version": session.version}, to=sid)
                if sids:
                    await self._kick(session.id, pid)
        await self.media_sink.publish(session, [])
        await self.rooms.reconcile_media(session.id)
        await self.rooms.resume(session.id)
        await self.outbox.send_state(session, [
            pid for pid, p in session.participants.items()
            if p.status is not ParticipantStatus.INVITED])

    async def _changed_elsewhere(self, change: dict[str, Any]) -> None:
        """Another node committed a change to a session served here (a REST call):
        do what only this node can: close sockets, let the relay go, re-arm timers."""
        session_id = str(change["session"])
        if not self.placement.is_local(session_id):
            return
        session = await self.rooms.get(session_id)
        if session is None:
            return
        events = [(EventKind(kind), target) for kind, target in change["events"]]
        if any(kind is EventKind.SESSION_ENDED for kind, _ in events):
            # The committing node's notice travels through socket.io's Redis manager and
            # may arrive after the kick (or not at all): tell our sockets from here too.
            self.reconciler.forget(session_id)
            await self._end_here(session)
            return
        self.reconciler.note(session_id, int(change["version"]))
        for kind, target in events:
            if kind in ENDINGS and target:
                for sid in self.namespace.sids_of(session_id, str(target)):
                    await self.sio.emit("notice", {"kind": kind, "version": session.version},
                                        to=sid)
                await self._kick(session_id, str(target))
            elif kind is EventKind.LINK_REVOKED and target:
                await self.namespace.close_revoked(session_id, str(target))
        await self.media_sink.publish(session, [])  # people no longer present leave
        if any(kind is EventKind.VISIBILITY_CHANGED for kind, _ in events):
            await self.rooms.reconcile_media(session_id)
        await self.rooms.resume(session_id)

    async def drain(self, grace: float) -> None:
        """SIGTERM: place nothing new here; let live sessions go on for up to ``grace``
        seconds, then move the rest: release their placement and ask their people to
        reconnect, which lands them on another node with the same link, role and room."""
        await self.placement.drain()
        for _ in range(int(grace * 10)):  # bounded wait for the sessions to finish here
            if not self.namespace.connections:
                break
            await asyncio.sleep(0.1)
        moved = sorted(self.placement.local)
        for session_id in moved:
            try:
                await self.placement.release(session_id)
            except StoreError:
                log.warning("could not release a placement; it moves after the TTL",
                            extra={"session": session_id})
        await self._move(list(self.namespace.connections))
        log.info("drained", extra={"sessions": len(moved)})

    def _ice_servers_for(self, participant_id: str) -> list[dict[str, Any]]:
        """STUN/TURN from config; TURN entries get fresh time-limited credentials."""
        return client_ice_servers(self.settings.ice_servers, self.settings.secret("turn_secret"),
                                  participant_id,
                                  lifetime=self.settings.turn_credential_minutes * 60)

    async def _layout(self, session_id: str, participant_id: str,
                      payload: dict[str, Any]) -> None:
        await self._emit("media_layout", payload, socket_room(session_id, participant_id))

    def live_figures(self) -> dict[str, float]:
        """Connections, sessions and relay counters on this process, for /metrics."""
        figures: dict[str, float] = {
            "connections": len(self.namespace.connections),
            "sessions": len(self.relay.routers),
            "placed_sessions": len(self.placement.local),
            "draining": float(self.placement.draining),
        }
        for router in self.relay.routers.values():
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

    def _observe(self, event: str, outcome: str, seconds: float) -> None:
        self.metrics.events.labels(event=event, outcome=outcome).inc()
        self.metrics.ack_latency.labels(event=event).observe(seconds)

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app)

    async def _emit(self, event: str, data: Any, room: str | list[str]) -> None:
        """Send to one person's sockets (or several people's, all of one session). A
        session's sockets all live on the node it is placed on, so from there the message
        skips Redis (one publish per emit, which every node would decode); from any other
        node it goes through Redis."""
        local = self.placement.is_local(session_of_room(room if isinstance(room, str)
                                                        else room[0]))
        await self.sio.emit(event, data, room=room, ignore_queue=local)

    async def _kick(self, session_id: str, participant_id: str | None) -> None:
        """Close sockets shortly after the notice, so acks and notices reach them first.

        Until then the sockets can do nothing: their links and state already refuse.
        """
        async def later() -> None:
            await asyncio.sleep(KICK_DELAY)
            await self.namespace.kick(session_id, participant_id)

        task = asyncio.get_running_loop().create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ended(self, session_id: str) -> None:
        """Every link of the session stops; chat is purged now or after the retention."""
        await self.links.end_session(session_id)
        await self.placement.release(session_id)
        retention = self.settings.chat_retention_hours * 3600
        if retention == 0:
            await self.chat.purge(session_id)
        else:
            await self.store.put(f"chat-purge-at:{session_id}",
                                 str(time.time() + retention).encode())
            await self.store.set_add("chat-purge-pending", session_id)

    async def _gone(self, session_id: str, participant_id: str) -> None:
        """A denied or removed person's current link is revoked on every node."""
        link = await self.directory.current_link(session_id, participant_id)
        if link is not None:
            await self.links.revoke(link.jti, until=link.expires)

    async def purge_due_chats(self, now: float) -> int:
        purged = 0
        for sid in await self.store.set_members("chat-purge-pending"):
            due = await self.store.get(f"chat-purge-at:{sid}")
            if due is None or float(due.value) <= now:
                await self.chat.purge(sid)
                await self.store.delete(f"chat-purge-at:{sid}")
                await self.store.set_remove("chat-purge-pending", sid)
                purged += 1
        return purged

    async def audit(self, action: str, fields: dict[str, Any]) -> None:
        """Write a security-relevant action to the audit chain (opaque ids only)."""
        code = fields.get("code")
        if action == "link_refused":
            self.metrics.links_refused.labels(code=str(code)).inc()
        outcome = str(fields.get("outcome") or ("refused" if code else "ok"))
        try:
            await self.audit_log.write(
                action, actor=_opt(fields.get("actor")), subject=_opt(fields.get("subject")),
                session=_opt(fields.get("session")), address=_opt(fields.get("address")),
                outcome=outcome, code=_opt(code))
        except Exception:
            log.exception("audit write failed")
        log.info("audit", extra={"audit_event": action, "code": str(code)})

    async def close(self) -> None:
        for task in list(self._tasks):
            await stop_task(task, "live")
        manager = self.sio.manager
        if isinstance(manager, ResilientRedisManager):
            await manager.close()
        await self.reconciler.close()
        self.media_health.close()
        await self.placement.stop()
        if self.bus is not None:
            await self.bus.close()
        await self.rooms.close()
        await self.relay.close()


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


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
                       announce=tuple(zip(settings.media_hosts, settings.media_announce,
                                          strict=False)))  # lengths checked by Settings

"""Wiring of the live session machinery: rooms service, chat, outbox, socket.io.

Kept apart from the HTTP app factory so the one place that connects rooms,
signaling (and later media) is easy to read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from aiohttp import web

from rooms.service import RoomService
from rooms.stores import Store
from server.config import Settings
from server.directory import Directory
from server.keys import Keys
from server.metrics import Metrics
from server.wiring import create_socketio
from signaling.chat import ChatLog
from signaling.namespace import HearthNamespace
from signaling.outbox import Outbox
from signaling.registry import Registry
from signaling.service import Signaling, build_registry
from signaling.tokens import LinkSigner

log = logging.getLogger("hearth.live")
KICK_DELAY = 0.3


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
        self.rooms = RoomService(store, sinks=[self.outbox])
        self.signaling = Signaling(self.rooms, self.chat, self.outbox)
        self.registry: Registry = build_registry(self.signaling)
        self.namespace = HearthNamespace(
            self.registry, self.links, on_join=self.signaling.on_join,
            on_leave=self.signaling.on_leave, audit=self.audit,
        )
        self.sio.register_namespace(self.namespace)

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app)

    async def _emit(self, event: str, data: Any, room: str) -> None:
        await self.sio.emit(event, data, room=room)

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

    async def audit(self, event: str, fields: dict[str, Any]) -> None:
        """Security-relevant refusals, with opaque fields only (codes, ids, never tokens)."""
        if event == "link_refused":
            self.metrics.links_refused.labels(code=str(fields.get("code"))).inc()
        record = {"ts": time.time(), "event": event, **fields}
        day = time.strftime("%Y-%m-%d", time.gmtime())
        try:
            await self.store.append(f"audit:{day}", json.dumps(record).encode())
        except Exception:
            log.exception("audit write failed")
        log.warning("audit", extra={"audit_event": event, "code": str(fields.get("code"))})

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.rooms.close()

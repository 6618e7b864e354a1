"""Committed session changes, told to the node that serves the session.

Socket events run on the session's own node, but a REST call (ending a session from
the console) may land on any node. The state and every client's notices travel
through the shared store and socket.io's Redis manager; what only the serving node can
do (close its sockets, let its relay go, re-arm its timers) it learns from this bus.
Redis pub/sub is fire-and-forget, which is enough: a node that misses a message still
converges, since its people's next command or disconnect reloads the stored state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.exceptions import RedisError

from rooms.events import Event
from rooms.model import Session
from rooms.stores.redis import redis_client

log = logging.getLogger("hearth.bus")
CHANNEL = "hearth:session-changes"
Handler = Callable[[dict[str, Any]], Awaitable[None]]


class RedisBus:
    """Publishes this node's commits; hands other nodes' commits to ``handler``."""

    def __init__(self, url: str, node_id: str, *, timeout: float = 2.0) -> None:
        self._url = url
        self._node_id = node_id
        self._client: Any = redis_client(url, timeout=timeout, max_connections=32)
        self._task: asyncio.Task[None] | None = None
        self._handler: Handler | None = None

    async def publish(self, session: Session, events: Sequence[Event]) -> None:
        """A RoomService sink: announce the commit (ids, version and event kinds only)."""
        message = {
            "node": self._node_id, "session": session.id, "version": session.version,
            "events": [[e.kind, e.audience.target] for e in events],
        }
        await self._client.publish(CHANNEL, json.dumps(message))

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        self._task = asyncio.get_running_loop().create_task(self._listen_forever())

    async def _listen_forever(self) -> None:
        while True:  # a service loop: Redis may go away and come back
            try:
                await self._listen()
            except (RedisError, OSError) as exc:
                log.warning("session bus disconnected; retrying",
                            extra={"reason": type(exc).__name__})
            await asyncio.sleep(1.0)

    async def _listen(self) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                data = json.loads(message["data"])
                if data.get("node") == self._node_id or self._handler is None:
                    continue
                try:
                    await self._handler(data)
                except Exception:  # one bad message must not stop the bus
                    log.exception("session bus handler failed")
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

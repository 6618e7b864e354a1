"""Committed session changes, told to the node that serves the session.

Socket events run on the session's own node, but a REST call (ending a session from
the console) may land on any node. The state and every client's notices travel
through the shared store and socket.io's Redis manager; what only the serving node can
do (close its sockets, let its relay go, re-arm its timers) it learns from this bus.

Redis pub/sub loses what is published while a subscriber is away, so the bus is a
hint, never the truth: publishing queues (bounded) and retries until Redis answers,
and every (re)subscription, here and in socket.io's manager, calls ``on_reconnect``
so the serving node re-reads what it serves from the store (``server.reconcile``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import socketio
from redis.exceptions import RedisError

from rooms.events import Event
from rooms.model import Session
from rooms.stores.redis import redis_client
from server.tasks import STOP_WITHIN, stop_task

log = logging.getLogger("hearth.bus")
CHANNEL = "hearth:session-changes"
Handler = Callable[[dict[str, Any]], Awaitable[None]]
Hook = Callable[[], Awaitable[None]]
# Messages kept while Redis is away. A message dropped past this is only a hint lost:
# the serving node's reconcile pass reads the store on its next heartbeat.
QUEUE_LIMIT = 1000
RETRY_FIRST, RETRY_MAX = 0.05, 0.5  # seconds between attempts, doubling


def _backoff(delay: float) -> float:
    return min(RETRY_MAX, delay * 2)


class RedisBus:
    """Publishes this node's commits; hands other nodes' commits to ``handler``."""

    def __init__(self, url: str, node_id: str, *, timeout: float = 2.0,
                 queue_limit: int = QUEUE_LIMIT) -> None:
        self._url = url
        self._node_id = node_id
        self._client: Any = redis_client(url, timeout=timeout, max_connections=32)
        self._task: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._handler: Handler | None = None
        self.on_reconnect: Hook | None = None
        self._queue: collections.deque[str] = collections.deque()
        self._queue_limit = queue_limit
        self._wake = asyncio.Event()
        self.dropped = 0  # messages given up because the queue was full

    async def publish(self, session: Session, events: Sequence[Event]) -> None:
        """A RoomService sink: queue the commit's announcement (ids, version and event
        kinds only); the sender delivers it, retrying while Redis is away."""
        message = {
            "node": self._node_id, "session": session.id, "version": session.version,
            "events": [[e.kind, e.audience.target] for e in events],
        }
        if len(self._queue) >= self._queue_limit:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("session bus queue full; oldest hint dropped",
                            extra={"dropped": self.dropped})
        self._queue.append(json.dumps(message))
        self._wake.set()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_forever())

    @property
    def pending(self) -> int:
        """Messages not yet accepted by Redis."""
        return len(self._queue)

    async def _send_forever(self) -> None:
        delay = RETRY_FIRST
        failing = False
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._client.publish(CHANNEL, self._queue[0])
            except (RedisError, OSError) as exc:
                if not failing:
                    log.warning("session bus publish failed; retrying",
                                extra={"reason": type(exc).__name__, "queued": self.pending})
                failing = True
                await asyncio.sleep(delay)
                delay = _backoff(delay)
                continue
            if self._queue:
                self._queue.popleft()
            if failing:
                log.info("session bus publishing again")
            failing, delay = False, RETRY_FIRST

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        self._task = asyncio.get_running_loop().create_task(self._listen_forever())

    async def _listen_forever(self) -> None:
        delay = RETRY_FIRST
        subscribed_before = False
        while True:  # a service loop: Redis may go away and come back
            try:
                await self._listen(subscribed_before)
            except (RedisError, OSError) as exc:
                log.warning("session bus disconnected; retrying",
                            extra={"reason": type(exc).__name__})
            subscribed_before = True
            await asyncio.sleep(delay)
            delay = _backoff(delay)

    async def _listen(self, again: bool) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            if again and self.on_reconnect is not None:
                await _run_hook(self.on_reconnect, "session bus")
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
        await stop_task(self._task, "session bus listener")
        await stop_task(self._sender, "session bus sender")
        with contextlib.suppress(RedisError, OSError):
            await asyncio.wait_for(self._client.aclose(), STOP_WITHIN)


async def _run_hook(hook: Hook, where: str) -> None:
    try:
        await hook()
    except Exception:  # the hook is a catch-up pass; the next heartbeat runs it again
        log.exception("reconnect hook failed", extra={"where": where})


class ResilientRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """socket.io's Redis manager with a fast listener reconnect.

    The stock listener backs off 1, 2, 4, 8 … 60 s after a Redis restart, and every
    message other nodes publish meanwhile is lost. This one retries within half a
    second and calls ``on_reconnect`` after each re-subscription, so the node can
    re-send what its clients may have missed.
    """

    on_reconnect: Hook | None = None
    redis: Any
    pubsub: Any
    thread: Any  # the listener task (python-socketio's name for it)

    async def close(self) -> None:
        """Stop the listener and close its connections (python-socketio leaves both
        running at shutdown: a test's event loop then closes under a live pub/sub)."""
        await stop_task(getattr(self, "thread", None), "socket.io redis listener")
        for conn in (getattr(self, "pubsub", None), getattr(self, "redis", None)):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.aclose(), STOP_WITHIN)

    async def _redis_listen_with_retries(self) -> Any:  # pragma: no cover - I/O loop
        delay = RETRY_FIRST
        subscribed = False
        ever = False
        while True:
            try:
                if not subscribed:
                    if self.redis is None:
                        self._redis_connect()
                    else:  # keep the publishing pool; only the subscription is new
                        with contextlib.suppress(Exception):
                            await self.pubsub.aclose()
                        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    delay = RETRY_FIRST
                    if ever and self.on_reconnect is not None:
                        await _run_hook(self.on_reconnect, "socket.io manager")
                    ever = True
                async for message in self.pubsub.listen():
                    yield message
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("socket.io listener disconnected; retrying",
                            extra={"reason": type(exc).__name__, "seconds": delay})
                subscribed = False
                await asyncio.sleep(delay)
                delay = _backoff(delay)

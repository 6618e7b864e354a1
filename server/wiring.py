"""The one place that chooses backends: embedded SQLite, or Redis when configured."""

from __future__ import annotations

from typing import Any

import socketio

from rooms.stores import Store
from rooms.stores.redis import RedisStore
from rooms.stores.sqlite import SqliteStore
from server.bus import ResilientRedisManager
from server.config import Settings


def create_store(settings: Settings) -> Store:
    redis_url = settings.secret("redis_url")
    if redis_url:
        return RedisStore(redis_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStore(settings.data_dir / "hearth.db")


SOCKETIO_REDIS_CONNECTIONS = 1024


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

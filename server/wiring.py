"""The one place that chooses backends: embedded SQLite, or Redis when configured."""

from __future__ import annotations

from rooms.stores import Store
from rooms.stores.redis import RedisStore
from rooms.stores.sqlite import SqliteStore
from server.config import Settings


def create_store(settings: Settings) -> Store:
    redis_url = settings.secret("redis_url")
    if redis_url:
        return RedisStore(redis_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStore(settings.data_dir / "hearth.db")

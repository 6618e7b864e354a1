"""Redis store: shared state for several processes and nodes.

Versioned values are hashes ``{v: value, n: version}`` written by one Lua
script, so compare-and-set is atomic on the server. Connection failures become
StoreUnavailable so that callers fail closed with a clear error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from rooms.stores.base import StoreError, StoreUnavailable, Versioned

# KEYS[1]=key; ARGV: value, expected version (-1 = unconditional), ttl in ms (0 = none).
_WRITE = """
local raw = redis.call('HGET', KEYS[1], 'n')
local cur = 0
if raw then cur = tonumber(raw) end
local expected = tonumber(ARGV[2])
if expected >= 0 and cur ~= expected then return -1 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'n', cur + 1)
if tonumber(ARGV[3]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('PERSIST', KEYS[1])
end
return cur + 1
"""

# KEYS[1]=list; ARGV: index, expected item, new item. 1 if replaced, 0 if it changed.
_REPLACE_ITEM = """
if redis.call('LINDEX', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


# Commands in flight at once per process. redis-py's default pool raises "Too many
# connections" past 100 instead of waiting, which turned a burst of 1,000 joining
# clients into `unavailable` acks (bench.signaling); a blocking pool queues instead,
# for up to ``POOL_WAIT`` seconds, then fails closed like any other outage.
POOL_SIZE = 128
POOL_WAIT = 5.0


def redis_client(url: str, *, timeout: float, max_connections: int = POOL_SIZE) -> Any:
    """A client on a bounded, blocking connection pool with I/O timeouts."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=POOL_WAIT,
        socket_timeout=timeout, socket_connect_timeout=timeout)
    return aioredis.Redis.from_pool(pool)


def _first_line(exc: Exception) -> str:
    lines = str(exc).splitlines()
    return lines[0][:160] if lines else ""


class RedisStore:
    """The shared backend, chosen when ``HEARTH_REDIS_URL`` is set."""

    def __init__(self, url: str, *, prefix: str = "hearth:", timeout: float = 2.0) -> None:
        self._prefix = prefix
        self._client: Any = redis_client(url, timeout=timeout)
        self._write_script = self._client.register_script(_WRITE)
        self._replace_script = self._client.register_script(_REPLACE_ITEM)

    def _k(self, key: str) -> str:
        return self._prefix + key

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(f"redis unreachable: {type(exc).__name__}") from exc
        except RedisError as exc:
            # Redis's own first line names the cause (``MISCONF … unable to persist to
            # disk``, ``OOM command not allowed``, ``READONLY``); it carries no keys.
            raise StoreError(f"redis error: {type(exc).__name__}: {_first_line(exc)}") from exc

    async def get(self, key: str) -> Versioned | None:
        async with self._guard():
            value, version = await self._client.hmget(self._k(key), ["v", "n"])
        if version is None:
            return None
        return Versioned(bytes(value), int(version))

    async def _write(
        self, key: str, value: bytes, expected: int, ttl: float | None
    ) -> int | None:
        ttl_ms = 0 if ttl is None else max(1, int(ttl * 1000))
        async with self._guard():
            result = int(
                await self._write_script(keys=[self._k(key)], args=[value, expected, ttl_ms])
            )
        return None if result < 0 else result

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        version = await self._write(key, value, -1, ttl)
        assert version is not None
        return version

    async def cas(
        self, key: str, value: bytes, *, expected_version: int, ttl: float | None = None
    ) -> int | None:
        return await self._write(key, value, expected_version, ttl)

    async def add_once(self, key: str, value: bytes = b"", *, ttl: float | None = None) -> bool:
        return await self._write(key, value, 0, ttl) is not None

    async def delete(self, key: str) -> None:
        async with self._guard():
            await self._client.delete(self._k(key))

    async def append(self, key: str, value: bytes) -> int:
        async with self._guard():
            return int(await self._client.rpush(self._k(key), value))

    async def range(self, key: str, start: int = 0, stop: int = -1) -> list[bytes]:
        async with self._guard():
            return [bytes(v) for v in await self._client.lrange(self._k(key), start, stop)]

    async def replace_item(self, key: str, index: int, old: bytes, new: bytes) -> bool:
        if index < 0:
            return False
        async with self._guard():
            return int(await self._replace_script(keys=[self._k(key)],
                                                  args=[index, old, new])) == 1

    async def set_add(self, key: str, member: str) -> None:
        async with self._guard():
            await self._client.sadd(self._k(key), member)

    async def set_remove(self, key: str, member: str) -> None:
        async with self._guard():
            await self._client.srem(self._k(key), member)

    async def set_members(self, key: str) -> set[str]:
        async with self._guard():
            return {m.decode() for m in await self._client.smembers(self._k(key))}

    async def ping(self) -> None:
        async with self._guard():
            await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()

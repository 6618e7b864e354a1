"""Shared fixtures: a real redis-server on a free port, and stores on both backends."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from rooms.stores import Store


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def adjacent_free_ports() -> int:
    """A port P on loopback with P+1 free too (for `--workers 2`; bounded search)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two adjacent free ports")


class RedisServer:
    """A throwaway redis-server bound to loopback, with a password."""

    password = "test-redis-password"

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `apt-get install -y redis-server`")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(tmp),
                "--requirepass", self.password,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.proc.kill()
        pytest.fail("redis-server did not start within 10 s")

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


_db_counter = iter(range(1, 10_000))
_live_db = iter(range(10_000))


@pytest.fixture(params=["sqlite", "redis", "memory"])
async def any_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Store]:
    """The same test runs against the embedded store, a real Redis and the in-memory store."""
    store: Store
    if request.param == "memory":
        from rooms.stores.memory import MemoryStore

        store = MemoryStore()
    elif request.param == "sqlite":
        from rooms.stores.sqlite import SqliteStore

        store = SqliteStore(tmp_path / "hearth.db")
    else:
        from rooms.stores.redis import RedisStore

        server: RedisServer = request.getfixturevalue("redis_server")
        # Each test gets its own key prefix so tests never see each other's data.
        store = RedisStore(server.url, prefix=f"t{next(_db_counter)}:")
    await store.ping()
    yield store
    await store.close()


def fresh_redis_db(server: RedisServer) -> str:
    """The URL of an emptied Redis database for one test's apps. Tests run one after
    another: each gets the next database of 1..15 (0 holds the prefixed store
    fixtures), so no test reads another's clinic settings, staff or records."""
    import redis

    url = server.url.replace("/0", f"/{next(_live_db) % 15 + 1}")
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture(params=["sqlite", "redis"])
async def live(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A live Hearth (REST + socket.io) on either store backend, for the suites that
    drive it as clients do (signaling, program, records)."""
    from tests.signaling.harness import start_live  # the harness imports this module

    url = None
    if request.param == "redis":
        url = fresh_redis_db(request.getfixturevalue("redis_server"))
    live = await start_live(tmp_path, request.param, url)
    yield live
    await live.close()

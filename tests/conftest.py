"""Shared fixtures: a real redis-server on a free port, and stores on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from rooms.stores import Store
from testkit.live import start_live
from testkit.servers import RedisServer


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    """Argon2id at its lowest cost for the accounts of in-process servers: real hashing
    and verifying, without the production cost (about 0.4 s a sign-in on two shared
    cores, paid by almost every test). Served processes (`hearth serve`) keep the
    production cost; the dummy hash an unknown name is verified against is made cheap
    too, so a miss costs what a hit does here as well."""
    from argon2 import PasswordHasher

    from server import accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "_hasher", cheap)
        patch.setattr(accounts, "_DUMMY_HASH", cheap.hash("not-a-real-password-" + "x" * 16))
        yield


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


_db_counter = iter(range(1, 10_000))


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


@pytest.fixture(params=["sqlite", "redis"])
async def live(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A live Hearth (REST + socket.io) on either store backend, for the suites that
    drive it as clients do (signaling, program, records)."""
    url = None
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").fresh_url()
    live = await start_live(tmp_path, request.param, url)
    yield live
    await live.close()

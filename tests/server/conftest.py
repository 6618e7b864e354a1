"""An in-process Hearth app on loopback, on either store backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.config import Settings, load_settings
from testkit.servers import RedisServer

AppClient = Callable[..., Coroutine[Any, Any, TestClient[Any, Any]]]


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_client(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> AsyncIterator[AppClient]:
    clients: list[TestClient[Any, Any]] = []
    counter = iter(range(1000))
    redis_url: list[str] = []  # one emptied database per test, shared by its apps

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        values: dict[str, Any] = {
            "data_dir": tmp_path / f"data{next(counter)}",
            "public_url": "https://hearth.test",
            "tls": False,
            **overrides,
        }
        if backend == "redis" and "redis_url" not in values:
            if not redis_url:
                server: RedisServer = request.getfixturevalue("redis_server")
                redis_url.append(server.fresh_url())
            values["redis_url"] = redis_url[0]
        settings: Settings = load_settings({}, values)
        client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()

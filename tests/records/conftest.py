from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import RedisServer
from tests.signaling.harness import Live, start_live


@pytest.fixture(params=["sqlite", "redis"])
async def live(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Live]:
    url = None
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        url = server.url.replace("/0", f"/{uuid.uuid4().int % 15 + 1}")
    live = await start_live(tmp_path, request.param, url)
    yield live
    await live.close()

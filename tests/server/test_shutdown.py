"""Shutdown is bounded: every background task is cancelled and awaited, with a time
limit, and one that will not stop is named in the log instead of holding the exit."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from server.appkeys import LIVE
from server.tasks import stop_task
from testkit.live import start_live
from testkit.servers import RedisServer


async def test_a_task_that_ignores_cancel_is_left_after_the_limit_and_named(
        caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue  # as a retry loop that catches too much would

    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="hearth.tasks"):
        assert await stop_task(task, "stubborn loop", within=0.2) is False
    assert "did not stop" in caplog.text
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.done()


async def test_a_cancelled_task_is_awaited() -> None:
    task = asyncio.ensure_future(asyncio.sleep(10))
    await asyncio.sleep(0)
    assert await stop_task(task, "sleeper") is True
    assert task.cancelled()


async def test_redis_live_server_stops_every_listener(tmp_path: Path,
                                                      redis_server: RedisServer) -> None:
    live = await start_live(tmp_path, "redis", redis_server.fresh_url())
    hearth = live.app[LIVE]
    knock = await live.client("not-a-link", connect=False)
    assert await knock.refused() == "invalid_token"  # the first socket starts the listener
    listener = hearth.sio.manager.thread
    assert not listener.done()
    await live.close()
    # socket.io's Redis listener (python-socketio leaves it running), the session bus
    # and the placement heartbeat are all over once the server is closed.
    assert listener.done()
    assert hearth.bus is not None
    assert all(t is None or t.done() for t in (hearth.bus._task, hearth.bus._sender))
    assert hearth.placement._task is None or hearth.placement._task.done()

"""Chat at rest: AES-GCM sealed, bound to its session and scope, purged on end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rooms.stores import Store
from signaling.chat import ChatLog, sweep_retention
from testkit.live import start_live


async def test_history_round_trip_and_ciphertext_at_rest(any_store: Store) -> None:
    log = ChatLog(any_store, AESGCM(AESGCM.generate_key(256)))
    for i in range(3):
        await log.append("s1", "main", sender="p1", sender_name="Canary Name",
                         sender_role="client", text=f"secret canary {i}")
    history = await log.history("s1", "main")
    assert [m.text for m in history] == ["secret canary 0", "secret canary 1", "secret canary 2"]
    raw = b"".join(await any_store.range("chat:s1:main"))
    assert b"canary" not in raw
    assert b"Canary" not in raw
    assert await log.history("s1", "breakout:b1") == []


async def test_ciphertext_moved_to_other_scope_does_not_open(any_store: Store) -> None:
    log = ChatLog(any_store, AESGCM(AESGCM.generate_key(256)))
    await log.append("s1", "breakout:a", sender="p1", sender_name="A", sender_role="client",
                     text="only for room a")
    (sealed,) = await any_store.range("chat:s1:breakout:a")
    await any_store.append("chat:s1:breakout:b", sealed)
    await any_store.append("chat:s2:breakout:a", sealed)
    assert await log.history("s1", "breakout:b") == []
    assert await log.history("s2", "breakout:a") == []


async def test_other_key_cannot_read(any_store: Store) -> None:
    await ChatLog(any_store, AESGCM(AESGCM.generate_key(256))).append(
        "s1", "main", sender="p", sender_name="n", sender_role="client", text="x")
    assert await ChatLog(any_store, AESGCM(AESGCM.generate_key(256))).history("s1", "main") == []


async def test_history_limit_keeps_latest(any_store: Store) -> None:
    log = ChatLog(any_store, AESGCM(AESGCM.generate_key(256)))
    for i in range(12):
        await log.append("s1", "main", sender="p", sender_name="n", sender_role="client",
                         text=str(i))
    assert [m.text for m in await log.history("s1", "main", limit=5)] == [
        "7", "8", "9", "10", "11"]


async def test_purge_removes_every_scope(any_store: Store) -> None:
    log = ChatLog(any_store, AESGCM(AESGCM.generate_key(256)))
    for scope in ("main", "breakout:a", "private:p1"):
        await log.append("s1", scope, sender="p", sender_name="n", sender_role="client", text="x")
    await log.append("s2", "main", sender="p", sender_name="n", sender_role="client", text="keep")
    await log.purge("s1")
    for scope in ("main", "breakout:a", "private:p1"):
        assert await log.history("s1", scope) == []
    assert [m.text for m in await log.history("s2", "main")] == ["keep"]


async def test_expire_purges_now_or_once_the_retention_passed(any_store: Store) -> None:
    log = ChatLog(any_store, AESGCM(AESGCM.generate_key(256)))
    for sid in ("now", "later"):
        await log.append(sid, "main", sender="p", sender_name="n", sender_role="client",
                         text="x")
    await log.expire("now", 0, now=1000.0)
    await log.expire("later", 3600, now=1000.0)
    assert await log.history("now", "main") == []
    assert await log.purge_due(now=1000.0 + 3599) == 0
    assert [m.text for m in await log.history("later", "main")] == ["x"]
    assert await log.purge_due(now=1000.0 + 3600) == 1
    assert await log.history("later", "main") == []
    assert await log.purge_due(now=1000.0 + 7200) == 0


async def test_the_retention_sweep_purges_once_due(any_store: Store) -> None:
    log = ChatLog(any_store, AESGCM(AESGCM.generate_key(256)))
    await log.append("s", "main", sender="p", sender_name="n", sender_role="client",
                     text="x")
    await log.expire("s", 3600, now=1000.0)
    clock = [1000.0 + 10]
    sweep = asyncio.create_task(sweep_retention(log, 0.01, clock=lambda: clock[0]))
    try:
        for _ in range(5):  # several sweeps before it is due: kept
            await asyncio.sleep(0.02)
        assert [m.text for m in await log.history("s", "main")] == ["x"]
        clock[0] = 1000.0 + 3600
        for _ in range(500):
            if not await log.history("s", "main"):
                break
            await asyncio.sleep(0.01)
        assert await log.history("s", "main") == []
    finally:
        sweep.cancel()


@pytest.mark.parametrize("hours", [0, 24])
async def test_a_server_with_a_retention_runs_the_sweep(tmp_path: Path, hours: int) -> None:
    live = await start_live(tmp_path, "sqlite", None, chat_retention_hours=hours)
    try:
        names = {t.get_name() for t in asyncio.all_tasks()}
        assert ("chat-retention-sweep" in names) is (hours > 0)
    finally:
        await live.close()
    assert "chat-retention-sweep" not in {t.get_name() for t in asyncio.all_tasks()}

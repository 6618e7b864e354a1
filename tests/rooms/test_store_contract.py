"""One contract for every Store backend: the embedded SQLite file and a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from rooms.stores import Store, StoreUnavailable, Versioned


async def test_get_absent_is_none(any_store: Store) -> None:
    assert await any_store.get("nope") is None


async def test_put_then_get_bumps_version(any_store: Store) -> None:
    assert await any_store.put("k", b"one") == 1
    assert await any_store.put("k", b"two") == 2
    assert await any_store.get("k") == Versioned(b"two", 2)


async def test_cas_only_writes_at_expected_version(any_store: Store) -> None:
    assert await any_store.cas("k", b"a", expected_version=0) == 1
    assert await any_store.cas("k", b"b", expected_version=0) is None
    assert await any_store.cas("k", b"c", expected_version=5) is None
    assert await any_store.get("k") == Versioned(b"a", 1)
    assert await any_store.cas("k", b"d", expected_version=1) == 2
    assert await any_store.get("k") == Versioned(b"d", 2)


async def test_concurrent_cas_exactly_one_wins(any_store: Store) -> None:
    await any_store.put("k", b"base")
    results = await asyncio.gather(
        *(any_store.cas("k", str(i).encode(), expected_version=1) for i in range(8))
    )
    winners = [r for r in results if r is not None]
    assert winners == [2]
    got = await any_store.get("k")
    assert got is not None
    assert got.version == 2


async def test_binary_values_round_trip(any_store: Store) -> None:
    blob = bytes(range(256)) * 4
    await any_store.put("bin", blob)
    got = await any_store.get("bin")
    assert got is not None
    assert got.value == blob


async def test_ttl_expires(any_store: Store) -> None:
    await any_store.put("short", b"x", ttl=1.0)
    await any_store.put("long", b"y", ttl=60)
    assert await any_store.get("short") is not None
    for _ in range(100):  # bounded wait for expiry, not a timing assertion
        if await any_store.get("short") is None:
            break
        await asyncio.sleep(0.05)
    assert await any_store.get("short") is None
    assert await any_store.get("long") is not None


async def test_put_without_ttl_clears_previous_ttl(any_store: Store) -> None:
    await any_store.put("k", b"x", ttl=1.0)
    await any_store.put("k", b"y")
    await asyncio.sleep(1.5)
    assert await any_store.get("k") == Versioned(b"y", 2)


async def test_add_once_is_one_time(any_store: Store) -> None:
    assert await any_store.add_once("jti:1", ttl=60) is True
    assert await any_store.add_once("jti:1", ttl=60) is False
    assert await any_store.get("jti:1") is not None


async def test_add_once_after_expiry_succeeds_again(any_store: Store) -> None:
    assert await any_store.add_once("once", ttl=0.1) is True
    for _ in range(50):
        if await any_store.get("once") is None:
            break
        await asyncio.sleep(0.05)
    assert await any_store.add_once("once", ttl=0.1) is True


async def test_replace_item_only_where_the_item_is_unchanged(any_store: Store) -> None:
    for item in (b"a", b"b", b"c"):
        await any_store.append("l", item)
    assert await any_store.replace_item("l", 1, b"b", b"B") is True
    assert await any_store.replace_item("l", 1, b"b", b"X") is False  # it changed meanwhile
    assert await any_store.replace_item("l", 3, b"", b"X") is False  # past the end
    assert await any_store.replace_item("l", -1, b"c", b"X") is False
    assert await any_store.replace_item("missing", 0, b"a", b"X") is False
    await any_store.append("l", b"d")  # appends go on as before
    assert await any_store.range("l") == [b"a", b"B", b"c", b"d"]


async def test_lists_append_and_range(any_store: Store) -> None:
    assert await any_store.range("chat") == []
    for i in range(5):
        assert await any_store.append("chat", f"m{i}".encode()) == i + 1
    assert await any_store.range("chat") == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert await any_store.range("chat", 1, 2) == [b"m1", b"m2"]
    assert await any_store.range("chat", -2) == [b"m3", b"m4"]


async def test_sets(any_store: Store) -> None:
    await any_store.set_add("s", "a")
    await any_store.set_add("s", "b")
    await any_store.set_add("s", "a")
    assert await any_store.set_members("s") == {"a", "b"}
    await any_store.set_remove("s", "a")
    await any_store.set_remove("s", "zzz")
    assert await any_store.set_members("s") == {"b"}
    assert await any_store.set_members("empty") == set()


async def test_delete_removes_every_kind(any_store: Store) -> None:
    await any_store.put("v", b"x")
    await any_store.append("l", b"x")
    await any_store.set_add("s", "x")
    for key in ("v", "l", "s", "never-existed"):
        await any_store.delete(key)
    assert await any_store.get("v") is None
    assert await any_store.range("l") == []
    assert await any_store.set_members("s") == set()


async def test_embedded_store_survives_restart(tmp_path: pytest.TempPathFactory) -> None:
    from rooms.stores.sqlite import SqliteStore

    path = tmp_path / "restart.db"  # type: ignore[operator]
    first = SqliteStore(path)
    await first.put("account:ana", b"hash")
    await first.append("chat", b"hello")
    await first.set_add("sessions", "s1")
    await first.close()
    second = SqliteStore(path)
    assert await second.get("account:ana") == Versioned(b"hash", 1)
    assert await second.range("chat") == [b"hello"]
    assert await second.set_members("sessions") == {"s1"}
    await second.close()


async def test_redis_unreachable_raises_store_unavailable() -> None:
    from rooms.stores.redis import RedisStore
    from testkit.servers import free_port

    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    with pytest.raises(StoreUnavailable):
        await store.ping()
    with pytest.raises(StoreUnavailable):
        await store.get("k")
    await store.close()


async def test_a_burst_beyond_the_connection_pool_waits_instead_of_failing(
    any_store: Store,
) -> None:
    """1,000 clients joining at once put hundreds of commands in flight (bench.signaling);
    with redis-py's default pool the 101st failed with "Too many connections"."""
    written = await asyncio.gather(*(any_store.put(f"burst:{i}", b"v") for i in range(400)))
    assert written == [1] * 400
    values = await asyncio.gather(*(any_store.get(f"burst:{i}") for i in range(400)))
    assert all(v is not None and v.value == b"v" for v in values)


async def test_memory_store_is_a_store_and_refuses_after_close() -> None:
    from rooms.stores.memory import MemoryStore

    store = MemoryStore()
    assert isinstance(store, Store)
    await store.put("k", b"v")
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.get("k")


async def test_memory_store_expiry_follows_its_clock() -> None:
    from rooms.stores.memory import MemoryStore

    now = [100.0]
    store = MemoryStore(clock=lambda: now[0])
    assert await store.add_once("once", ttl=5) is True
    now[0] += 4.9
    assert await store.add_once("once", ttl=5) is False
    now[0] += 0.2
    assert await store.get("once") is None
    assert await store.add_once("once", ttl=5) is True

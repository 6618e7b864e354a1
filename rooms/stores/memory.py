"""In-memory store: the Store contract in one process's dictionaries.

For fast unit tests and single-process tools that need no durability: it passes the
same contract suite as the embedded and Redis stores (``tests/rooms/test_store_contract.py``).
Every operation completes without awaiting, so each one is atomic on the event loop,
which is what compare-and-set needs. Nothing survives the process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rooms.stores.base import StoreUnavailable, Versioned


class MemoryStore:
    """Versioned values with expiry, lists and sets, held in memory."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._values: dict[str, tuple[bytes, int, float | None]] = {}  # value, version, expiry
        self._lists: dict[str, list[bytes]] = {}
        self._sets: dict[str, set[str]] = {}
        self._closed = False

    def _open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the store is closed")

    def _current(self, key: str) -> tuple[bytes, int] | None:
        found = self._values.get(key)
        if found is None:
            return None
        value, version, expires = found
        if expires is not None and expires <= self._clock():
            del self._values[key]
            return None
        return value, version

    def _write(self, key: str, value: bytes, expected: int | None,
               ttl: float | None) -> int | None:
        self._open()
        current = self._current(key)
        version = 0 if current is None else current[1]
        if expected is not None and version != expected:
            return None
        expires = None if ttl is None else self._clock() + ttl
        self._values[key] = (bytes(value), version + 1, expires)
        return version + 1

    async def get(self, key: str) -> Versioned | None:
        self._open()
        current = self._current(key)
        return None if current is None else Versioned(*current)

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        version = self._write(key, value, None, ttl)
        assert version is not None
        return version

    async def cas(
        self, key: str, value: bytes, *, expected_version: int, ttl: float | None = None
    ) -> int | None:
        return self._write(key, value, expected_version, ttl)

    async def add_once(self, key: str, value: bytes = b"", *, ttl: float | None = None) -> bool:
        return self._write(key, value, 0, ttl) is not None

    async def delete(self, key: str) -> None:
        self._open()
        self._values.pop(key, None)
        self._lists.pop(key, None)
        self._sets.pop(key, None)

    async def append(self, key: str, value: bytes) -> int:
        self._open()
        items = self._lists.setdefault(key, [])
        items.append(bytes(value))
        return len(items)

    async def range(self, key: str, start: int = 0, stop: int = -1) -> list[bytes]:
        self._open()
        items = self._lists.get(key, [])
        return items[start:None if stop == -1 else stop + 1]

    async def replace_item(self, key: str, index: int, old: bytes, new: bytes) -> bool:
        self._open()
        items = self._lists.get(key, [])
        if not 0 <= index < len(items) or items[index] != old:
            return False
        items[index] = bytes(new)
        return True

    async def set_add(self, key: str, member: str) -> None:
        self._open()
        self._sets.setdefault(key, set()).add(member)

    async def set_remove(self, key: str, member: str) -> None:
        self._open()
        members = self._sets.get(key)
        if members is not None:
            members.discard(member)

    async def set_members(self, key: str) -> set[str]:
        self._open()
        return set(self._sets.get(key, ()))

    async def ping(self) -> None:
        self._open()

    async def close(self) -> None:
        self._closed = True

"""The store Protocol shared by the embedded and Redis backends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class StoreError(Exception):
    """Base class for storage failures."""


class StoreUnavailable(StoreError):
    """The backend cannot be reached; callers fail closed."""


@dataclass(frozen=True, slots=True)
class Versioned:
    """A stored value with its version; versions start at 1 and only grow."""

    value: bytes
    version: int


class Aead(Protocol):
    """Authenticated encryption as repositories seal values at rest: AES-GCM from the
    cryptography package, or the data-key ring that also opens older keys' values."""

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


@runtime_checkable
class Store(Protocol):
    """Async key-value primitives. Keys are opaque strings chosen by repositories.

    ``ttl`` is in seconds; ``None`` means the entry never expires.
    """

    async def get(self, key: str) -> Versioned | None:
        """Return the value and version, or None when absent or expired."""
        ...

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        """Write unconditionally; return the new version."""
        ...

    async def cas(
        self, key: str, value: bytes, *, expected_version: int, ttl: float | None = None
    ) -> int | None:
        """Write only if the current version equals ``expected_version``.

        ``expected_version=0`` means "only if absent". Returns the new version,
        or None on a conflict (nothing written).
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove a value, list or set under ``key``; absent keys are fine."""
        ...

    async def add_once(self, key: str, value: bytes = b"", *, ttl: float | None = None) -> bool:
        """Set ``key`` only if absent. True if this call created it (one-time use)."""
        ...

    async def append(self, key: str, value: bytes) -> int:
        """Append to the list at ``key``; return its new length."""
        ...

    async def range(self, key: str, start: int = 0, stop: int = -1) -> list[bytes]:
        """List items from ``start`` to ``stop`` inclusive (negative counts from the end)."""
        ...

    async def replace_item(self, key: str, index: int, old: bytes, new: bytes) -> bool:
        """Set list item ``index`` to ``new`` only if it still holds ``old`` (a re-seal
        under a new data key); appends elsewhere in the list are unaffected."""
        ...

    async def set_add(self, key: str, member: str) -> None:
        """Add a member to the set at ``key``."""
        ...

    async def set_remove(self, key: str, member: str) -> None:
        """Remove a member from the set at ``key``."""
        ...

    async def set_members(self, key: str) -> set[str]:
        """All members of the set at ``key``."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable if the backend cannot serve requests."""
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...


class StoreWrapper:
    """A Store that hands every call to ``inner``: the base of wrappers that change a
    few calls (sealing values, watching writes) and must pass the rest through."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    async def get(self, key: str) -> Versioned | None:
        return await self.inner.get(key)

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        return await self.inner.put(key, value, ttl=ttl)

    async def cas(
        self, key: str, value: bytes, *, expected_version: int, ttl: float | None = None
    ) -> int | None:
        return await self.inner.cas(key, value, expected_version=expected_version, ttl=ttl)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def add_once(self, key: str, value: bytes = b"", *, ttl: float | None = None) -> bool:
        return await self.inner.add_once(key, value, ttl=ttl)

    async def append(self, key: str, value: bytes) -> int:
        return await self.inner.append(key, value)

    async def range(self, key: str, start: int = 0, stop: int = -1) -> list[bytes]:
        return await self.inner.range(key, start, stop)

    async def replace_item(self, key: str, index: int, old: bytes, new: bytes) -> bool:
        return await self.inner.replace_item(key, index, old, new)

    async def set_add(self, key: str, member: str) -> None:
        await self.inner.set_add(key, member)

    async def set_remove(self, key: str, member: str) -> None:
        await self.inner.set_remove(key, member)

    async def set_members(self, key: str) -> set[str]:
        return await self.inner.set_members(key)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


async def rewrite_list(store: Store, key: str, rewrite: Callable[[bytes], bytes]) -> int:
    """Rewrite every item of a list in place (a re-seal under a new data key); an item
    changed meanwhile is left as it is. Returns how many items were rewritten."""
    done = 0
    for index, item in enumerate(await store.range(key)):
        done += await store.replace_item(key, index, item, rewrite(item))
    return done

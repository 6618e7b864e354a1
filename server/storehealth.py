"""The store as the operator sees it: a refused write is visible, not just a 503 somewhere.

A full disk (SQLite's ``database or disk is full``, Redis's ``MISCONF``) leaves reads and
pings working, so a ping alone says "ready" while every write fails. This wrapper sits
in front of the real store: a refused write marks the store unavailable with its cause
until a write succeeds again (the placement heartbeat writes every second), logs the
cause once per transition, and counts refused writes by a bounded cause label.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter

from rooms.stores import Store, StoreError, StoreWrapper

log = logging.getLogger("hearth.store")
T = TypeVar("T")
CAUSES = ("disk_full", "unreachable", "read_only", "other")


def cause_label(cause: str) -> str:
    """A bounded label for a store error message (no ids, nothing clinical)."""
    text = cause.lower()
    if "disk is full" in text or "no space" in text or "misconf" in text or "oom" in text:
        return "disk_full"
    if "unreachable" in text or "connect" in text or "timeout" in text:
        return "unreachable"
    if "readonly" in text or "read-only" in text or "read only" in text:
        return "read_only"
    return "other"


class WatchedStore(StoreWrapper):
    """A Store that remembers whether its last write was refused, and why (reads pass
    through)."""

    def __init__(self, inner: Store, registry: CollectorRegistry | None = None,
                 *, on_change: Callable[[str | None], None] | None = None) -> None:
        super().__init__(inner)
        self.write_error: str | None = None
        self._on_change = on_change
        self.refused = Counter(
            "hearth_store_writes_refused_total",
            "Store writes refused (full disk, store unreachable, read-only), by cause",
            ["cause"], registry=registry)
        for label in CAUSES:
            self.refused.labels(cause=label)

    async def _write(self, op: Awaitable[T]) -> T:
        try:
            result = await op
        except StoreError as exc:
            cause = str(exc) or type(exc).__name__
            self.refused.labels(cause=cause_label(cause)).inc()
            if self.write_error != cause:
                log.error("store refusing writes", extra={"reason": cause})
                self._set(cause)
            raise
        if self.write_error is not None:
            log.warning("store accepting writes again", extra={"after": self.write_error})
            self._set(None)
        return result

    def _set(self, cause: str | None) -> None:
        self.write_error = cause
        if self._on_change is not None:
            self._on_change(cause)

    # --- writes are watched -------------------------------------------------------
    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        return await self._write(self.inner.put(key, value, ttl=ttl))

    async def cas(
        self, key: str, value: bytes, *, expected_version: int, ttl: float | None = None
    ) -> int | None:
        return await self._write(
            self.inner.cas(key, value, expected_version=expected_version, ttl=ttl))

    async def delete(self, key: str) -> None:
        await self._write(self.inner.delete(key))

    async def add_once(self, key: str, value: bytes = b"", *, ttl: float | None = None) -> bool:
        return await self._write(self.inner.add_once(key, value, ttl=ttl))

    async def append(self, key: str, value: bytes) -> int:
        return await self._write(self.inner.append(key, value))

    async def replace_item(self, key: str, index: int, old: bytes, new: bytes) -> bool:
        return await self._write(self.inner.replace_item(key, index, old, new))

    async def set_add(self, key: str, member: str) -> None:
        await self._write(self.inner.set_add(key, member))

    async def set_remove(self, key: str, member: str) -> None:
        await self._write(self.inner.set_remove(key, member))

"""A Store that seals the values of chosen keys with AES-GCM before they reach disk.

A live session's record (``room:<id>``) holds every participant's display name, the
lobby messages and the breakout room names; the directory's ``sessionmeta:<id>`` holds
the session's title ("Rivera family, Tuesday"). Both identify people, so both are sealed
at rest, whatever the backend (SQLite file, Redis memory and its RDB/AOF dumps).

Sealing sits under every reader and writer (the room service, the directory, the
reconciler, the outbox), so none of them changes: they see plaintext, the backend sees
``MAGIC + nonce + ciphertext`` with the key as associated data (a blob copied to
another key does not open). Versions are the backend's own, so compare-and-set works
unchanged. A value written before sealing (plain JSON) is still read, and is sealed on
its next write.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag

from rooms.stores import Aead, Store, StoreError, StoreWrapper, Versioned

MAGIC = b"\x00hs1"  # never the first bytes of JSON, so older plaintext records still read
SEALED_PREFIXES = ("room:", "sessionmeta:")


class SealedValueError(StoreError):
    """A sealed value that does not open: tampered, or sealed with another data key."""


class SealedStore(StoreWrapper):
    """Wraps a Store; values under ``prefixes`` are sealed on write and opened on read.
    Lists and sets pass through: they carry their own sealing (chat, records) or hold
    opaque ids only."""

    def __init__(self, inner: Store, aead: Aead,
                 prefixes: tuple[str, ...] = SEALED_PREFIXES) -> None:
        super().__init__(inner)
        self._aead = aead
        self._prefixes = prefixes

    def _sealed(self, key: str) -> bool:
        return key.startswith(self._prefixes)

    def _seal(self, key: str, value: bytes) -> bytes:
        if not self._sealed(key):
            return value
        nonce = os.urandom(12)
        return MAGIC + nonce + self._aead.encrypt(nonce, value, key.encode())

    def _open(self, key: str, value: bytes) -> bytes:
        if not self._sealed(key) or not value.startswith(MAGIC):
            return value
        body = value[len(MAGIC):]
        try:
            return self._aead.decrypt(body[:12], body[12:], key.encode())
        except InvalidTag as exc:
            raise SealedValueError(f"a sealed value does not open ({key.split(':')[0]})") \
                from exc

    async def get(self, key: str) -> Versioned | None:
        found = await self.inner.get(key)
        if found is None:
            return None
        return Versioned(self._open(key, found.value), found.version)

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        return await self.inner.put(key, self._seal(key, value), ttl=ttl)

    async def cas(
        self, key: str, value: bytes, *, expected_version: int, ttl: float | None = None
    ) -> int | None:
        return await self.inner.cas(key, self._seal(key, value),
                                    expected_version=expected_version, ttl=ttl)

    async def add_once(self, key: str, value: bytes = b"", *, ttl: float | None = None) -> bool:
        return await self.inner.add_once(key, self._seal(key, value), ttl=ttl)

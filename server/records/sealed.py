"""Stored-record envelopes: a schema version on every record, AES-GCM where it
identifies a person.

A record is JSON ``{"schema": N, ...}``. A sealed record keeps only the schema
and ``sealed`` (base64 of a fresh 96-bit nonce and the ciphertext) in the clear;
the store key is the associated data, so a ciphertext copied under another key
fails to open.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidTag

from rooms.stores import Aead, Store

SCHEMA = 1


class RecordError(Exception):
    """A stored record that cannot be read (tampered, other key, unknown schema)."""


def plain(fields: dict[str, Any]) -> bytes:
    return json.dumps({"schema": SCHEMA, **fields}, separators=(",", ":")).encode()


def read_plain(raw: bytes) -> dict[str, Any]:
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise RecordError("unknown record schema")
    data.pop("schema")
    return data


class Sealer:
    def __init__(self, aead: Aead) -> None:
        self._aead = aead

    def seal(self, key: str, fields: dict[str, Any]) -> bytes:
        nonce = os.urandom(12)
        body = json.dumps(fields, separators=(",", ":")).encode()
        blob = nonce + self._aead.encrypt(nonce, body, key.encode())
        return plain({"sealed": base64.b64encode(blob).decode()})

    def open(self, key: str, raw: bytes) -> dict[str, Any]:
        data = read_plain(raw)
        try:
            blob = base64.b64decode(data["sealed"])
            body = self._aead.decrypt(blob[:12], blob[12:], key.encode())
        except (KeyError, ValueError, InvalidTag) as exc:
            raise RecordError("sealed record does not open") from exc
        fields = json.loads(body)
        if not isinstance(fields, dict):
            raise RecordError("sealed record is not an object")
        return fields

    def reseal(self, key: str, raw: bytes) -> bytes:
        """The same record sealed again under the current data key."""
        return self.seal(key, self.open(key, raw))


async def reseal_keys(store: Store, sealer: Sealer, keys: Iterable[str]) -> int:
    """Rewrite each sealed record under ``keys`` with the current data key, by
    compare-and-set (a record changed meanwhile was sealed with it anyway); one that no
    configured key opens is left as it is. Returns how many were rewritten."""
    count = 0
    for key in keys:
        found = await store.get(key)
        if found is None:
            continue
        try:
            again = sealer.reseal(key, found.value)
        except RecordError:
            continue
        count += await store.cas(key, again, expected_version=found.version) is not None
    return count

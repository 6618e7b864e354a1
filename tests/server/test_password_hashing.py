"""Password hashing runs in a worker thread: Argon2 at the production cost takes about
0.3 s, and on the event loop it would hold every session's events and media meanwhile."""

from __future__ import annotations

import threading
from typing import Literal

import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rooms.stores import Store
from server import accounts as accounts_module
from server.accounts import Accounts
from server.program.sealing import Sealer

PASSWORD = "correct horse battery"


class RecordingHasher(PasswordHasher):
    """A real Argon2 hasher that notes which thread each hash and verify ran on."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.threads: list[int] = []

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.threads.append(threading.get_ident())
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.threads.append(threading.get_ident())
        return super().verify(hash, password)


async def test_create_and_verify_hash_off_the_event_loop(
        any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = RecordingHasher()
    monkeypatch.setattr(accounts_module, "_hasher", hasher)
    monkeypatch.setattr(accounts_module, "_DUMMY_HASH", hasher.hash("x" * 20))
    hasher.threads.clear()
    accounts = Accounts(any_store, Sealer(AESGCM(AESGCM.generate_key(256))))
    await accounts.create("dr.hash", PASSWORD)
    assert await accounts.verify("dr.hash", PASSWORD) is not None
    assert await accounts.verify("dr.hash", "wrong password!!") is None
    assert await accounts.verify("nobody.here", PASSWORD) is None  # the same work
    loop_thread = threading.get_ident()
    assert len(hasher.threads) == 4
    assert loop_thread not in hasher.threads

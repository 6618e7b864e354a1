"""The TOTP secret is sealed at rest: neither the SQLite file nor Redis holds it, and a
secret stored in plain text before sealing is rewritten sealed and keeps working."""

from __future__ import annotations

import json
from pathlib import Path

import pyotp
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio import Redis

from rooms.stores import Store
from server.accounts import Accounts
from server.appkeys import ACCOUNTS, SETTINGS
from server.program.sealing import Sealer
from tests.server.conftest import AppClient
from tests.server.test_login import PASSWORD, login_cookie, signup


async def _redis_text(url: str) -> bytes:
    """Every key and value in the Redis database, whatever its type."""
    client = Redis.from_url(url)
    out = bytearray()
    try:
        async for key in client.scan_iter():
            out += key
            kind = (await client.type(key)).decode()
            if kind == "string":
                out += await client.get(key) or b""
            elif kind == "hash":
                for k, v in (await client.hgetall(key)).items():
                    out += k + v
            elif kind == "set":
                for m in await client.smembers(key):
                    out += m
            elif kind == "zset":
                for m in await client.zrange(key, 0, -1):
                    out += m
            elif kind == "list":
                for m in await client.lrange(key, 0, -1):
                    out += m
    finally:
        await client.aclose()
    return bytes(out)


async def test_totp_secret_is_not_in_the_sqlite_file_or_redis(
        make_client: AppClient, backend: str, request: pytest.FixtureRequest) -> None:
    client = await make_client()
    name = await signup(client)
    auth = {"Cookie": "hearth_login=" + login_cookie(
        await client.post("/api/login", json={"username": name, "password": PASSWORD}))}
    pending = (await (await client.post("/api/me/totp", headers=auth)).json())["ok"]["secret"]
    confirmed = await client.post("/api/me/totp/confirm",
                                  json={"otp": pyotp.TOTP(pending).now()}, headers=auth)
    assert confirmed.status == 200
    account = await client.app[ACCOUNTS].get(name)
    assert account is not None
    assert account.totp_secret == pending
    if backend == "sqlite":
        data_dir: Path = client.app[SETTINGS].data_dir
        raw = b"".join(p.read_bytes() for p in sorted(data_dir.glob("hearth.db*")))  # noqa: ASYNC240
        assert b"account:" + name.encode() in raw  # the record is there, so the check bites
    else:
        url = client.app[SETTINGS].secret("redis_url")  # this test's own database
        assert url is not None
        raw = await _redis_text(url)
        assert name.encode() in raw
    assert pending.encode() not in raw
    assert pending.lower().encode() not in raw


async def test_plain_secret_from_before_sealing_is_sealed_and_still_works(
        any_store: Store) -> None:
    sealer = Sealer(AESGCM(AESGCM.generate_key(256)))
    accounts = Accounts(any_store, sealer)
    account = await accounts.create("dr.legacy", PASSWORD)
    secret = pyotp.random_base32()
    legacy = {**json.loads((await any_store.get("account:dr.legacy")).value),  # type: ignore[union-attr]
              "totp_secret": secret, "totp_pending": None}
    for field in ("totp_secret_sealed", "totp_pending_sealed"):
        legacy.pop(field, None)
    await any_store.put("account:dr.legacy", json.dumps(legacy).encode())
    assert await accounts.seal_all() == 1
    stored = (await any_store.get("account:dr.legacy")).value  # type: ignore[union-attr]
    assert secret.encode() not in stored
    assert json.loads(stored)["totp_secret_sealed"]
    assert await accounts.seal_all() == 0
    again = await accounts.get("dr.legacy")
    assert again is not None
    assert again.id == account.id
    assert again.totp_secret == secret
    assert await accounts.totp_ok(again, pyotp.TOTP(secret).now())
    # Sealed to this account: moved onto another record, it does not open.
    other = await accounts.create("dr.other", PASSWORD)
    moved = {**json.loads((await any_store.get("account:dr.other")).value),  # type: ignore[union-attr]
             "totp_secret_sealed": json.loads(stored)["totp_secret_sealed"]}
    await any_store.put("account:dr.other", json.dumps(moved).encode())
    with pytest.raises(Exception, match="no key"):
        await accounts.get(other.username)

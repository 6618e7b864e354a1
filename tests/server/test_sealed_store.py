"""Session records at rest: names, titles, lobby messages and room names are sealed.

A live server on both backends runs a session with canary names; afterwards neither
the SQLite files nor any value in the Redis database contains a canary, while every
client saw the names. The wrapper itself: older plaintext records still read (and are
sealed on their next write), a tampered or moved blob does not open.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio import Redis

from rooms.model import from_json
from rooms.stores.memory import MemoryStore
from server.appkeys import SETTINGS, STORE
from server.sealedstore import MAGIC, SealedStore, SealedValueError
from testkit.live import Live, admitted

CANARIES = (b"Zebracanary", b"Quokkafamily", b"Wombatlobby", b"Ibexroom")


async def _redis_values(live: Live) -> list[bytes]:
    url = live.app[SETTINGS].secret("redis_url")
    assert url is not None
    client = Redis.from_url(url)
    out: list[bytes] = []
    try:
        async for key in client.scan_iter():
            kind = (await client.type(key)).decode()
            if kind == "string":
                out.append(await client.get(key) or b"")
            elif kind == "list":
                out.extend(await client.lrange(key, 0, -1))
            elif kind == "set":
                out.extend(await client.smembers(key))
            elif kind == "hash":
                out.extend((await client.hgetall(key)).values())
            out.append(key)
    finally:
        await client.aclose()
    return out


async def test_names_and_titles_never_reach_the_backend_in_clear(
        live: Live, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    room = await admitted(live, ("Zebracanary Smith", "client"), ("Sam", "partner"))
    t = room.therapist
    await live.app[STORE].put("probe:x", b"1")  # not a sealed prefix: stored as given
    await t.ok("send_to_lobby", {"participant_id": room.ids["Sam"]})
    await t.ok("lobby_message", {"participant_id": room.ids["Sam"], "text": "Wombatlobby"})
    await t.ok("breakouts_create", {"names": ["Ibexroom", "Two"]})
    await room.dr.api("POST", "/api/sessions", {"title": "Quokkafamily Tuesday"})
    names = {p["name"] for p in t.state["participants"]}
    assert "Zebracanary Smith" in names  # people see the names ...
    if "redis" in request.node.name:
        blobs = await _redis_values(live)
        assert b"1" in blobs
    else:
        blobs = [f.read_bytes() for f in (tmp_path / "data").rglob("*") if f.is_file()]
    found = [c for c in CANARIES for b in blobs if c in b]
    assert found == []  # ... the disk and Redis never do


@pytest.fixture
def aead() -> AESGCM:
    return AESGCM(secrets.token_bytes(32))


async def test_plaintext_records_read_then_seal_and_tampering_is_refused(aead: AESGCM) -> None:
    raw = MemoryStore()
    sealed = SealedStore(raw, aead)
    legacy = b'{"schema":1,"title":"Quokkafamily"}'
    await raw.put("sessionmeta:s1", legacy)  # written before sealing existed
    found = await sealed.get("sessionmeta:s1")
    assert found is not None
    assert found.value == legacy
    await sealed.cas("sessionmeta:s1", legacy, expected_version=found.version)
    at_rest = await raw.get("sessionmeta:s1")
    assert at_rest is not None
    assert at_rest.value.startswith(MAGIC)
    assert b"Quokkafamily" not in at_rest.value
    assert (await sealed.get("sessionmeta:s1")).value == legacy  # type: ignore[union-attr]

    # A sealed blob is bound to its key: moved to another session it does not open.
    await raw.put("sessionmeta:s2", at_rest.value)
    with pytest.raises(SealedValueError):
        await sealed.get("sessionmeta:s2")
    flipped = bytearray(at_rest.value)
    flipped[-1] ^= 1
    await raw.put("sessionmeta:s1", bytes(flipped))
    with pytest.raises(SealedValueError):
        await sealed.get("sessionmeta:s1")
    # Another data key cannot open it either.
    await raw.put("room:s3", at_rest.value)
    other = SealedStore(raw, AESGCM(secrets.token_bytes(32)))
    await other.put("room:s4", b"{}")
    with pytest.raises(SealedValueError):
        await sealed.get("room:s4")


async def test_room_records_round_trip_through_the_room_service(live: Live) -> None:
    room = await admitted(live, ("Zebracanary Smith", "client"))
    found = await live.app[STORE].get(f"room:{room.sid}")
    assert found is not None
    session = from_json(found.value)
    assert session.participants[room.ids["Zebracanary Smith"]].display_name == \
        "Zebracanary Smith"

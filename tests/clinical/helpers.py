"""A live family session whose every socket event is recorded, and the REST calls a
clinician's session page makes with its personal link."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from server.appkeys import SETTINGS, STORE
from testkit.live import Client, Live, Therapist
from tests.signaling.test_chat_threads import record_everything

FAMILY = (("Alex", "client", None), ("Blair", "partner", None), ("Kit", "child", "Blair"),
          ("Dr Co", "co_therapist", None))


@dataclass
class Family:
    dr: Therapist
    sid: str
    clients: dict[str, Client]
    seen: dict[str, list[tuple[str, Any]]]
    ids: dict[str, str]
    tokens: dict[str, str]


async def family(live: Live, people: tuple[tuple[str, str, str | None], ...] = FAMILY
                 ) -> Family:
    dr = await live.therapist()
    sid = await dr.session()
    ids: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for name, role, guardian in people:
        ids[name], tokens[name] = await dr.add(
            sid, name, role, guardians=[ids[guardian]] if guardian else None)
    tokens["Dr"] = await dr.join_token(sid)
    clients: dict[str, Client] = {}
    seen: dict[str, list[tuple[str, Any]]] = {}
    for name in ("Dr", *(p[0] for p in people)):
        c = await live.client(tokens[name], connect=False)
        seen[name] = record_everything(c)
        await c.connect()
        await c.ok("join", {"consent_version": "v"})
        clients[name] = c
    await clients["Dr"].ok("admit_all")
    for name, c in clients.items():
        if name == "Dr":
            continue
        await c.wait(lambda x: x.state["me"]["status"] in ("admitted", "connected"), "admitted")
        await c.ok("join", {"consent_version": "v"})
    return Family(dr, sid, clients, seen, ids, tokens)


async def rest(live: Live, token: str, method: str, path: str, body: Any = None
               ) -> tuple[int, Any]:
    """A REST call authorized by a personal link, as a session page makes it."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.request(method, f"{live.url}{path}", json=body) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.text()


def files_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


async def at_rest(live: Live) -> bytes:
    """Everything the stores hold: every file under the data directory (SQLite and its
    journal), and, on Redis, every key with its value whatever its type."""
    out = files_under(Path(live.app[SETTINGS].data_dir))
    url = live.app[SETTINGS].secret("redis_url")
    if url:
        from redis.asyncio import Redis

        client = Redis.from_url(url)
        try:
            for key in await client.keys("*"):
                kind = (await client.type(key)).decode()
                if kind == "string":
                    value: Any = await client.get(key)
                elif kind == "list":
                    value = await client.lrange(key, 0, -1)
                elif kind == "set":
                    value = sorted(await client.smembers(key))
                elif kind == "hash":
                    value = await client.hgetall(key)
                elif kind == "zset":
                    value = await client.zrange(key, 0, -1, withscores=True)
                else:
                    value = kind
                out += key + repr(value).encode()
        finally:
            await client.aclose()
    return out


async def audit_actions(live: Live) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in await live.app[STORE].range("audit:log")]

"""A live Hearth server on loopback and real socket.io clients for it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from server.app import create_app
from server.appkeys import ACCOUNTS, PROGRAM
from server.config import load_settings
from testkit.documented import DocumentedResponses
from testkit.servers import free_port

PASSWORD = "a perfectly long password"
CLOSE_WITHIN = 5.0  # seconds for each step of a test server's teardown
log = logging.getLogger("testkit.live")


@dataclass
class Live:
    url: str
    app: web.Application
    runner: web.AppRunner
    http: aiohttp.ClientSession
    clients: list[Client] = field(default_factory=list)
    documented: DocumentedResponses = field(default_factory=DocumentedResponses)

    async def therapist(self, *, admin: bool = False) -> Therapist:
        """A signed-in therapist; ``admin`` also makes them the clinic's admin."""
        name = f"dr.{uuid.uuid4().hex[:8]}"
        account = await self.app[ACCOUNTS].create(name, PASSWORD)
        if admin:
            await self.app[PROGRAM].make_admin(account)
        return Therapist(self, await signed_in(self.url, name))

    async def client(self, token: str, *, connect: bool = True) -> Client:
        c = Client(self, token)
        self.clients.append(c)
        if connect:
            await c.connect()
        return c

    async def close(self) -> None:
        """Disconnect the clients and stop the server, each step bounded: a client
        caught mid-close by the server (a kicked socket) must not hold the teardown."""
        for c in self.clients:
            try:
                await asyncio.wait_for(c.sio.disconnect(), CLOSE_WITHIN)
            except TimeoutError:
                log.warning("a test client did not disconnect within %s s", CLOSE_WITHIN)
        await self.http.close()
        await asyncio.wait_for(self.runner.cleanup(), 4 * CLOSE_WITHIN)
        assert not self.documented.problems, "answers that differ from the OpenAPI " \
            "document:\n" + "\n".join(sorted(set(self.documented.problems)))


@dataclass
class Therapist:
    live: Live
    http: aiohttp.ClientSession
    tokens: dict[str, str] = field(default_factory=dict)  # participant id -> link token

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.live.url}{path}", json=body) as r:
            data = await r.json()
            if r.status >= 400:
                raise AssertionError(f"{method} {path} -> {r.status} {data}")
            return data["ok"]

    async def session(self, title: str = "Family session") -> str:
        return str((await self.api("POST", "/api/sessions", {"title": title}))["id"])

    async def add(self, sid: str, name: str, role: str, guardians: list[str] | None = None,
                  *, consent: bool = True) -> tuple[str, str]:
        res = await self.api("POST", f"/api/sessions/{sid}/participants",
                             {"display_name": name, "role": role,
                              "guardian_of": guardians or []})
        pid, token = res["participant_id"], token_of(res["link"])
        self.tokens[pid] = token
        if consent:  # as the pre-join page does; a guardian consents for a child
            if role == "child":
                for guardian in guardians or []:
                    await accept_consent(self.live.url, self.tokens[guardian], for_child=pid)
            else:
                await accept_consent(self.live.url, token)
        return pid, token

    async def join_token(self, sid: str) -> str:
        return token_of((await self.api("POST", f"/api/sessions/{sid}/join"))["link"])

    async def close(self) -> None:
        await self.http.close()


async def signed_in(url: str, username: str) -> aiohttp.ClientSession:
    """An HTTP session holding ``username``'s login cookie for the server at ``url``."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(f"{url}/api/login",
                         json={"username": username, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
    return http


def token_of(link: str) -> str:
    return link.split("#", 1)[1]


async def accept_consent(url: str, token: str, *, for_child: str | None = None) -> None:
    """Accept every required consent document with this link, as the pre-join page does."""
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(f"{url}/api/consent") as r:
            assert r.status == 200, await r.text()
            docs = (await r.json())["ok"]["documents"]
        for doc in docs:
            if not doc["required"]:
                continue
            body: dict[str, Any] = {"kind": doc["kind"], "hash": doc["hash"]}
            if for_child:
                body["for_participant"] = for_child
            async with http.post(f"{url}/api/consent/accept", json=body) as r:
                assert r.status == 201, await r.text()


class Client:
    """A real socket.io client that records everything the server sends it."""

    def __init__(self, live: Live, token: str) -> None:
        self.live = live
        self.token = token
        self.received: dict[str, list[Any]] = defaultdict(list)
        self.disconnected = asyncio.Event()
        self.sio = self.new_socket()

    def new_socket(self) -> socketio.AsyncClient:
        """A socket.io client whose server messages are recorded on this Client."""
        sio = socketio.AsyncClient(reconnection=False)
        for name in ("state", "notice", "chat", "chat_history", "connect_error"):
            sio.on(name, self._recorder(name))
        sio.on("disconnect", self._on_disconnect)
        return sio

    def _recorder(self, name: str) -> Any:
        async def record(data: Any) -> None:
            self.received[name].append(data)
        return record

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    async def connect(self) -> None:
        await self.sio.connect(self.live.url, auth={"token": self.token},
                               transports=["websocket"], wait_timeout=5)

    async def refused(self) -> str:
        """Try to connect; return the server's refusal code (fails if it connects)."""
        try:
            await self.connect()
        except socketio.exceptions.ConnectionError:
            data = self.received["connect_error"][-1]
            return str(data.get("message") if isinstance(data, dict) else data)
        raise AssertionError("the connection was accepted")

    async def call(self, event: str, payload: Any = None) -> Any:
        return await self.sio.call(event, payload if payload is not None else {}, timeout=10)

    async def ok(self, event: str, payload: Any = None) -> Any:
        res = await self.call(event, payload)
        assert "ok" in res, f"{event} refused: {res}"
        return res["ok"]

    async def error(self, event: str, payload: Any = None) -> str:
        res = await self.call(event, payload)
        assert "error" in res, f"{event} unexpectedly accepted: {res}"
        return str(res["error"]["code"])

    @property
    def state(self) -> dict[str, Any]:
        return dict(max(self.received["state"], key=lambda s: s["version"]))

    async def wait(self, predicate: Any, what: str, limit: float = 5.0) -> Any:
        """Bounded wait until ``predicate(self)`` is truthy."""
        for _ in range(int(limit / 0.02)):
            try:
                value = predicate(self)
            except (KeyError, ValueError, IndexError):
                value = None
            if value:
                return value
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    def notices(self, kind: str) -> list[dict[str, Any]]:
        return [n for n in self.received["notice"] if n["kind"] == kind]


async def start_live(tmp: Path, backend: str, redis_url: str | None, **overrides: Any) -> Live:
    port = free_port()
    values: dict[str, Any] = {
        "data_dir": tmp / "data", "public_url": f"http://127.0.0.1:{port}", "tls": False,
        "redis_url": redis_url if backend == "redis" else None,
        "media_hosts": ("127.0.0.1",), **overrides,
    }
    app = create_app(load_settings({}, values))
    documented = DocumentedResponses()
    app.middlewares.append(documented.middleware())
    # Open sockets are closed by the app's shutdown; aiohttp's 60 s wait for handlers
    # still running after that would only hide a socket left open.
    runner = web.AppRunner(app, shutdown_timeout=CLOSE_WITHIN)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Live(f"http://127.0.0.1:{port}", app, runner, aiohttp.ClientSession(),
                documented=documented)


@dataclass
class Room:
    """A live session with its therapist and admitted, connected participants."""

    dr: Therapist
    sid: str
    therapist: Client
    people: dict[str, Client]
    ids: dict[str, str]
    tokens: dict[str, str]


async def admitted(live: Live, *people: tuple[str, str] | tuple[str, str, str]) -> Room:
    """Create a session, add ``(name, role[, guardian name])`` people, connect everyone,
    admit them from the lobby and have each join the room, as the browser would."""
    dr = await live.therapist()
    sid = await dr.session()
    ids: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for person in people:
        name, role = person[0], person[1]
        guardians = [ids[person[2]]] if len(person) == 3 else None
        ids[name], tokens[name] = await dr.add(sid, name, role, guardians=guardians)
    therapist = await live.client(await dr.join_token(sid))
    await therapist.ok("join", {"consent_version": "v"})
    clients = {}
    for name in ids:
        c = await live.client(tokens[name])
        await c.ok("join", {"consent_version": "v"})
        clients[name] = c
    if any(c.state["me"]["status"] == "waiting" for c in clients.values()):
        await therapist.ok("admit_all")
    for c in clients.values():
        await c.wait(lambda x: x.state["me"]["status"] in ("admitted", "connected"), "admitted")
        await c.ok("join", {"consent_version": "v"})
    return Room(dr, sid, therapist, clients, ids, tokens)

"""Direct peer-to-peer baseline: publisher pc -> subscriber pc, no SFU in between.

Its transit is what the clients and kernel cost by themselves, so subtracting
it from an SFU's transit leaves what the SFU adds. Signaling is a tiny aiohttp
mailbox on 127.0.0.1 in the coordinator (clients are in other processes). One
publisher feeds one subscriber, so only 1xN with N=1 is supported.

With no SFU, "SFU CPU" is the publishing client process's CPU (see
`bench.relay`), labelled as such.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription

WAIT_S = 20.0


class Adapter:
    """Coordinator half: the SDP mailbox."""

    name = "p2p"

    def __init__(self, options: dict[str, Any]) -> None:
        self._box: dict[str, str] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._url = ""

    async def _put(self, request: web.Request) -> web.Response:
        async with self._changed:
            self._box[request.match_info["key"]] = await request.text()
            self._changed.notify_all()
        return web.Response(text="ok")

    async def _get(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: key in self._box), WAIT_S)
            except TimeoutError:
                return web.Response(status=404)
            return web.Response(text=self._box[key])

    async def setup_room(self, publishers: int, subscribers: int) -> None:
        if publishers != 1 or subscribers != 1:
            raise ValueError("the p2p baseline supports 1x1 only")
        self._box.clear()
        app = web.Application()
        app.router.add_put("/{key}", self._put)
        app.router.add_get("/{key}", self._get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._url = f"http://127.0.0.1:{port}"

    def client_config(self) -> dict[str, Any]:
        return {"kind": "p2p", "url": self._url}

    def sfu_pids(self) -> list[int]:
        return []  # no SFU: the relay substitutes the publishing client process

    async def teardown_room(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class Client:
    """Worker half: posts offers/answers to the mailbox."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._url = config["url"]
        self._http: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S + 5))
        return self._http

    async def _get(self, key: str) -> str:
        async with self._session().get(f"{self._url}/{key}") as resp:
            resp.raise_for_status()
            return await resp.text()

    async def _put(self, key: str, text: str) -> None:
        async with self._session().put(f"{self._url}/{key}", data=text) as resp:
            resp.raise_for_status()

    async def add_publisher(self, pc: RTCPeerConnection, name: str) -> str:
        await pc.setLocalDescription(await pc.createOffer())
        await self._put(f"offer-{name}", pc.localDescription.sdp)

        async def finish() -> None:
            sdp = await self._get(f"answer-{name}")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

        self._tasks.append(asyncio.ensure_future(finish()))
        return name

    async def add_subscriber(self, pc: RTCPeerConnection, publisher_ids: list[str]) -> None:
        if len(publisher_ids) != 1:
            raise ValueError("the p2p baseline subscribes to exactly one publisher")
        name = publisher_ids[0]
        sdp = await self._get(f"offer-{name}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self._put(f"answer-{name}", pc.localDescription.sdp)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._http is not None:
            await self._http.close()

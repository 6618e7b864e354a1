"""Janus 1.1.x videoroom over its HTTP API (the C SFU we compare against).

Requests are POSTed; asynchronous plugin events (those carrying JSEP) arrive
on a long-poll GET of the session and are matched back by transaction id.
Publishers use `joinandconfigure` with their offer; subscribers use one
multistream subscriber handle (`join` with every feed -> Janus offers ->
`start` with our answer). Both sides send complete SDP (`trickle: false`),
since aiortc gathers before it answers.

With simulcast publishers, each subscriber names the substream it wants (the
config's ``layer``: 2 for "f") in its `join` and again in a `configure` of
every video m-line once started, so the layer is chosen, not Janus's default
(the highest).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCIceCandidate, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from bench import simulcast

PLUGIN = "janus.plugin.videoroom"
REQUEST_TIMEOUT_S = 15.0
EVENT_TIMEOUT_S = 20.0
NETNS = "hearth-peer"
FEED_RETRIES = 10
MAX_SESSION_S = 3600.0  # bounds the long-poll loop


class JanusError(RuntimeError):
    """Janus answered with an error (or not at all)."""


class JanusSession:
    """One Janus session with a long-poll task that routes events to waiting requests."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S + 35)
        )
        self.session_id: int | None = None
        self._ids = itertools.count(1)
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._trickle: dict[int, RTCPeerConnection] = {}
        self._poller: asyncio.Task[None] | None = None

    def _tx(self) -> str:
        return f"b{next(self._ids)}-{random.getrandbits(32):08x}"

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(
            f"{self.url}{path}", json=body, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        ) as resp:
            resp.raise_for_status()
            reply: dict[str, Any] = await resp.json(content_type=None)
        if reply.get("janus") == "error":
            raise JanusError(str(reply.get("error")))
        return reply

    async def create(self) -> None:
        reply = await self._post("", {"janus": "create", "transaction": self._tx()})
        self.session_id = int(reply["data"]["id"])
        self._poller = asyncio.ensure_future(self._poll())

    async def attach(self) -> int:
        reply = await self._post(
            f"/{self.session_id}",
            {"janus": "attach", "plugin": PLUGIN, "transaction": self._tx()},
        )
        return int(reply["data"]["id"])

    async def message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None,
        wait_event: bool = False,
    ) -> dict[str, Any]:
        """Send a plugin message; return the sync reply, or the async event if `wait_event`."""
        tx = self._tx()
        msg: dict[str, Any] = {"janus": "message", "transaction": tx, "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[tx] = future
        try:
            reply = await self._post(f"/{self.session_id}/{handle}", msg)
            if reply.get("janus") != "ack" or not wait_event:
                return _plugin_data(reply)
            return _plugin_data(await asyncio.wait_for(future, EVENT_TIMEOUT_S)) | {
                "_jsep": future.result().get("jsep")
            }
        finally:
            self._waiters.pop(tx, None)

    def watch_trickle(self, handle: int, pc: RTCPeerConnection) -> None:
        """Apply candidates Janus trickles for `handle` (if its SDP lacked them)."""
        self._trickle[handle] = pc

    async def _poll(self) -> None:
        """Long-poll events until cancelled (or MAX_SESSION_S); each GET lasts at most ~30 s."""
        end = time.monotonic() + MAX_SESSION_S
        while time.monotonic() < end:
            try:
                async with self.http.get(
                    f"{self.url}/{self.session_id}?maxev=10&rid={int(time.time() * 1000)}"
                ) as resp:
                    events = await resp.json(content_type=None)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.5)
                continue
            for event in events if isinstance(events, list) else [events]:
                await self._dispatch(event)

    async def _dispatch(self, event: dict[str, Any]) -> None:
        tx = event.get("transaction")
        if event.get("janus") == "event" and tx in self._waiters:
            future = self._waiters[tx]
            if not future.done():
                future.set_result(event)
        elif event.get("janus") == "trickle":
            pc = self._trickle.get(int(event.get("sender", 0)))
            cand = event.get("candidate") or {}
            if pc is not None and cand.get("candidate"):
                ice: RTCIceCandidate = candidate_from_sdp(cand["candidate"].split(":", 1)[1])
                ice.sdpMid = cand.get("sdpMid")
                ice.sdpMLineIndex = cand.get("sdpMLineIndex")
                await pc.addIceCandidate(ice)

    async def destroy(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self.session_id is not None:
            with contextlib.suppress(Exception):
                await self._post(
                    f"/{self.session_id}", {"janus": "destroy", "transaction": self._tx()}
                )
        await self.http.close()


def _plugin_data(reply: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = reply.get("plugindata", {}).get("data", {})
    if "error" in data:
        raise JanusError(f"{data.get('error_code')}: {data['error']}")
    return data


def find_janus_pids(netns: str = NETNS) -> list[int]:
    """PIDs of processes named janus inside the network namespace (via `ip netns pids`)."""
    import subprocess

    out = subprocess.run(
        ["ip", "netns", "pids", netns], capture_output=True, text=True, check=False
    ).stdout
    pids = []
    for word in out.split():
        with contextlib.suppress(OSError):
            if Path(f"/proc/{word}/comm").read_text().strip() == "janus":
                pids.append(int(word))
    return pids


class Adapter:
    """Coordinator half: creates a VP8/Opus room per scenario and finds Janus's PID."""

    name = "janus"

    def __init__(self, options: dict[str, Any]) -> None:
        self.url: str = options.get("url", "http://198.18.77.2:8088/janus")
        self._pids: list[int] = list(options.get("pids") or find_janus_pids())
        if not self._pids:
            raise JanusError("no janus process in netns hearth-peer: "
                             "run bench/janus/janus-peer start")
        self.room: int | None = None
        self._session: JanusSession | None = None
        self._handle: int | None = None

    async def setup_room(self, publishers: int, subscribers: int) -> None:
        self._session = JanusSession(self.url)
        await self._session.create()
        self._handle = await self._session.attach()
        self.room = random.randint(10**6, 10**9)
        await self._session.message(self._handle, {
            "request": "create", "room": self.room, "publishers": publishers + 1,
            "videocodec": "vp8", "audiocodec": "opus", "bitrate": 0, "fir_freq": 0,
            "notify_joining": False, "is_private": True, "permanent": False,
        })

    def client_config(self) -> dict[str, Any]:
        return {"kind": "janus", "url": self.url, "room": self.room,
                "simulcast": self.name == "janus-simulcast"}

    def sfu_pids(self) -> list[int]:
        return self._pids

    async def teardown_room(self) -> None:
        if self._session is None:
            return
        if self.room is not None and self._handle is not None:
            with contextlib.suppress(Exception):
                await self._session.message(self._handle, {"request": "destroy", "room": self.room})
        await self._session.destroy()
        self._session = None


class SimulcastAdapter(Adapter):
    """The same Janus; every publisher sends its video as three real layers
    (``bench.simulcast``), announced low to high."""

    name = "janus-simulcast"


def substream_request(attached: dict[str, Any], substream: int) -> dict[str, Any]:
    """A subscriber `configure` asking for ``substream`` on every video m-line of the
    subscription Janus described in its "attached" event (by the subscriber's mids)."""
    mids = [str(s["mid"]) for s in attached.get("streams", []) if s.get("type") == "video"]
    if not mids:
        raise JanusError(f"the subscription has no video stream: {attached}")
    return {"request": "configure",
            "streams": [{"mid": mid, "substream": substream} for mid in mids]}


class Client:
    """Worker half: one Janus session per client process, one handle per pc."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.url = config["url"]
        self.room = int(config["room"])
        self._simulcast = bool(config.get("simulcast"))
        #: the substream every subscriber asks for (simulcast only)
        self._substream = simulcast.substream(str(config.get("layer", simulcast.RIDS[-1])))
        self._session: JanusSession | None = None

    async def _janus(self) -> JanusSession:
        if self._session is None:
            self._session = JanusSession(self.url)
            await self._session.create()
        return self._session

    async def add_publisher(self, pc: RTCPeerConnection, name: str) -> str:
        janus = await self._janus()
        handle = await janus.attach()
        janus.watch_trickle(handle, pc)
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        if self._simulcast:
            sdp, video_ssrcs = simulcast.munge_offer(sdp)
            simulcast.register_pc(pc, video_ssrcs[0])  # the media SSRC (then its RTX)
        offer: dict[str, Any] = {"type": "offer", "sdp": sdp, "trickle": False}
        if self._simulcast:
            offer["rid_order"] = "lmh"  # Janus takes the first rid for the highest otherwise
        data = await janus.message(
            handle,
            {"request": "joinandconfigure", "room": self.room, "ptype": "publisher",
             "display": name, "audio": True, "video": True},
            jsep=offer, wait_event=True,
        )
        jsep = data.get("_jsep")
        if data.get("videoroom") != "joined" or not jsep:
            raise JanusError(f"publisher join failed: {data}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="answer"))
        if self._simulcast:
            simulcast.route_feedback(pc)
        return str(data["id"])

    async def add_subscriber(self, pc: RTCPeerConnection, publisher_ids: list[str]) -> None:
        janus = await self._janus()
        handle = await janus.attach()
        janus.watch_trickle(handle, pc)
        layer = {"substream": self._substream} if self._simulcast else {}
        join = {"request": "join", "room": self.room, "ptype": "subscriber",
                "streams": [{"feed": int(p), **layer} for p in publisher_ids]}
        for attempt in range(FEED_RETRIES):  # a feed appears shortly after its webrtcup
            try:
                data = await janus.message(handle, join, wait_event=True)
                break
            except JanusError as exc:
                if "428" not in str(exc) or attempt == FEED_RETRIES - 1:
                    raise
                await asyncio.sleep(0.5)
        jsep = data.get("_jsep")
        if data.get("videoroom") != "attached" or not jsep:
            raise JanusError(f"subscriber join failed: {data}")
        attached = data
        await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = {"type": "answer", "sdp": pc.localDescription.sdp, "trickle": False}
        data = await janus.message(handle, {"request": "start"}, jsep=answer, wait_event=True)
        if data.get("started") != "ok" and data.get("videoroom") != "event":
            raise JanusError(f"subscriber start failed: {data}")
        if self._simulcast:
            configure = substream_request(attached, self._substream)
            data = await janus.message(handle, configure, wait_event=True)
            if data.get("configured") != "ok":
                raise JanusError(f"subscriber configure failed: {data}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.destroy()
            self._session = None

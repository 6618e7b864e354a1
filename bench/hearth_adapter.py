"""Hearth over its own signaling: REST for the room, socket.io for media.

The coordinator starts one `hearth serve` for the whole benchmark (like Janus,
it stays up across runs), via `bench/janus/janus-peer exec` so that it binds and announces
198.18.77.2 only (HEARTH_MEDIA_HOSTS), in the same network position as Janus.
With `{"netns": None, "host": "127.0.0.1"}` it runs on loopback instead (the CI
smoke test). The server gets a fresh data dir and one throwaway therapist
account; it is stopped at exit (atexit, and PR_SET_PDEATHSIG if the coordinator
dies), and `janus-peer stop` kills anything left in the namespace. Its environment
is built from scratch (no inherited ``HEARTH_*``), and a failure shows its output.

Per run: the coordinator signs in, creates a session and ends it afterwards.
Each client process signs in too and adds one `co_therapist` participant per
publisher or subscriber (co-therapists skip the lobby), so no token has to be
handed to a particular process. Per participant one socket.io connection:

* publisher: `join` -> `media_join` -> `media_publish` {sdp, sources} -> answer;
* subscriber: `join` -> `media_join` -> `media_subscribe` -> answer ->
  `media_answer` -> layout, repeated while the layout lacks publishers (the
  relay starts with K audio + K video slots and adds the overflow on the next
  offer); then `media_view`: each video slot's rendered tile size, as a
  browser reports it. The relay gives a slot with no size the lowest layer, so
  without it a simulcast viewer would never be given the layer asked for
  (``layer`` in the config: the tile is that layer's frame, 1280x720 for "f").

The relay's offer holds slots that may stay empty, and the relay chooses which
publisher each slot carries. The harness expects "track" events in
`publisher_ids` order, audio then video per publisher, so the subscriber holds
the pc's "track" listeners back during negotiation and replays them for the
bound slots only, in that order, from the final layout.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from bench import simulcast

REPO = Path(__file__).resolve().parent.parent
JANUS_PEER = REPO / "bench" / "janus" / "janus-peer"
# Inherited by the server: what a process needs to run, never a HEARTH_* setting.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
NETNS = "hearth-peer"
PEER_IP = "198.18.77.2"
DEFAULT_PORT = 8090
USERNAME = "bench"
PASSWORD = "bench-relay-password"  # throwaway account in a temporary data dir
START_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 20.0
MAX_SUBSCRIBE_ROUNDS = 8  # each round adds the overflowing slots; 1-2 are enough
PR_SET_PDEATHSIG = 1


class HearthError(RuntimeError):
    """Hearth refused a request, or its server did not start."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """SIGTERM the server if the coordinator dies without running atexit."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class HearthServer:
    """One `hearth serve` process with a fresh data dir and a therapist account."""

    def __init__(self, host: str, port: int, netns: str | None, media_hosts: str,
                 max_participants: int = 200, simulcast: bool = False) -> None:
        self.url = f"http://{host}:{port}"
        #: started with ``HEARTH_SIMULCAST=true`` (the ``hearth-simulcast`` adapter)
        self.simulcast = simulcast
        self.data_dir = Path(tempfile.mkdtemp(prefix="hearth-bench-"))
        exe = Path(sys.executable).with_name("hearth")
        hearth = str(exe) if exe.exists() else (shutil.which("hearth") or "hearth")
        env = server_env(host, port, self.url, self.data_dir, media_hosts, max_participants,
                         simulcast)
        try:
            added = subprocess.run([hearth, "therapist", "add", USERNAME],
                                   input=PASSWORD + "\n", env=env, capture_output=True,
                                   text=True, timeout=START_TIMEOUT_S * 4, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise HearthError(f"`hearth therapist add` did not run: {exc}") from exc
        if added.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise HearthError(f"`hearth therapist add` exited with {added.returncode}: "
                              f"{(added.stderr or added.stdout).strip()[-2000:]}")
        cmd = [hearth, "serve"]
        if netns is not None:
            if not JANUS_PEER.exists():
                raise HearthError(f"{JANUS_PEER} not found")
            cmd = [str(JANUS_PEER), "exec", *cmd]  # execs `ip netns exec`, which execs hearth
        self.log_path = self.data_dir / "serve.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        atexit.register(self.stop)
        self._wait_ready()

    def _wait_ready(self) -> None:
        import urllib.request

        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(OSError), \
                    urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.2)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise HearthError(f"hearth serve did not come up at {self.url}: {tail}")

    def pids(self) -> list[int]:
        """The server process (and any children), checked to really be hearth."""
        if self.proc.poll() is not None:
            raise HearthError(f"hearth serve exited with {self.proc.returncode}")
        pids = [self.proc.pid]
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            pids += [int(p) for p in children.split()]
        cmdline = Path(f"/proc/{self.proc.pid}/cmdline").read_bytes()
        if b"hearth" not in cmdline or b"serve" not in cmdline:
            raise HearthError(f"pid {self.proc.pid} is not hearth serve: {cmdline!r}")
        return pids

    def stop(self) -> None:
        """Stop our own server (its process group, which we created), then its data dir."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def server_env(host: str, port: int, url: str, data_dir: Path, media_hosts: str,
               max_participants: int, simulcast: bool = False) -> dict[str, str]:
    """The benchmark server's whole environment: these settings and nothing inherited
    that could change them (a stray HEARTH_REDIS_URL or HEARTH_CONFIG in the caller's
    shell would otherwise make a different server)."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update({
        "HEARTH_HOST": host, "HEARTH_PORT": str(port), "HEARTH_TLS": "false",
        "HEARTH_PUBLIC_URL": url, "HEARTH_DATA_DIR": str(data_dir),
        "HEARTH_MEDIA_HOSTS": media_hosts, "HEARTH_LOG_LEVEL": "WARNING",
        "HEARTH_MAX_PARTICIPANTS": str(max_participants),
        "HEARTH_SIMULCAST": "true" if simulcast else "false",
    })
    return env


_SERVERS: dict[tuple[str, int], HearthServer] = {}


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def server_for(options: dict[str, Any]) -> HearthServer:
    """The shared server for these options, started on first use: one with simulcast
    on (``options["simulcast"]``, the ``hearth-simulcast`` adapter) and one without,
    on ports of their own."""
    netns = options.get("netns", NETNS)
    host = str(options.get("host", PEER_IP if netns else "127.0.0.1"))
    simulcast = bool(options.get("simulcast"))
    if "port" in options:
        port = int(options["port"])
    elif netns:
        port = DEFAULT_PORT + int(simulcast)  # the namespace is ours alone
    else:  # loopback (CI): any free port, reused for the rest of this process
        port = next((p for (h, p), srv in _SERVERS.items()
                     if h == host and srv.simulcast == simulcast), 0) or _free_port(host)
    server = _SERVERS.get((host, port))
    if server is None or server.proc.poll() is not None:
        server = HearthServer(host, port, netns, str(options.get("media_hosts", host)),
                              simulcast=simulcast)
        _SERVERS[(host, port)] = server
    return server


async def _api(http: aiohttp.ClientSession, url: str, method: str, path: str,
               body: Any = None) -> Any:
    async with http.request(method, f"{url}{path}", json=body) as resp:
        data = await resp.json(content_type=None)
        if resp.status >= 400 or "ok" not in data:
            raise HearthError(f"{method} {path} -> {resp.status} {data}")
        return data["ok"]


async def _login(url: str, username: str, password: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S))
    try:
        await _api(http, url, "POST", "/api/login", {"username": username, "password": password})
    except BaseException:
        await http.close()
        raise
    return http


class Adapter:
    """Coordinator half: the shared server, one session per run."""

    name = "hearth"

    def __init__(self, options: dict[str, Any]) -> None:
        self.server = server_for(options)
        self.session_id: str | None = None
        self._http: aiohttp.ClientSession | None = None

    async def setup_room(self, publishers: int, subscribers: int) -> None:
        self._http = await _login(self.server.url, USERNAME, PASSWORD)
        created = await _api(self._http, self.server.url, "POST", "/api/sessions",
                             {"title": f"bench {publishers}x{subscribers}"})
        self.session_id = str(created["id"])

    def client_config(self) -> dict[str, Any]:
        return {"kind": "hearth", "url": self.server.url, "session_id": self.session_id,
                "username": USERNAME, "password": PASSWORD,
                "simulcast": self.name == "hearth-simulcast"}

    def sfu_pids(self) -> list[int]:
        return self.server.pids()

    async def teardown_room(self) -> None:
        if self._http is None:
            return
        try:
            if self.session_id is not None:
                with contextlib.suppress(Exception):
                    await _api(self._http, self.server.url, "POST",
                               f"/api/sessions/{self.session_id}/end")
        finally:
            await self._http.close()
            self._http = None


class _Participant:
    """One co-therapist participant on its own socket.io connection."""

    def __init__(self, participant_id: str, token: str) -> None:
        self.id = participant_id
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)

    async def connect(self, url: str) -> None:
        await self.sio.connect(url, auth={"token": self.token}, transports=["websocket"],
                               wait_timeout=10)

    async def ok(self, event: str, payload: dict[str, Any] | None = None) -> Any:
        reply = await self.sio.call(event, payload or {}, timeout=CALL_TIMEOUT_S)
        if not isinstance(reply, dict) or "ok" not in reply:
            raise HearthError(f"{event} refused: {reply}")
        return reply["ok"]


class SimulcastAdapter(Adapter):
    """A server of its own, with simulcast on; every publisher sends its video as three
    real layers (``bench.simulcast``) and follows the relay's dynacast."""

    name = "hearth-simulcast"


class Client:
    """Worker half: signs in once, adds a participant per pc."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.url = str(config["url"])
        self.session_id = str(config["session_id"])
        self._credentials = (str(config["username"]), str(config["password"]))
        self._simulcast = bool(config.get("simulcast"))
        #: the simulcast layer every viewer asks for, by the tile size it reports
        self._layer = str(config.get("layer", simulcast.RIDS[-1]))
        simulcast.layer_spec(self._layer)  # an unknown rid fails before anyone joins
        self._http: aiohttp.ClientSession | None = None
        self._people: list[_Participant] = []
        # engineio logs "packet queue is empty, aborting" when a socket closes at teardown;
        # failures that matter surface as refused acks or harness timeouts instead
        logging.getLogger("engineio.client").setLevel(logging.CRITICAL)

    async def _join(self, name: str) -> _Participant:
        if self._http is None:
            self._http = await _login(self.url, *self._credentials)
        added = await _api(self._http, self.url, "POST",
                           f"/api/sessions/{self.session_id}/participants",
                           {"display_name": name, "role": "co_therapist"})
        person = _Participant(str(added["participant_id"]), str(added["link"]).split("#", 1)[1])
        self._people.append(person)
        await person.connect(self.url)
        joined = await person.ok("join", {"consent_version": "bench"})
        if joined.get("status") != "connected":
            raise HearthError(f"{name} not admitted: {joined}")
        await person.ok("media_join")
        return person

    async def add_publisher(self, pc: RTCPeerConnection, name: str) -> str:
        person = await self._join(name)
        await pc.setLocalDescription(await pc.createOffer())
        sources = {t.mid: ("mic" if t.kind == "audio" else "camera")
                   for t in pc.getTransceivers() if t.mid is not None}
        offer = pc.localDescription.sdp
        if self._simulcast:
            offer, video_ssrcs = simulcast.munge_offer(offer)
            video_ssrc = video_ssrcs[0]  # the media SSRC (the second is its RTX)
            simulcast.register_pc(pc, video_ssrc)
            # dynacast: the layers anyone watches, as a browser's encodings follow it
            person.sio.on("media_layers", lambda data, ssrc=video_ssrc: simulcast.set_active(
                ssrc, list(data.get("active", []))))
        answer = await person.ok("media_publish", {"sdp": offer, "sources": sources})
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        if self._simulcast:
            simulcast.route_feedback(pc)
        return person.id

    async def add_subscriber(self, pc: RTCPeerConnection, publisher_ids: list[str]) -> None:
        person = await self._join(f"sub{len(self._people)}")
        listeners = list(pc.listeners("track"))
        for listener in listeners:  # replayed below, for bound slots, in publisher order
            pc.remove_listener("track", listener)
        pc.on("track", lambda track: None)
        want = set(publisher_ids)
        layout: dict[str, dict[str, Any]] = {}
        for _ in range(MAX_SUBSCRIBE_ROUNDS):
            offer = await person.ok("media_subscribe")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            layout = (await person.ok("media_answer", {"sdp": pc.localDescription.sdp}))["layout"]
            bound = {(s["publisher_id"], s["kind"]) for s in layout.values()}
            if all((p, k) in bound for p in want for k in ("audio", "video")):
                break
        else:
            raise HearthError(f"layout still lacks publishers after {MAX_SUBSCRIBE_ROUNDS} "
                              f"offers: {layout}")
        sizes = simulcast.view_sizes(layout, self._layer)
        if sizes:
            await person.ok("media_view", {"sizes": sizes})
        pc.remove_all_listeners("track")
        for listener in listeners:
            pc.on("track", listener)
        slot = {(s["publisher_id"], s["kind"]): mid for mid, s in layout.items()}
        tracks: dict[str, MediaStreamTrack] = {
            t.mid: t.receiver.track for t in pc.getTransceivers() if t.mid is not None
        }
        for publisher in publisher_ids:
            for kind in ("audio", "video"):
                track = tracks[slot[(publisher, kind)]]
                for listener in listeners:
                    listener(track)

    async def close(self) -> None:
        await asyncio.gather(*(p.sio.disconnect() for p in self._people),
                             return_exceptions=True)
        self._people.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None

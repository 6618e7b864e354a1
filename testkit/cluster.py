"""Real `hearth serve` processes sharing one real redis-server, and clients that follow
placement the way the browser does: `wrong_node` → go there; node gone → back to an entry.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import redis.asyncio as aioredis
import socketio

from testkit.live import PASSWORD, Client, Live, Therapist, signed_in
from testkit.servers import RedisServer, collect_output, free_port

HEARTH = str(Path(sys.executable).with_name("hearth"))
HEARTBEAT, TTL = 1.0, 4.0  # the production defaults: the 10 s failover bound holds with them
#: seconds after a move until people who did not come back show as reconnecting
MOVE_SETTLE = 4.0


@dataclass
class Node:
    name: str
    port: int
    proc: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __post_init__(self) -> None:
        self.output = collect_output(self.proc)


class Cluster:
    """Nodes that share Redis, keys and one public URL (as behind a proxy)."""

    def __init__(self, tmp: Path, redis_url: str, **env: str) -> None:
        self.tmp = tmp
        self.redis_url = redis_url
        self.public_url = ""
        self.env = env
        self.nodes: dict[str, Node] = {}
        self.cli_data_dir = tmp / "cli"  # the embedded store's directory, without Redis
        self._keys = {
            "HEARTH_JWT_KEYS": f"k1:{secrets.token_urlsafe(48)}",
            "HEARTH_DATA_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        }

    def environ(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
        if self.redis_url:  # without Redis: one node on the embedded store
            env["HEARTH_REDIS_URL"] = self.redis_url
        env.update(self._keys, HEARTH_TLS="false",
                   HEARTH_MEDIA_HOSTS="127.0.0.1", HEARTH_LOG_LEVEL="WARNING",
                   HEARTH_PLACEMENT_HEARTBEAT_SECONDS=str(HEARTBEAT),
                   HEARTH_PLACEMENT_TTL_SECONDS=str(TTL),
                   HEARTH_MOVE_SETTLE_SECONDS=str(MOVE_SETTLE))
        env.update({**self.env, **extra})  # the cluster's, then the caller's, win
        return env

    def spawn(self, name: str, *args: str, port: int | None = None, **env: str) -> Node:
        """Start ``hearth serve`` (``args`` e.g. ``--workers 2``) without waiting."""
        port = port or free_port()
        if not self.public_url:
            self.public_url = f"http://127.0.0.1:{port}"
        fields = {"HEARTH_PORT": str(port), "HEARTH_PUBLIC_URL": self.public_url,
                  "HEARTH_NODE_ID": name, "HEARTH_NODE_URL": f"http://127.0.0.1:{port}",
                  "HEARTH_DATA_DIR": str(self.tmp / name)}
        environ = self.environ(**{**fields, **env})
        # Own process group, so cleanup also reaches the workers of ``--workers``.
        proc = subprocess.Popen([HEARTH, "serve", *args], cwd=self.tmp, env=environ, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        node = Node(name, port, proc)
        self.nodes[name] = node
        return node

    async def start(self, name: str, *, port: int | None = None, **env: str) -> Node:
        node = self.spawn(name, port=port, **env)
        await ready(node.url, node)
        return node

    def stop_all(self) -> None:
        for node in self.nodes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait(10)

    def add_therapist(self, username: str) -> None:
        done = subprocess.run([HEARTH, "therapist", "add", username], input=PASSWORD + "\n",
                              env=self.environ(HEARTH_DATA_DIR=str(self.cli_data_dir)),
                              cwd=self.tmp, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    async def therapist(self, node: Node) -> Therapist:
        """A signed-in therapist talking REST to ``node`` (Live's helpers, over HTTP)."""
        username = f"dr.{secrets.token_hex(4)}"
        self.add_therapist(username)
        live = Live(node.url, None, None, aiohttp.ClientSession())  # type: ignore[arg-type]
        return Therapist(live, await signed_in(node.url, username))



async def ready(url: str, node: Node) -> None:
    """Wait (bounded: 20 s) until ``url`` answers /readyz with 200."""
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/readyz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never became ready: {''.join(node.output)}")


class Following(Client):
    """A participant's socket that follows placement and reconnects on its own.

    After any disconnect it reconnects (bounded) and sends ``join`` again, as
    web/static/room.js does; ``rejoins`` records how long each return took.
    """

    def __init__(self, entries: list[str], token: str, *, join: dict[str, Any] | None = None
                 ) -> None:
        super().__init__(SimpleNamespace(url=entries[0]), token)  # type: ignore[arg-type]
        self.entries = entries
        self.node_url: str | None = None
        self.join_payload = join or {"consent_version": "v"}
        self.closing = False
        self.rejoins: list[tuple[float, str]] = []  # (seconds to return, node URL)
        self.errors: list[dict[str, Any]] = []
        self.closed_at: float | None = None  # when the server last closed this socket
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        target = self.node_url or self.entries[0]
        entry = 0
        for _ in range(80):  # bounded: about 20 s
            sio = self.new_socket()
            seen = len(self.received["connect_error"])
            # A node URL may carry a path (behind the proxy): socket.io lives under it.
            parts = urlsplit(target)
            try:
                await sio.connect(f"{parts.scheme}://{parts.netloc}", auth={"token": self.token},
                                  socketio_path=f"{parts.path.strip('/')}/socket.io".lstrip("/"),
                                  transports=["websocket"], wait_timeout=3)
            except socketio.exceptions.ConnectionError:
                refusals = self.received["connect_error"][seen:]
                last = refusals[-1] if refusals else None
                # A refusal by a server is a dict with a code; a node that is down gives
                # the client's own "Connection error" string.
                code = last.get("message") if isinstance(last, dict) else None
                if code == "wrong_node":
                    assert isinstance(last, dict)
                    target = str(last["data"]["url"])
                    continue
                if code not in (None, "unavailable"):
                    raise AssertionError(f"refused: {code}") from None
                entry = (entry + 1) % len(self.entries)  # node down: try the next entry
                target = self.entries[entry]
                await asyncio.sleep(0.25)
                continue
            self.sio = sio
            self.node_url = target
            return
        raise AssertionError("could not connect to any node")

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()
        self.closed_at = time.monotonic()
        if not self.closing and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._return())

    async def _return(self) -> None:
        started = time.monotonic()
        if self.notices("moved"):
            self.node_url = None  # the node asked us to go: start again from an entry
        try:
            await self.connect()
            await self.ok("join", self.join_payload)
        except Exception as exc:  # surfaced to the test through ``errors``
            self.errors.append({"code": "reconnect_failed", "message": repr(exc)})
            raise
        self.rejoins.append((time.monotonic() - started, str(self.node_url)))

    async def call(self, event: str, payload: Any = None) -> Any:
        res = await super().call(event, payload)
        if isinstance(res, dict) and "error" in res:
            self.errors.append(res["error"])
        return res

    async def close(self) -> None:
        self.closing = True
        if self._task is not None:
            self._task.cancel()
        await self.sio.disconnect()


class DurableRedis(RedisServer):
    """A redis-server with an fsync-always AOF on a fixed port, so it can be restarted
    (or stopped for a while) and come back with the same data, as in production."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.proc = self._launch()

    def _launch(self) -> subprocess.Popen[bytes]:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.tmp),
             "--requirepass", self.password],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return proc
            except OSError:
                time.sleep(0.02)
        proc.kill()
        raise AssertionError("redis-server did not start within 10 s")

    async def restart(self, down: float = 0.0) -> None:
        """Stop Redis (SIGTERM: it flushes the AOF), stay down ``down`` seconds, start it
        again on the same port, and return once it answers PING with the data loaded."""
        self.proc.terminate()
        await asyncio.get_running_loop().run_in_executor(None, self.proc.wait, 10)
        await asyncio.sleep(down)
        self.proc = await asyncio.get_running_loop().run_in_executor(None, self._launch)
        r = aioredis.from_url(self.url)
        try:
            for _ in range(200):  # bounded: 10 s while it loads the AOF
                with contextlib.suppress(Exception):
                    if await r.ping():
                        return
                await asyncio.sleep(0.05)
        finally:
            await r.aclose()
        raise AssertionError("redis-server did not answer after the restart")

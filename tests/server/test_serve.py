"""`hearth serve` as a real process: TLS with the dev CA, setup link, readiness, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from testkit.servers import RedisServer, collect_output, free_port

HEARTH = str(Path(sys.executable).with_name("hearth"))


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    data: Path
    output: list[str]

    def ssl(self) -> ssl.SSLContext:
        # Verify properly: the dev CA must vouch for 127.0.0.1.
        return ssl.create_default_context(cafile=str(self.data / "certs" / "ca.pem"))

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """Search everything printed so far, waiting (bounded) for the pattern."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.output):
                if m := re.search(pattern, line):
                    return m
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not printed; got {''.join(self.output)!r}")


async def get_when_up(
    http: aiohttp.ClientSession, served: Served, path: str
) -> tuple[int, dict[str, object], dict[str, str]]:
    """GET once the listener accepts connections (bounded: 10 s)."""
    for _ in range(100):
        try:
            async with http.get(f"{served.url}{path}", ssl=served.ssl()) as r:
                return r.status, await r.json(), dict(r.headers)
        except aiohttp.ClientConnectorError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never answered")


def start(tmp_path: Path, **env: str) -> Served:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    environ.update(HEARTH_PORT=str(port), HEARTH_DATA_DIR=str(tmp_path / "data"),
                   HEARTH_PUBLIC_URL=f"https://127.0.0.1:{port}", **env)
    proc = subprocess.Popen(
        [HEARTH, "serve"], cwd=tmp_path, env=environ, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    return Served(proc, f"https://127.0.0.1:{port}", tmp_path / "data", collect_output(proc))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = start(tmp_path)
    yield s
    s.proc.kill()
    s.proc.wait()


async def test_serves_tls_prints_setup_link_once(served: Served, tmp_path: Path) -> None:
    served.wait_for(r"Trust this CA")
    served.wait_for(r"setup-link")  # the log names the owner-only file, never the link
    secret = tmp_path / "data" / "secrets" / "setup-link"
    assert secret.stat().st_mode & 0o777 == 0o600
    token = secret.read_text().strip().split("/setup#")[1]
    served.wait_for(r"serving on")
    served.wait_for(r"startup heap frozen")  # full collections skip what startup built
    assert token not in "".join(served.output)
    async with aiohttp.ClientSession() as http:
        status, body_, headers = await get_when_up(http, served, "/healthz")
        assert (status, body_) == (200, {"status": "alive"})
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert (await get_when_up(http, served, "/readyz"))[0] == 200
        body = {"token": token, "username": "dr.ana", "password": "correct horse battery"}
        async with http.post(f"{served.url}/api/setup", json=body, ssl=served.ssl()) as r:
            assert r.status == 201, await r.text()
        again = {**body, "username": "mallory"}
        async with http.post(f"{served.url}/api/setup", json=again, ssl=served.ssl()) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "invalid"
        async with http.post(f"{served.url}/api/setup", data=b"{not json",
                             ssl=served.ssl()) as r:
            assert r.status == 400
    # SIGTERM ends the process cleanly.
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=20) == 0


def test_no_setup_link_once_an_account_exists(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    environ["HEARTH_DATA_DIR"] = str(tmp_path / "data")
    added = subprocess.run(
        [HEARTH, "therapist", "add", "dr.ben"], input="a long enough password\n",
        env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert added.returncode == 0, added.stderr
    dup = subprocess.run(
        [HEARTH, "therapist", "add", "dr.ben"], input="a long enough password\n",
        env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert dup.returncode == 2
    assert dup.stderr.strip() == "hearth: username: already taken"
    s = start(tmp_path)
    try:
        s.wait_for(r"serving on")
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=20) == 0
        time.sleep(0.2)
        assert "/setup#" not in "".join(s.output)
    finally:
        s.proc.kill()


async def test_redis_unreachable_readyz_fails_and_log_says_why(tmp_path: Path) -> None:
    s = start(tmp_path, HEARTH_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    try:
        s.wait_for(r"store unreachable at startup")
        s.wait_for(r"serving on")
        async with aiohttp.ClientSession() as http:
            status, body, _ = await get_when_up(http, s, "/readyz")
            assert (status, body["status"]) == (503, "store_unavailable")
            assert (await get_when_up(http, s, "/healthz"))[0] == 200
    finally:
        s.proc.kill()
        s.proc.wait()


async def test_redis_mode_serves_ready(tmp_path: Path, redis_server: RedisServer) -> None:
    s = start(tmp_path, HEARTH_REDIS_URL=redis_server.url)
    try:
        s.wait_for(r"serving on")
        async with aiohttp.ClientSession() as http:
            assert (await get_when_up(http, s, "/readyz"))[0] == 200
    finally:
        s.proc.kill()
        s.proc.wait()


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"HEARTH_PORT": "eighty"}, "hearth: HEARTH_PORT: Input should be a valid integer"),
        ({"HEARTH_TLS_CERT": "/missing.pem", "HEARTH_TLS_KEY": "/missing.key"},
         "hearth: TLS file /missing.pem does not exist: run `hearth certs dev`"),
        ({"HEARTH_MODE": "production", "HEARTH_REDIS_URL": "redis://127.0.0.1/0",
          "HEARTH_JWT_KEYS": "k:" + "x" * 40, "HEARTH_DATA_KEY": "A" * 44},
         "hearth: HEARTH_REDIS_URL: production refuses a Redis URL without a password"),
    ],
)
@pytest.mark.parametrize("command", [["serve"], ["check-config"]])
def test_bad_configuration_is_one_line(
    tmp_path: Path, env: dict[str, str], line: str, command: list[str]
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    environ.update(HEARTH_DATA_DIR=str(tmp_path), **env)
    done = subprocess.run(
        [HEARTH, *command], env=environ, cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(line)
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_check_config_ok(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    environ["HEARTH_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [HEARTH, "check-config"], env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.startswith("configuration OK: mode=development")


def test_certs_dev_command(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    environ["HEARTH_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [HEARTH, "certs", "dev", "--host", "clinic.lan"], env=environ, capture_output=True,
        text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "certs" / "server.pem").exists()
    assert "ca.pem" in done.stdout


async def test_sigterm_closes_live_sockets_and_exits(tmp_path: Path) -> None:
    import socketio

    environ = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    environ["HEARTH_DATA_DIR"] = str(tmp_path / "data")
    subprocess.run([HEARTH, "therapist", "add", "dr.term"], input="a long enough password\n",  # noqa: ASYNC221
                   env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                   check=True)
    # A 2 s drain, as in the cluster tests: the socket outlives the grace, so the drain
    # still has to close it itself.
    s = start(tmp_path, HEARTH_MEDIA_HOSTS="127.0.0.1", HEARTH_SHUTDOWN_GRACE_SECONDS="2")
    try:
        s.wait_for(r"serving on")
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            await get_when_up(http, s, "/readyz")
            await http.post(f"{s.url}/api/login", ssl=s.ssl(),
                            json={"username": "dr.term", "password": "a long enough password"})
            async with http.post(f"{s.url}/api/sessions", json={"title": "x"}, ssl=s.ssl()) as r:
                sid = (await r.json())["ok"]["id"]
            async with http.post(f"{s.url}/api/sessions/{sid}/join", ssl=s.ssl()) as r:
                token = (await r.json())["ok"]["link"].split("#", 1)[1]
        client = socketio.AsyncClient(reconnection=False, ssl_verify=False)
        closed = asyncio.Event()
        client.on("disconnect", lambda *_: closed.set())
        await client.connect(s.url, auth={"token": token}, transports=["websocket"])
        s.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(closed.wait(), 15)  # the server closed it: no hang
        for _ in range(150):  # bounded: the process must finish shutting down by itself
            if s.proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert s.proc.returncode == 0
    finally:
        s.proc.kill()
        s.proc.wait()

"""Real servers on loopback for tests and benchmarks: free ports, a throwaway redis-server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest


def collect_output(proc: subprocess.Popen[str]) -> list[str]:
    """A list that a daemon thread fills with ``proc``'s output lines as they come."""
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def stop_process(proc: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM, and SIGKILL if the process is still there after ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def adjacent_free_ports() -> int:
    """A port P on loopback with P+1 free too (for `--workers 2`; bounded search)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two adjacent free ports")


class RedisServer:
    """A throwaway redis-server bound to loopback, with a password."""

    password = "test-redis-password"

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `apt-get install -y redis-server`")
        self.port = free_port()
        self._next_db = 0
        self.proc = subprocess.Popen(
            [
                binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(tmp),
                "--requirepass", self.password,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.proc.kill()
        pytest.fail("redis-server did not start within 10 s")

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def fresh_url(self) -> str:
        """The URL of an emptied database for one test's apps. Tests run one after
        another: each gets the next database of 1..15 (0 holds the key-prefixed store
        fixtures), so no test reads another's clinic settings, staff or records."""
        import redis

        self._next_db = self._next_db % 15 + 1
        url = self.url.replace("/0", f"/{self._next_db}")
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()
        return url

    def stop(self) -> None:
        stop_process(self.proc, 5)

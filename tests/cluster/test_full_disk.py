"""A full disk is visible: a real `hearth serve` with its embedded store on a small tmpfs
that this test mounts, fills with a file, frees and unmounts (root only; skipped
otherwise). No mocks: SQLite itself reports ``database or disk is full``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from testkit.cluster import Cluster, Node
from testkit.figures import figure

pytestmark = pytest.mark.cluster
SIZE = "16m"


@pytest.fixture
def small_disk(tmp_path: Path) -> AsyncIterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "ops-full-disk",
                           str(mount)], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=10)


def fill(disk: Path) -> Path:
    """Write a file until the filesystem refuses (ENOSPC); bounded by its size."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        for _ in range(16 * 16 + 16):  # 16 MiB in 64 KiB chunks, and then some
            f.write(chunk)
            f.flush()
    return filler


async def readyz(node: Node) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(f"{node.url}/readyz") as r:
        return r.status, await r.json()


async def refused_writes(node: Node) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{node.url}/metrics") as r:
        body = await r.text()
    return sum(float(line.split()[1]) for line in body.splitlines()
               if line.startswith('hearth_store_writes_refused_total{cause="disk_full"}'))


async def wait_ready(node: Node, status: int, limit: float = 10.0) -> tuple[float, dict[str, str]]:
    started = time.monotonic()
    for _ in range(int(limit / 0.05)):
        got, body = await readyz(node)
        if got == status:
            return time.monotonic() - started, body
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz never answered {status}")


async def test_full_disk_flips_readyz_with_its_cause_until_writes_succeed(
    small_disk: Path, tmp_path: Path,
) -> None:
    c = Cluster(tmp_path, "")
    c.cli_data_dir = small_disk / "data"
    node = await c.start("solo", HEARTH_DATA_DIR=str(small_disk / "data"))
    dr = await c.therapist(node)
    try:
        await dr.session()
        assert (await readyz(node))[0] == 200
        filler = fill(small_disk)
        full = time.monotonic()
        # The next write (the heartbeat, every second, or this REST call) is refused.
        async with dr.http.post(f"{node.url}/api/sessions", json={"title": "t"}) as r:
            assert r.status == 503
            assert (await r.json())["error"]["code"] == "unavailable"
        took, body = await wait_ready(node, 503)
        figure(f"\nfull disk → /readyz 503 in {time.monotonic() - full:.2f} s: {body}")
        assert body == {"status": "store_unavailable", "detail": "database or disk is full"}
        assert await refused_writes(node) >= 1
        # Heartbeats keep failing meanwhile (one a second): one log line, not one each.
        refused = await refused_writes(node)
        for _ in range(200):  # bounded: 10 s
            if await refused_writes(node) >= refused + 2:
                break
            await asyncio.sleep(0.05)
        assert await refused_writes(node) >= refused + 2
        filler.unlink()
        freed = time.monotonic()
        took, _ = await wait_ready(node, 200)
        figure(f"space freed → /readyz 200 in {took:.2f} s (no restart)")
        await dr.session()  # writes work again; the refused one never happened
        assert [s["title"] for s in await dr.api("GET", "/api/sessions")].count("t") == 0
        log = "".join(node.output)
        assert log.count("store refusing writes") == 1, log
        assert "database or disk is full" in log
        assert log.count("store accepting writes again") == 1
        assert time.monotonic() - freed < 10
    finally:
        await dr.close()
        await dr.live.http.close()
        c.stop_all()

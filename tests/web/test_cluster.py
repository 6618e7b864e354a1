"""Two nodes of two workers each behind a real nginx running deploy/nginx.conf, and a
family member in real Chromium: sent to the session's worker, back on another node
after that node is killed, and moved again when the new worker drains on SIGTERM.

The proxy configuration is the shipped example with only its addresses, ports and TLS
lines swapped for loopback, so this test also proves the documented proxy rule.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import socketio
from playwright.sync_api import Browser, expect

from testkit.cluster import Cluster, Node
from testkit.figures import figure
from testkit.servers import RedisServer, adjacent_free_ports, free_port
from tests.web.conftest import PASSWORD, ROOT, new_page, shot, wait_js
from tests.web.test_flow import prejoin


def nginx_conf(tmp: Path, listen: int, nodes: dict[str, int]) -> Path:
    """deploy/nginx.conf on loopback: addresses, ports and TLS lines swapped, nothing else."""
    lines = (ROOT / "deploy" / "nginx.conf").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{listen};")
    text = "\n".join(line for line in text.splitlines() if "ssl_certificate" not in line)
    text = text.replace("https://", "http://")
    for address, base in (("10.0.0.11", nodes["a"]), ("10.0.0.12", nodes["b"])):
        for i in range(2):
            text = text.replace(f"{address}:{8443 + i}", f"127.0.0.1:{base + i}")
    assert "10.0.0." not in text
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(
        "daemon off;\nmaster_process off;\nworker_processes 1;\n"
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log warn;\n"
        "events { worker_connections 256; }\n"
        f"http {{\naccess_log {tmp}/access.log;\n"
        + "".join(f"{n}_temp_path {tmp}/{n};\n" for n in
                  ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + text + "\n}\n")
    return conf


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[dict[str, Any]]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is not installed: run `apt-get install -y nginx-light`")
    server = RedisServer(tmp_path)
    proxy = free_port()
    cluster = Cluster(tmp_path, server.url, HEARTH_SHUTDOWN_GRACE_SECONDS="2")
    cluster.public_url = f"http://127.0.0.1:{proxy}"
    ports = {"a": adjacent_free_ports(), "b": adjacent_free_ports()}
    conf = nginx_conf(tmp_path, proxy, ports)
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    nodes: dict[str, Node] = {}
    try:
        cluster.add_therapist("dr.rivera")
        for name, port in ports.items():
            nodes[name] = cluster.spawn(name, "--workers", "2", port=port,
                                        HEARTH_NODE_URL=f"{cluster.public_url}/n/{name}")
        for name, port in ports.items():
            for i in range(2):
                wait_ready(f"http://127.0.0.1:{port + i}", nodes[name])
        wait_ready(cluster.public_url, nodes["a"])
        yield {"url": cluster.public_url, "nodes": nodes, "redis": server,
               "log": tmp_path / "access.log"}
    finally:
        cluster.stop_all()
        proc.terminate()
        proc.wait(10)
        server.stop()


def wait_ready(url: str, node: Node) -> None:
    for _ in range(300):  # bounded: 30 s
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready: {''.join(node.output)}")


def placement(server: RedisServer, session_id: str) -> str | None:
    r = redis.Redis.from_url(server.url)
    try:
        value = r.hget(f"hearth:placement:{session_id}", "v")
        return None if value is None else bytes(value).decode()  # type: ignore[arg-type]
    finally:
        r.close()


def test_browser_follows_placement_through_nginx_and_survives_a_killed_node(
    browser: Browser, proxied: dict[str, Any]
) -> None:
    url = proxied["url"]
    http = requests.Session()
    r = http.post(f"{url}/api/login", json={"username": "dr.rivera", "password": PASSWORD})
    assert r.status_code == 200, r.text
    sid = http.post(f"{url}/api/sessions", json={"title": "Rivera"}).json()["ok"]["id"]
    alex = http.post(f"{url}/api/sessions/{sid}/participants",
                     json={"display_name": "Alex", "role": "client"}).json()["ok"]
    dr_link = http.post(f"{url}/api/sessions/{sid}/join").json()["ok"]["link"]

    # The therapist opens the session on node b's second worker (its proxy path).
    dr = socketio.Client(reconnection=False)
    dr.connect(url, auth={"token": dr_link.split("#", 1)[1]}, transports=["polling"],
               socketio_path="n/b/1/socket.io", wait_timeout=10)
    assert "ok" in dr.call("join", {"consent_version": "v"}, timeout=10)
    assert placement(proxied["redis"], sid) == "b-1"

    page = new_page(browser)
    prejoin(page, alex["link"])
    expect(page.locator("#screen-lobby")).to_be_visible()
    assert "ok" in dr.call("admit", {"participant_id": alex["participant_id"]}, timeout=10)
    expect(page.locator("#screen-session")).to_be_visible()
    dr.disconnect()

    # Node b dies (both workers): Alex's browser is back in the session on node a.
    killed = time.monotonic()
    os.killpg(proxied["nodes"]["b"].proc.pid, signal.SIGKILL)
    wait_js(page, "!document.getElementById('banner').hidden", limit=10)
    wait_js(page, "document.getElementById('banner').hidden", limit=20)
    back = time.monotonic() - killed
    figure(f"\nChromium back in the session on node a {back:.1f} s after kill -9 of node b")
    assert placement(proxied["redis"], sid) in ("a-0", "a-1")
    # nginx logs a websocket when it closes: the browser first went through the entry,
    # then followed `wrong_node` to b-1's path (closed by the kill).
    log = proxied["log"].read_text()
    chromium = [line for line in log.splitlines() if "HeadlessChrome" in line]
    assert any(re.search(r"GET /socket\.io/\?EIO=4", line) for line in chromium), log[-2000:]
    assert any(re.search(r"GET /n/b/1/socket\.io/\?EIO=4", line) for line in chromium), \
        log[-2000:]
    expect(page.locator("#screen-session")).to_be_visible()
    people = http.get(f"{url}/api/sessions/{sid}").json()["ok"]["participants"]
    assert {p["display_name"]: p["status"] for p in people}["Alex"] == "connected"
    shot(page, "failover")

    # The worker serving it now is stopped with SIGTERM (a rolling restart): after the
    # grace period Alex's browser is told `moved` and lands on node a's other worker.
    serving = str(placement(proxied["redis"], sid))
    worker = worker_pid(proxied["nodes"]["a"].proc.pid, serving)
    os.kill(worker, signal.SIGTERM)
    wait_js(page, "document.getElementById('banner').textContent.includes('Moving')",
            limit=15)
    wait_js(page, "document.getElementById('banner').hidden", limit=20)
    other = {"a-0": "a-1", "a-1": "a-0"}[serving]
    assert placement(proxied["redis"], sid) == other
    expect(page.locator("#screen-session")).to_be_visible()
    page.context.close()


def worker_pid(supervisor: int, node_id: str) -> int:
    """The pid of the ``--workers`` child whose node id is ``node_id``."""
    for task in Path(f"/proc/{supervisor}/task").iterdir():
        for child in (task / "children").read_text().split():
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            if f"HEARTH_NODE_ID={node_id}".encode() in environ:
                return int(child)
    raise AssertionError(f"no worker {node_id} under {supervisor}")

"""Reconnecting-flooder benchmark: one link floods and reconnects after every cut-off for
5 s while another family chats; measures the family's chat ack p50/p99 and the
server's CPU (whole run, and after the first second).

    python -m bench.flood                # prints one JSON line with the figures

A real ``hearth serve`` (plain HTTP on 127.0.0.1, embedded store) and real socket.io
clients; the flooder runs in its own process so it never slows the chatting client's
event loop. Every loop is bounded in count and time. A benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import aiohttp
import socketio

from bench.clients import CLK_TCK, read_cpu_ticks
from bench.signaling import PASSWORD, Server, _Endpoint
from testkit.live import Live, Therapist, token_of

FLOOD_SECONDS = 5.0
MAX_FLOOD_EVENTS = 400_000
CHAT_INTERVAL = 0.05


def flooder(url: str, token: str, seconds: float, out: Any) -> None:
    """Child process: flood ``hand`` events; reconnect with the same link after each cut."""

    async def run() -> dict[str, int]:
        sent = connects = refused = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and sent < MAX_FLOOD_EVENTS:
            sio = socketio.AsyncClient(reconnection=False)
            try:
                await sio.connect(url, auth={"token": token}, transports=["websocket"],
                                  wait_timeout=3)
            except socketio.exceptions.ConnectionError:
                refused += 1
                await asyncio.sleep(0.05)  # an attacker retries at once; bounded anyway
                continue
            connects += 1
            while sio.connected and time.monotonic() < deadline and sent < MAX_FLOOD_EVENTS:
                await sio.emit("hand", {"raised": True})
                sent += 1
                if sent % 100 == 0:
                    await asyncio.sleep(0)
            await sio.disconnect()
        return {"flood_events_sent": sent, "flood_connects": connects,
                "flood_refused_connects": refused}

    out.send(asyncio.run(run()))


async def chatter(url: str, tokens: list[str], seconds: float) -> list[float]:
    """Two family members; one chats every 50 ms; each ack's round trip in ms."""
    clients = []
    for token in tokens:
        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=5)
        clients.append(sio)
    for sio in clients:
        await sio.call("join", {"consent_version": "v"}, timeout=10)
    latencies = []
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline and i < int(seconds / CHAT_INTERVAL) + 10:
        started = time.perf_counter()
        res = await clients[0].call("chat_send", {"scope": "room", "text": f"hello {i}"},
                                    timeout=10)
        if "ok" in res:
            latencies.append((time.perf_counter() - started) * 1000)
        i += 1
        await asyncio.sleep(max(0.0, CHAT_INTERVAL - (time.perf_counter() - started)))
    for sio in clients:
        await sio.disconnect()
    return latencies


async def plan(url: str) -> tuple[str, list[str]]:
    """A flooding session (one link) and a calm one (therapist + one relative, admitted)."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    dr = Therapist(cast(Live, _Endpoint(url)), http)
    try:
        async with http.post(f"{url}/api/login",
                             json={"username": "dr.bench", "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()
        flood_sid = await dr.session("flood")
        flood_token = await dr.join_token(flood_sid)
        calm_sid = await dr.session("calm")
        _, relative = await dr.add(calm_sid, "Calm", "client")
        therapist = token_of((await dr.api("POST", f"/api/sessions/{calm_sid}/join"))["link"])
        # Clinicians skip the lobby; the relative chats in the main room once admitted.
        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(url, auth={"token": therapist}, transports=["websocket"])
        await sio.call("join", {"consent_version": "v"})
        rel = socketio.AsyncClient(reconnection=False)
        await rel.connect(url, auth={"token": relative}, transports=["websocket"])
        await rel.call("join", {"consent_version": "v"})
        await sio.call("admit_all")
        await asyncio.sleep(0.5)
        await rel.disconnect()
        await sio.disconnect()
        return flood_token, [relative, therapist]
    finally:
        await http.close()


async def measure(with_flood: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hearth-flood-") as tmp:
        server = Server(Path(tmp), None)
        try:
            async with aiohttp.ClientSession() as http:
                await server.ready(http)
            flood_token, calm = await plan(server.url)
            figures: dict[str, Any] = {"flood": with_flood}
            parent, child = multiprocessing.Pipe()
            proc = None
            if with_flood:
                proc = multiprocessing.Process(
                    target=flooder, args=(server.url, flood_token, FLOOD_SECONDS, child))
                proc.start()
            cpu0, t0 = read_cpu_ticks(server.proc.pid), time.monotonic()
            chat = asyncio.create_task(chatter(server.url, calm, FLOOD_SECONDS))
            await asyncio.sleep(1.0)
            cpu1, t1 = read_cpu_ticks(server.proc.pid), time.monotonic()
            latencies = await chat
            cpu2, t2 = read_cpu_ticks(server.proc.pid), time.monotonic()
            if proc is not None:
                proc.join(FLOOD_SECONDS + 10)
                if parent.poll(1):
                    figures.update(parent.recv())
            qs = statistics.quantiles(latencies, n=100) if len(latencies) > 2 else [0.0] * 99
            figures.update({
                "chat_acks": len(latencies),
                "chat_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
                "chat_p99_ms": round(qs[98], 1),
                "chat_over_200ms": sum(1 for x in latencies if x > 200),
                "server_cpu_cores": round((cpu2 - cpu0) / CLK_TCK / (t2 - t0), 2),
                "server_cpu_cores_after_1s": round((cpu2 - cpu1) / CLK_TCK / (t2 - t1), 2),
            })
            return figures
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="store_true", help="also run without a flooder")
    args = parser.parse_args()
    if args.baseline:
        print(json.dumps(asyncio.run(measure(False))))
    print(json.dumps(asyncio.run(measure(True))))


if __name__ == "__main__":
    main()

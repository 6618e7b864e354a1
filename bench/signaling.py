"""Signaling load benchmark: many socket.io clients against a real ``hearth serve``.

    python -m bench.signaling --clients 1000 --sessions 100 --stores embedded,redis
    python -m bench.signaling --smoke      # 20 clients, 2 sessions, embedded, seconds long

Per store (the embedded SQLite store, then Redis on a throwaway loopback
``redis-server --save ''``) it starts ``hearth serve`` on a free loopback port,
creates the sessions over REST (one therapist + family members each), and spreads
whole sessions over several client processes so one client event loop is not the
bottleneck. Then, phase by phase, every client measures its own acks:

* connect: socket.io over websocket with the personal link;
* join: the therapist joins, family members knock, the therapist admits each one
  from the lobby, each member joins again once its state says admitted;
* steady: every client sends ``chat_send``/``set_media``/``hand`` in turn at a
  fixed rate (well under the server's per-socket token bucket);
* breakouts: each therapist opens and closes its session's breakout rooms.

It records ack latency p50/p99 per event type, the server's RSS growth per
connection, the server's (and Redis's) CPU per event per phase, each client
process's CPU, and every error ack by code (``rate_limited`` included, never
hidden). It writes bench/data/signaling-*.json and the signaling section of
docs/benchmarks.md. A benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import random
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import aiohttp
import socketio

from bench.clients import CLK_TCK, read_cpu_ticks, read_rss_kb
from bench.common import fmt as _f
from bench.common import machine, pct, prune
from bench.doc import replace_section
from bench.workers import WorkerHandle
from testkit.live import Client, Live, Therapist
from testkit.servers import RedisServer, free_port, stop_process

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "bench" / "data"
HEARTH = str(Path(sys.executable).with_name("hearth"))
PASSWORD = "a perfectly long password"
BEGIN, END = "<!-- bench.signaling:begin -->", "<!-- bench.signaling:end -->"
# Family roles cycled over the members (no children: the breakout safety rule is not
# what is measured here).
FAMILY_ROLES = ("client", "partner", "parent", "family")
STEADY_EVENTS = ("chat_send", "set_media", "hand")
# The order of the per-event table.
EVENT_ORDER = ("connect", "join_therapist", "join_knock", "admit", "admitted_seen",
               "join_connect", "chat_send", "chat_delivered", "set_media", "hand",
               "breakouts_create", "breakouts_auto", "breakouts_open", "breakouts_close",
               "breakouts_closed_seen")
PHASES = ("connect", "join", "steady", "breakouts")
ACK_TIMEOUT, DISCONNECTED = "ack_timeout", "disconnected"  # client-side outcomes
NOT_ACKS = ("admitted_seen", "breakouts_closed_seen", "phase", "connect")  # waits, not events
MAX_SAMPLES = 200_000  # per worker and kind: bounds memory whatever the arguments


# ---------------------------------------------------------------- /proc readings


async def server_events(http: aiohttp.ClientSession, url: str) -> dict[str, int] | None:
    """The server's own count of signaling events handled, by ``event/outcome``, from
    /metrics; None if it cannot be read in time (the client-side count is used then)."""
    try:
        async with asyncio.timeout(30), http.get(f"{url}/metrics") as r:
            text = await r.text()
    except (TimeoutError, aiohttp.ClientError):
        return None
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("hearth_signaling_events_total{"):
            labels, _, value = line.partition("} ")
            pairs = dict(kv.split("=", 1) for kv in labels.split("{", 1)[1].split(","))
            key = f"{pairs['event'].strip(chr(34))}/{pairs['outcome'].strip(chr(34))}"
            counts[key] = int(float(value))
    return counts


def load() -> dict[str, Any]:
    """Load average and CPU pressure: says whether other work shared the machine."""
    out: dict[str, Any] = {"loadavg": Path("/proc/loadavg").read_text().split()[:3]}
    with contextlib.suppress(OSError):
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        out["cpu_pressure"] = {k: float(v) for k, v in
                               (kv.split("=") for kv in some[1:4])}
    return out


# ---------------------------------------------------------------- client side


@dataclass
class _Endpoint:
    """All the harness's ``Client`` needs from a ``Live``: the server's URL."""

    url: str


class BenchClient(Client):
    """The harness's socket.io client, keeping counts and the latest state only, so a
    thousand of them stay small, and waking waiters with events instead of polling."""

    def __init__(self, url: str, token: str, stats: Stats) -> None:
        self.stats = stats
        self.counts: dict[str, int] = defaultdict(int)
        self.admitted = asyncio.Event()
        self.closed_seen = asyncio.Event()
        super().__init__(cast(Live, _Endpoint(url)), token)

    def _recorder(self, name: str) -> Any:
        async def record(data: Any) -> None:
            self.counts[name] += 1
            if name == "state" and isinstance(data, dict):
                latest = self.received["state"]
                if not latest or data.get("version", 0) >= latest[0].get("version", 0):
                    self.received["state"] = [data]
                if data.get("me", {}).get("status") in ("admitted", "connected"):
                    self.admitted.set()
            elif name == "notice" and isinstance(data, dict):
                if data.get("kind") == "breakouts_closed":
                    self.closed_seen.set()
            elif name == "chat" and isinstance(data, dict):
                text = str(data.get("text", ""))
                if text.startswith("t="):
                    with contextlib.suppress(ValueError):
                        self.stats.sample("chat_delivered",
                                          (time.time() - float(text[2:].split()[0])) * 1000)
            elif name == "connect_error":
                self.received[name] = [data]
        return record

    async def open(self, limit_s: float) -> None:
        await self.sio.connect(self.live.url, auth={"token": self.token},
                               transports=["websocket"], wait_timeout=limit_s)

    async def timed(self, event: str, payload: Any = None, *, label: str | None = None
                    ) -> dict[str, Any]:
        """Call ``event``, record its ack latency under ``label`` and its outcome."""
        name = label or event
        t0 = time.perf_counter()
        try:
            res = await self.call(event, payload)
        except (TimeoutError, socketio.exceptions.TimeoutError):
            self.stats.outcome(name, ACK_TIMEOUT)  # no ack within the harness's 10 s
            return {"error": {"code": ACK_TIMEOUT}}
        except socketio.exceptions.SocketIOError as exc:  # not connected (any more)
            self.stats.outcome(name, DISCONNECTED)
            return {"error": {"code": DISCONNECTED, "message": repr(exc)}}
        self.stats.sample(name, (time.perf_counter() - t0) * 1000)
        code = "ok" if isinstance(res, dict) and "ok" in res else (
            str(res["error"]["code"]) if isinstance(res, dict) and "error" in res else "bad_ack")
        self.stats.outcome(name, code)
        return res if isinstance(res, dict) else {"error": {"code": "bad_ack"}}


@dataclass
class Stats:
    """One phase's samples (ms) and outcome counts, per event label."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outcomes: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int)))

    def sample(self, name: str, ms: float) -> None:
        if len(self.samples[name]) < MAX_SAMPLES:
            self.samples[name].append(ms)

    def outcome(self, name: str, code: str) -> None:
        self.outcomes[name][code] += 1

    def export(self) -> dict[str, Any]:
        return {"samples": dict(self.samples),
                "outcomes": {k: dict(v) for k, v in self.outcomes.items()}}


@dataclass
class SessionPlan:
    """One session as the coordinator created it: tokens and participant ids."""

    sid: str
    therapist_token: str
    members: list[tuple[str, str]]  # (participant_id, token)


class Worker:
    """The clients of whole sessions, driven phase by phase by the coordinator."""

    def __init__(self, url: str, plans: list[SessionPlan], config: dict[str, Any]) -> None:
        self.url = url
        self.plans = plans
        self.config = config
        self.stats = Stats()
        self.therapists: dict[str, BenchClient] = {}
        self.members: dict[str, list[tuple[str, BenchClient]]] = {}

    def _fresh(self) -> Stats:
        self.stats = Stats()
        for c in self.all_clients():
            c.stats = self.stats
        return self.stats

    def all_clients(self) -> list[BenchClient]:
        return [*self.therapists.values(),
                *(c for members in self.members.values() for _, c in members)]

    async def connect(self, limit_s: float) -> dict[str, Any]:
        """Open every socket, at most ``concurrency`` handshakes at a time."""
        stats = self._fresh()
        gate = asyncio.Semaphore(int(self.config["connect_concurrency"]))
        deadline = time.monotonic() + limit_s

        async def one(token: str) -> BenchClient:
            c = BenchClient(self.url, token, stats)
            async with gate:
                left = deadline - time.monotonic()
                if left <= 0:
                    stats.outcome("connect", "phase_timeout")
                    return c
                t0 = time.perf_counter()
                try:
                    await c.open(min(20.0, left))
                except Exception as exc:
                    stats.outcome("connect", type(exc).__name__)
                    return c
                stats.sample("connect", (time.perf_counter() - t0) * 1000)
                stats.outcome("connect", "ok")
            return c

        tasks = {plan.sid: [asyncio.ensure_future(one(t)) for _, t in plan.members]
                 for plan in self.plans}
        therapist_tasks = {plan.sid: asyncio.ensure_future(one(plan.therapist_token))
                           for plan in self.plans}
        for sid, task in therapist_tasks.items():
            self.therapists[sid] = await task
        for plan in self.plans:
            clients = [await t for t in tasks[plan.sid]]
            self.members[plan.sid] = [(pid, c) for (pid, _), c in
                                      zip(plan.members, clients, strict=True)]
        return {**stats.export(), "connected": sum(c.sio.connected for c in self.all_clients())}

    async def join(self, limit_s: float) -> dict[str, Any]:
        """Therapist joins, members knock, therapist admits each, members join again."""
        stats = self._fresh()
        gate = asyncio.Semaphore(int(self.config["join_concurrency"]))

        async def session(plan: SessionPlan) -> None:
            async with gate:
                dr = self.therapists[plan.sid]
                members = [(pid, c) for pid, c in self.members[plan.sid] if c.sio.connected]
                if not dr.sio.connected:
                    return
                await dr.timed("join", {"consent_version": "bench"}, label="join_therapist")
                await asyncio.gather(*(c.timed("join", {"consent_version": "bench"},
                                               label="join_knock") for _, c in members))
                waiters = []
                for pid, c in members:
                    t0 = time.perf_counter()
                    await dr.timed("admit", {"participant_id": pid})
                    waiters.append((c, asyncio.ensure_future(self._seen(c, t0))))
                for c, waiter in waiters:
                    if await waiter:
                        await c.timed("join", {"consent_version": "bench"},
                                      label="join_connect")

        await _bounded(asyncio.gather(*(session(p) for p in self.plans)), limit_s, stats)
        return stats.export()

    async def _seen(self, c: BenchClient, t0: float) -> bool:
        """Admit call → the member's own state says admitted (bounded)."""
        try:
            await asyncio.wait_for(c.admitted.wait(), 20)
        except TimeoutError:
            self.stats.outcome("admitted_seen", "timeout")
            return False
        self.stats.sample("admitted_seen", (time.perf_counter() - t0) * 1000)
        self.stats.outcome("admitted_seen", "ok")
        return True

    async def steady(self, seconds: float, rate: float) -> dict[str, Any]:
        """Every client sends the steady mix at ``rate`` events/s, for ``seconds``."""
        stats = self._fresh()
        period = 1.0 / rate
        count_limit = math.ceil(seconds * rate) + 1
        start = time.monotonic()
        deadline = start + seconds
        states0 = sum(c.counts["state"] for c in self.all_clients())

        async def loop(c: BenchClient, k: int) -> None:
            rng = random.Random(k)
            due = start + rng.uniform(0, period)
            mic = True
            for i in range(count_limit):
                now = time.monotonic()
                if due > now:
                    await asyncio.sleep(due - now)
                if time.monotonic() >= deadline or not c.sio.connected:
                    return
                kind = STEADY_EVENTS[(i + k) % len(STEADY_EVENTS)]
                if kind == "chat_send":
                    await c.timed("chat_send", {"scope": "room",
                                                "text": f"t={time.time():.6f} hello"})
                elif kind == "set_media":
                    mic = not mic
                    await c.timed("set_media", {"mic_on": mic, "camera_on": True})
                else:
                    await c.timed("hand", {"raised": i % 2 == 0})
                due = max(due + period, time.monotonic())  # late: no catch-up burst

        await _bounded(asyncio.gather(*(loop(c, k) for k, c in enumerate(self.all_clients()))),
                       seconds + 30, stats)
        return {**stats.export(),
                "states_received": sum(c.counts["state"] for c in self.all_clients()) - states0}

    async def breakouts(self, cycles: int, hold_s: float, limit_s: float) -> dict[str, Any]:
        """Each therapist: create three rooms, assign automatically, then open/close."""
        stats = self._fresh()

        async def session(dr: BenchClient) -> None:
            if not dr.sio.connected:
                return
            await dr.timed("breakouts_create", {"names": ["Room A", "Room B", "Room C"]})
            await dr.timed("breakouts_auto", {})
            for _ in range(cycles):
                res = await dr.timed("breakouts_open", {})
                if "ok" not in res:
                    return
                await asyncio.sleep(hold_s)
                dr.closed_seen.clear()
                t0 = time.perf_counter()
                res = await dr.timed("breakouts_close", {"grace_seconds": 0})
                if "ok" not in res:
                    return
                try:
                    await asyncio.wait_for(dr.closed_seen.wait(), 20)
                except TimeoutError:
                    stats.outcome("breakouts_closed_seen", "timeout")
                    return
                stats.sample("breakouts_closed_seen", (time.perf_counter() - t0) * 1000)
                stats.outcome("breakouts_closed_seen", "ok")
                await asyncio.sleep(hold_s)

        await _bounded(asyncio.gather(*(session(dr) for dr in self.therapists.values())),
                       limit_s, stats)
        return stats.export()

    async def close(self) -> None:
        await asyncio.gather(*(c.sio.disconnect() for c in self.all_clients()),
                             return_exceptions=True)


async def _bounded(work: Awaitable[Any], limit_s: float, stats: Stats) -> None:
    """Wall-clock limit for a whole phase; running out is recorded, not raised."""
    try:
        await asyncio.wait_for(work, limit_s)
    except TimeoutError:
        stats.outcome("phase", "phase_timeout")


def worker_main(conn: Connection, url: str, plans: list[dict[str, Any]],
                config: dict[str, Any]) -> None:
    """Entry point of a client process: answer the coordinator's commands in turn."""
    asyncio.run(_worker(conn, url, [SessionPlan(**p) for p in plans], config))


async def _worker(conn: Connection, url: str, plans: list[SessionPlan],
                  config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    worker = Worker(url, plans, config)
    conn.send(("ready", os.getpid()))
    deadline = time.monotonic() + float(config["max_seconds"])
    try:
        while time.monotonic() < deadline:
            if not await loop.run_in_executor(None, conn.poll, 1.0):
                continue
            command, args = conn.recv()
            if command == "close":
                await worker.close()
                conn.send(("ok", None))
                return
            try:
                result = await getattr(worker, command)(*args)
                conn.send(("ok", result))
            except Exception as exc:
                conn.send(("error", repr(exc)))
    finally:
        await worker.close()


# ---------------------------------------------------------------- server side


class Server:
    """``hearth serve`` on a free loopback port, plain HTTP, with one therapist account."""

    def __init__(self, tmp: Path, redis_url: str | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
        env.update(HEARTH_PORT=str(self.port), HEARTH_TLS="false",
                   HEARTH_DATA_DIR=str(tmp / "data"), HEARTH_PUBLIC_URL=self.url,
                   HEARTH_MEDIA_HOSTS="127.0.0.1", HEARTH_MAX_PARTICIPANTS="50")
        if redis_url:
            env["HEARTH_REDIS_URL"] = redis_url
        added = subprocess.run([HEARTH, "therapist", "add", "dr.bench"], input=PASSWORD + "\n",
                               env=env, capture_output=True, text=True, timeout=60, check=False)
        if added.returncode != 0:
            raise RuntimeError(f"hearth therapist add failed: {added.stderr}")
        self.log_path = tmp / "hearth.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen([HEARTH, "serve"], env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    async def ready(self, http: aiohttp.ClientSession, limit_s: float = 30) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{self.url}/readyz") as r:
                    if r.status == 200:
                        return
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        raise RuntimeError("hearth serve did not become ready: " + self.log_path.read_text())

    def stop(self) -> None:
        stop_process(self.proc, 20)
        self._log.close()


async def create_sessions(url: str, sessions: int, per_session: int) -> list[SessionPlan]:
    """Sessions, members and links over REST, reusing the signaling tests' ``Therapist``."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 timeout=aiohttp.ClientTimeout(total=30))
    dr = Therapist(cast(Live, _Endpoint(url)), http)
    try:
        async with http.post(f"{url}/api/login",
                             json={"username": "dr.bench", "password": PASSWORD}) as r:
            if r.status != 200:
                raise RuntimeError(f"login failed: {r.status} {await r.text()}")
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> SessionPlan:
            async with gate:
                sid = await dr.session(f"Bench family {i}")
                members = []
                for j in range(per_session - 1):
                    role = FAMILY_ROLES[j % len(FAMILY_ROLES)]
                    members.append(await dr.add(sid, f"Member {j}", role))
                return SessionPlan(sid, await dr.join_token(sid), members)

        return list(await asyncio.gather(*(one(i) for i in range(sessions))))
    finally:
        await dr.close()


def log_problems(text: str) -> dict[str, int]:
    """WARNING/ERROR lines of the server's JSON log, counted by logger and message."""
    counts: dict[str, int] = defaultdict(int)
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        with contextlib.suppress(ValueError, AttributeError):
            entry = json.loads(line)
            if entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                detail = entry.get("redis_exception", "")
                key = f"{entry['level']} {entry.get('logger')}: {entry.get('msg')}"
                counts[key + (f" ({detail})" if detail else "")] += 1
    return dict(counts)


def redis_version() -> str:
    out = subprocess.run([shutil.which("redis-server") or "redis-server", "--version"],
                         capture_output=True, text=True, check=False).stdout.split()
    return next((v.split("=", 1)[1] for v in out if v.startswith("v=")), "?")


# ---------------------------------------------------------------- one store


def merge(parts: list[dict[str, Any]]) -> tuple[dict[str, list[float]], dict[str, dict[str, int]]]:
    samples: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for part in parts:
        for name, values in part["samples"].items():
            samples[name].extend(values)
        for name, codes in part["outcomes"].items():
            for code, n in codes.items():
                outcomes[name][code] += n
    return samples, outcomes


def figures(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {"n": len(values), "p50_ms": pct(values, 0.50), "p99_ms": pct(values, 0.99),
            "max_ms": max(values)}


async def run_store(store: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure every phase against one store; the server (and Redis) stop afterwards."""
    run: dict[str, Any] = {"store": store, "clients": args.clients, "sessions": args.sessions,
                           "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                           "load_before": load()}
    tmp = Path(tempfile.mkdtemp(prefix=f"hearth-sigbench-{store}-"))
    redis: RedisServer | None = None
    server: Server | None = None
    handles: list[WorkerHandle] = []
    per_session = args.clients // args.sessions
    try:
        if store == "redis":
            redis = RedisServer(tmp)
            run["redis_version"] = redis_version()
        server = Server(tmp, redis.url if redis else None)
        async with aiohttp.ClientSession() as http:
            await server.ready(http)
        t0 = time.monotonic()
        plans = await asyncio.wait_for(
            create_sessions(server.url, args.sessions, per_session), 600)
        run["rest_setup_s"] = time.monotonic() - t0
        workers = max(1, min(args.workers, args.sessions))
        config = {"connect_concurrency": 25, "join_concurrency": 10,
                  "max_seconds": args.steady + 1200}
        handles = [WorkerHandle(worker_main, server.url, [p.__dict__ for p in plans[w::workers]],
                                config, start_limit=90, close_limit=30) for w in range(workers)]
        await asyncio.gather(*(h.started() for h in handles))
        await asyncio.sleep(1.0)  # let the server settle after the REST burst
        pids = {"server": server.proc.pid, **({"redis": redis.proc.pid} if redis else {})}
        run["rss_idle_kb"] = read_rss_kb(server.proc.pid)

        phases: dict[str, dict[str, Any]] = {}
        steps: list[tuple[str, str, tuple[Any, ...], float]] = [
            ("connect", "connect", (args.phase_limit,), args.phase_limit + 30),
            ("join", "join", (args.phase_limit,), args.phase_limit + 30),
            ("steady", "steady", (args.steady, args.rate), args.steady + 60),
            ("breakouts", "breakouts", (args.cycles, args.hold, args.phase_limit),
             args.phase_limit + 30),
        ]
        all_samples: dict[str, list[float]] = {}
        all_outcomes: dict[str, dict[str, int]] = {}
        http = aiohttp.ClientSession()
        for phase, command, cargs, limit in steps:
            print(f"  {store}: {phase} ...", flush=True)
            served0 = await server_events(http, server.url)
            ticks0 = {k: read_cpu_ticks(p) for k, p in pids.items()}
            client0 = [read_cpu_ticks(h.pid) for h in handles]
            w0 = time.monotonic()
            parts = await asyncio.gather(*(h.call(command, *cargs, limit_s=limit)
                                           for h in handles))
            wall = time.monotonic() - w0
            ticks1 = {k: read_cpu_ticks(p) for k, p in pids.items()}
            client1 = [read_cpu_ticks(h.pid) for h in handles]
            served1 = await server_events(http, server.url)
            samples, outcomes = merge(parts)
            sent = sum(n for name, codes in outcomes.items() if name not in NOT_ACKS
                       for code, n in codes.items() if code != DISCONNECTED)
            acked = sum(n for name, codes in outcomes.items() if name not in NOT_ACKS
                        for code, n in codes.items() if code not in (ACK_TIMEOUT, DISCONNECTED))
            served = ({k: v - served0.get(k, 0) for k, v in served1.items()
                       if v - served0.get(k, 0)} if served0 is not None and served1 is not None
                      else None)
            handled = sum(served.values()) if served is not None else acked
            connects = outcomes.get("connect", {}).get("ok", 0)
            # Per connection in the connect phase; else per event the server handled
            # (/metrics), which counts events whose ack came too late for the client.
            units = handled if phase != "connect" else connects
            info: dict[str, Any] = {
                "wall_s": wall, "events_sent": sent, "events": acked,
                "events_server": handled, "events_server_by_kind": served,
                "ack_timeouts": sum(c.get(ACK_TIMEOUT, 0) for c in outcomes.values()),
                "connections": connects,
                "client_cpu": [(b - a) / CLK_TCK / wall for a, b in
                               zip(client0, client1, strict=True)],
            }
            for k in pids:
                cpu_s = (ticks1[k] - ticks0[k]) / CLK_TCK
                info[f"{k}_cpu_s"] = cpu_s
                info[f"{k}_cpu_share"] = cpu_s / wall
                info[f"{k}_cpu_ms_per_event"] = cpu_s * 1000 / units if units else None
            if phase == "connect":
                info["connected"] = sum(p["connected"] for p in parts)
                run["connected"] = info["connected"]
            if phase == "join":
                run["rss_joined_kb"] = read_rss_kb(server.proc.pid)
            if phase == "steady":
                info["states_received"] = sum(p["states_received"] for p in parts)
                info["events_per_s"] = acked / args.steady  # sends stop at the deadline
                info["offered_per_s"] = args.clients * args.rate
            phases[phase] = info
            all_samples.update(samples)
            for name, codes in outcomes.items():
                all_outcomes.setdefault(name, {})
                for code, n in codes.items():
                    all_outcomes[name][code] = all_outcomes[name].get(code, 0) + n
            print(f"    {wall:.1f} s, {units} events/connections, server "
                  f"{info['server_cpu_share']:.0%} of a core, clients "
                  f"{[f'{c:.0%}' for c in info['client_cpu']]}", flush=True)
        await http.close()
        run["rss_end_kb"] = read_rss_kb(server.proc.pid)
        run["rss_per_connection_kb"] = ((run["rss_joined_kb"] - run["rss_idle_kb"])
                                        / run["connected"] if run["connected"] else None)
        run["phases"] = phases
        run["events"] = {name: {**figures(values), "outcomes": all_outcomes.get(name, {})}
                         for name, values in all_samples.items()}
        for name, codes in all_outcomes.items():  # events that only ever failed
            run["events"].setdefault(name, {**figures([]), "outcomes": codes})
        run["rate_limited"] = sum(codes.get("rate_limited", 0)
                                  for codes in all_outcomes.values())
        run["errors"] = {name: {c: n for c, n in codes.items() if c != "ok"}
                         for name, codes in all_outcomes.items()
                         if any(c != "ok" for c in codes)}
        run["workers"] = len(handles)
        run["ok"] = True
    except Exception as exc:
        run["ok"] = False
        run["error"] = repr(exc)
        print(f"  {store}: FAILED {exc!r}", flush=True)
    finally:
        await asyncio.gather(*(h.close() for h in handles), return_exceptions=True)
        if server is not None:
            server.stop()
            log_text = server.log_path.read_text()
            run["server_log_tail"] = log_text[-2000:]
            run["server_log_problems"] = log_problems(log_text)
        if redis is not None:
            redis.stop()
        run["load_after"] = load()
        shutil.rmtree(tmp, ignore_errors=True)
    return run


# ---------------------------------------------------------------- report


def _busy(run: dict[str, Any]) -> str:
    before = run.get("load_before", {})
    after = run.get("load_after", {})
    pressure = after.get("cpu_pressure", {}).get("avg60")
    return (f"load average {' '.join(before.get('loadavg', []))} before, "
            f"{' '.join(after.get('loadavg', []))} after"
            + (f", CPU pressure avg60 {pressure:.0f}% after" if pressure is not None else ""))


def busy_note(runs: list[dict[str, Any]]) -> str:
    """A sentence when other work shared the machine (1-min load above half the cores)."""
    loads = [float(r[k]["loadavg"][0]) for r in runs for k in ("load_before", "load_after")
             if k in r]
    cores = os.cpu_count() or 1
    if not loads or max(loads) <= cores / 2:
        return ""
    return (f"The machine was busy: other processes shared its {cores} cores (1-min load up "
            f"to {max(loads):.1f} around the runs): processes often waited for a CPU, so "
            "read the latencies as pessimistic.")


def redis_note(runs: list[dict[str, Any]]) -> str:
    versions = sorted({r["redis_version"] for r in runs if "redis_version" in r})
    if not versions:
        return ""
    return (f" Redis: a throwaway `redis-server --save ''` ({', '.join(versions)}) on "
            "loopback; Hearth's Redis clients as configured in the code (bounded pools).")


def render(report: dict[str, Any]) -> str:
    """The signaling section of docs/benchmarks.md."""
    m = report["machine"]
    a = report["args"]
    runs = [r for r in report["runs"] if r.get("ok")]
    lines = [
        BEGIN,
        "## Signaling under load (socket.io)",
        "",
        f"Measured {report['date']} with:",
        "",
        "```",
        report["command"],
        "```",
        "",
        f"Machine: {m['cpu']}, {m['nproc']} CPUs, {m['mem_gb']} GB RAM, kernel {m['kernel']}, "
        f"Python {m['python']}, {m['packages']}. Server and client processes share these "
        "cores; everything runs on loopback.",
        "",
        f"Protocol: `hearth serve` (plain HTTP on 127.0.0.1, log level INFO), {a['sessions']} "
        f"sessions of {a['clients'] // a['sessions']} (1 therapist + "
        f"{a['clients'] // a['sessions'] - 1} family members admitted one by one from the "
        f"lobby), python-socketio AsyncClient over websocket in {a['workers']} client "
        f"processes (whole sessions per process). Steady phase: {a['steady']:.0f} s, every "
        f"client sends `chat_send` (room), `set_media`, `hand` in turn at {a['rate']} "
        "events/s (the server allows 20/s, burst 40, per socket). Breakouts: each therapist "
        f"creates 3 rooms, assigns automatically, then opens and closes (grace 0) "
        f"{a['cycles']} time(s)." + redis_note(runs),
        "",
        "Ack latency per event, ms (p50 / p99, n):",
        "",
        "| Event | " + " | ".join(r["store"] for r in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    names = [n for n in EVENT_ORDER if any(n in r["events"] for r in runs)]
    for name in names:
        cells = []
        for r in runs:
            e = r["events"].get(name)
            cells.append("—" if not e or not e["n"] else
                         f"{_f(e['p50_ms'], '.1f')} / {_f(e['p99_ms'], '.1f')} ({e['n']})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| Figure | " + " | ".join(r["store"] for r in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]

    def row(label: str, fn: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(fn(r) for r in runs) + " |")

    row("clients connected", lambda r: f"{r['connected']}/{r['clients']}")
    row("server RSS idle → joined, MB", lambda r: f"{r['rss_idle_kb'] / 1024:.0f} → "
        f"{r['rss_joined_kb'] / 1024:.0f}")
    row("server RSS per connection, kB", lambda r: _f(r["rss_per_connection_kb"], ".0f"))
    for phase in PHASES:
        row(f"server CPU ms per {'connection' if phase == 'connect' else 'event'}, {phase}",
            lambda r, p=phase: _f(r["phases"][p]["server_cpu_ms_per_event"], ".2f"))
    row("Redis CPU ms per event, steady",
        lambda r: _f(r["phases"]["steady"].get("redis_cpu_ms_per_event"), ".2f"))
    row("steady: events/s offered → acked in time", lambda r: (
        f"{r['phases']['steady']['offered_per_s']:.0f} → "
        f"{r['phases']['steady']['events_per_s']:.0f}"))
    row("events the server handled (/metrics), per phase", lambda r: ", ".join(
        f"{p} {r['phases'][p]['events_server']}" for p in PHASES))
    row("steady: server CPU (share of one core)",
        lambda r: _f(r["phases"]["steady"]["server_cpu_share"], ".0%"))
    row("steady: state snapshots delivered/s", lambda r: _f(
        r["phases"]["steady"]["states_received"] / r["phases"]["steady"]["wall_s"], ".0f"))
    row("client CPU max per process (phase)", lambda r: ", ".join(
        f"{p} {max(r['phases'][p]['client_cpu']):.0%}" for p in PHASES))
    row("rate-limited acks", lambda r: str(r["rate_limited"]))
    row("acks not back within 10 s, per phase", lambda r: ", ".join(
        f"{p} {r['phases'][p]['ack_timeouts']}" for p in PHASES))
    row("other errors (event: code count)", lambda r: (
        "; ".join(f"{n}: " + ", ".join(f"{c} {k}" for c, k in codes.items()
                                       if c not in ("rate_limited", ACK_TIMEOUT))
                  for n, codes in r["errors"].items()
                  if set(codes) - {"rate_limited", ACK_TIMEOUT}) or "none"))
    failed = [r for r in report["runs"] if not r.get("ok")]
    lines += [""] + [f"- {r['store']} FAILED: {r.get('error')}" for r in failed]
    lines += [
        "Notes:",
        "",
        "- Ack latency is measured in the client around `call()` (send → ack), so it "
        "includes the client process's own event-loop delay; an ack not back within 10 s "
        "counts as a timeout and not in the percentiles; `connect` is the socket.io "
        "handshake with the link (25 concurrent per client process). `admitted_seen` is the "
        "therapist's `admit` call → the member's own `state` saying admitted; "
        "`breakouts_closed_seen` is `breakouts_close` → the therapist's `breakouts_closed` "
        "notice; `chat_delivered` is send → arrival at every reader of the room (wall "
        "clock, one host).",
        "- Server RSS per connection: `hearth serve`'s VmRSS after every client has joined "
        "minus before the first socket connected (sessions already created over REST), "
        "divided by connected sockets.",
        "- Server CPU per event: utime+stime of `hearth serve` over the phase divided by "
        "the events it handled in the phase, by its own `/metrics` counter (so events "
        "acked too late for the client count too; per connection for `connect`); it "
        "includes the "
        "fan-out (state snapshots per viewer, chat to the room) each event causes. With "
        "Redis, Redis's own CPU is listed separately.",
        "- Machine load while measuring: " + "; ".join(
            f"{r['store']}: {_busy(r)}" for r in report["runs"]) + ". " + " ".join(
            s for s in (busy_note(report["runs"]), report.get("note", "")) if s),
        f"Raw results: `{report['json']}`.",
        END,
    ]
    return "\n".join(lines)  # replace_section keeps what follows the end marker


# ---------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.signaling",
                                description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--stores", default="embedded,redis", help="comma list: embedded, redis")
    p.add_argument("--workers", type=int, default=4, help="client processes")
    p.add_argument("--steady", type=float, default=60.0, help="steady phase, seconds")
    p.add_argument("--rate", type=float, default=0.1, help="events/s per client, steady")
    p.add_argument("--cycles", type=int, default=3, help="breakout open/close cycles")
    p.add_argument("--hold", type=float, default=1.0, help="seconds between breakout steps")
    p.add_argument("--phase-limit", type=float, default=300.0,
                   help="wall-clock limit of the connect, join and breakout phases, s")
    p.add_argument("--results-dir", type=Path, default=DATA_DIR)
    p.add_argument("--doc", type=Path, default=None, help="markdown to update")
    p.add_argument("--busy-note", default="", help="a sentence about other work on the host")
    p.add_argument("--from-json", type=Path, default=None,
                   help="re-render a results JSON into the doc instead of measuring")
    p.add_argument("--smoke", action="store_true",
                   help="20 clients, 2 sessions, embedded only, seconds long")
    args = p.parse_args(argv)
    if args.smoke:
        args.clients, args.sessions, args.stores = 20, 2, "embedded"
        args.workers, args.steady, args.rate, args.cycles, args.hold = 2, 3.0, 1.0, 1, 0.3
        args.phase_limit = 60.0
        args.doc = args.doc or args.results_dir / "signaling-smoke.md"
    args.doc = args.doc or REPO / "docs" / "benchmarks.md"
    args.stores = [s for s in args.stores.split(",") if s]
    if any(s not in ("embedded", "redis") for s in args.stores) or not args.stores:
        p.error("--stores is a comma list of: embedded, redis")
    if not 2 <= args.clients <= 2000 or not 1 <= args.sessions <= args.clients // 2:
        p.error("--clients must be 2-2000 and --sessions at most clients / 2")
    if args.clients % args.sessions:
        p.error("--clients must be a multiple of --sessions")
    if args.clients // args.sessions > 50:
        p.error("at most 50 per session (the server's max_participants)")
    if not 0 < args.rate <= 5 or not 0 < args.steady <= 600 or not 1 <= args.workers <= 16:
        p.error("--rate must be 0-5/s (the token bucket allows 20/s), --steady 0-600 s, "
                "--workers 1-16")
    if not 0 <= args.cycles <= 20 or not 0 < args.phase_limit <= 1800:
        p.error("--cycles must be 0-20 and --phase-limit 0-1800 s")
    return args


def raise_fd_limit() -> None:
    """1,000 sockets on each side need more descriptors than the usual soft limit; the
    server and client processes inherit this process's limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < min(hard, 65536):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


async def main_async(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    raise_fd_limit()
    runs = []
    for store in args.stores:
        print(f"{store}: {args.clients} clients in {args.sessions} sessions", flush=True)
        runs.append(await run_store(store, args))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.results_dir / f"signaling-{'smoke-' if args.smoke else ''}{stamp}.json"
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.signaling " + shlex.join(argv),
        "args": {"clients": args.clients, "sessions": args.sessions, "stores": args.stores,
                 "workers": args.workers, "steady": args.steady, "rate": args.rate,
                 "cycles": args.cycles, "hold": args.hold, "phase_limit": args.phase_limit},
        "machine": machine(("python-socketio", "python-engineio", "aiohttp", "redis")),
        "note": args.busy_note,
        "runs": runs,
        "json": str(json_path.relative_to(REPO) if json_path.is_relative_to(REPO)
                    else json_path),
    }
    json_path.write_text(json.dumps(report, indent=1, default=str))
    prune(args.results_dir, keep=[json_path])  # the latest run per benchmark stays
    replace_section(BEGIN, END, render(report), doc=args.doc)
    print(f"wrote {json_path} and {args.doc}")
    return report


def rerender(args: argparse.Namespace) -> dict[str, Any]:
    """Apply the current layout to stored results (no measurement)."""
    report: dict[str, Any] = json.loads(args.from_json.read_text())
    replace_section(BEGIN, END, render(report), doc=args.doc)
    print(f"re-rendered {args.from_json} into {args.doc}")
    return report


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    report = rerender(args) if args.from_json else asyncio.run(main_async(args, argv))
    if not all(r.get("ok") for r in report["runs"]):
        sys.exit("a store's run failed")


if __name__ == "__main__":
    main()

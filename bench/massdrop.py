"""Mass disconnect benchmark: 200 dead sockets dropped at once in a 210-person session.

    python -m bench.massdrop            # 210 people, 200 of them dropped
    python -m bench.massdrop --smoke    # 30 people, 20 dropped, seconds long
    python -m bench.massdrop --transitions  # the state machine alone, in this process

One real ``hearth serve`` on loopback (embedded store; ``HEARTH_MAX_PARTICIPANTS`` is
raised for this run only). Session A holds the therapist, a few people in this process
and the crowd in a child process; session B is another family on the same server.
Everyone in B, and A's people who stay, chat at a steady rate while the child process
is killed with SIGKILL, so the kernel closes the crowd's sockets at once. It reports
chat ack p50/p99/max before and after the drop for both sessions, how long the server
took to see every socket gone, and writes bench/data/massdrop.json. It asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import socketio

from bench.workers import WorkerHandle
from testkit.cluster import Cluster, Node
from testkit.live import Client

DATA = Path(__file__).resolve().parent / "data"
CHAT_EVERY = 0.25  # seconds between one client's messages (well under the rate limit)


def crowd(conn: Connection, url: str, tokens: list[str]) -> None:
    """Child process: the people whose sockets die together."""
    asyncio.run(_crowd(conn, url, tokens))


async def _crowd(conn: Connection, url: str, tokens: list[str]) -> None:
    live = SimpleNamespace(url=url)
    clients = [Client(live, t) for t in tokens]  # type: ignore[arg-type]
    gate = asyncio.Semaphore(10)

    async def join(c: Client) -> None:
        res = await c.sio.call("join", {"consent_version": "v"}, timeout=600)
        assert "ok" in res, res

    async def knock(c: Client) -> None:
        async with gate:
            await c.connect()
            await join(c)

    async def enter(c: Client) -> None:
        await c.wait(lambda x: x.received["state"] and x.state["me"]["status"] == "admitted",
                     "admitted", limit=600)
        async with gate:
            await join(c)

    conn.send(("ready", os.getpid()))
    loop = asyncio.get_running_loop()
    while True:
        command, _ = await loop.run_in_executor(None, conn.recv)
        if command == "knock":
            await asyncio.gather(*(knock(c) for c in clients))
        elif command == "enter":
            await asyncio.gather(*(enter(c) for c in clients))
        elif command == "close":
            conn.send(("ok", None))
            return
        conn.send(("ok", len(clients)))


async def connections(node: Node) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{node.url}/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith("hearth_connections "):
                return float(line.split()[1])
    return -1.0


async def admitted_family(dr: Any, url: str, sid: str, names: list[str]) -> list[Client]:
    """The therapist and ``names`` in this process, all admitted and connected."""
    live = SimpleNamespace(url=url)
    t = Client(live, await dr.join_token(sid))  # type: ignore[arg-type]
    await t.connect()
    await t.ok("join", {"consent_version": "v"})
    people = [t]
    for name in names:
        _, token = await dr.add(sid, name, "family")
        c = Client(live, token)  # type: ignore[arg-type]
        await c.connect()
        await c.ok("join", {"consent_version": "v"})
        people.append(c)
    await t.ok("admit_all", {})
    for c in people[1:]:
        await c.wait(lambda x: x.state["me"]["status"] == "admitted", "admitted", limit=30)
        await c.ok("join", {"consent_version": "v"})
    return people


async def chatter(client: Client, until: float, acks: list[tuple[float, float]],
                  errors: list[str]) -> None:
    """Send a chat message every CHAT_EVERY seconds until ``until`` (bounded count)."""
    for i in range(int((until - time.monotonic()) / CHAT_EVERY) + 1):
        sent = time.monotonic()
        if sent >= until:
            return
        try:
            res = await asyncio.wait_for(
                client.call("chat_send", {"scope": "room", "text": f"m{i}"}), 30)
        except (TimeoutError, socketio.exceptions.TimeoutError):
            errors.append("timeout")
            continue
        if "error" in res:
            errors.append(res["error"]["code"])
        acks.append((sent, time.monotonic() - sent))
        await asyncio.sleep(max(0.0, CHAT_EVERY - (time.monotonic() - sent)))


def figures(acks: list[tuple[float, float]], start: float, end: float) -> dict[str, float]:
    values = sorted(d for t, d in acks if start <= t < end)
    if not values:
        return {"n": 0}
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return {"n": len(values), "p50_ms": round(statistics.median(values) * 1000, 1),
            "p99_ms": round(p99 * 1000, 1), "max_ms": round(values[-1] * 1000, 1)}


def profiled(tmp: Path, samples: Path) -> dict[str, str]:
    """Environment that makes the server sample its own stacks into ``samples``."""
    (tmp / "sitecustomize.py").write_text("import bench.sampler\nbench.sampler.start()\n")
    root = Path(__file__).resolve().parent.parent
    return {"PYTHONPATH": f"{tmp}{os.pathsep}{root}", "BENCH_SAMPLES": str(samples)}


async def run(size: int, dropped: int, before: float, after: float,
              profile: Path | None = None) -> dict[str, Any]:
    if profile is not None:
        os.environ["BENCH_SAMPLES"] = str(profile)
        from bench import sampler
        sampler.start()  # this process's loop too: the clients may be what is slow
    with tempfile.TemporaryDirectory(prefix="hearth-massdrop-") as tmp:
        c = Cluster(Path(tmp), "")
        c.cli_data_dir = Path(tmp) / "solo"
        if profile is not None:
            c.env.update(profiled(Path(tmp), profile))
        node = await c.start("solo", HEARTH_MAX_PARTICIPANTS=str(size + 10),
                             HEARTH_LOG_LEVEL="ERROR")
        dr = await c.therapist(node)
        worker: WorkerHandle | None = None
        try:
            sid_a, sid_b = await dr.session("A"), await dr.session("B")
            stay = await admitted_family(dr, node.url, sid_a,
                                         [f"stay{i}" for i in range(size - dropped - 1)])
            tokens = [(await dr.add(sid_a, f"crowd{i}", "family"))[1] for i in range(dropped)]
            worker = WorkerHandle(crowd, node.url, tokens, start_limit=60)
            await worker.started()
            await worker.call("knock", limit_s=900)
            await stay[0].ok("admit_all", {})
            await worker.call("enter", limit_s=900)
            other = await admitted_family(dr, node.url, sid_b, ["b1", "b2", "b3"])
            connected = await connections(node)
            acks_a: list[tuple[float, float]] = []
            acks_b: list[tuple[float, float]] = []
            errors: list[str] = []
            start = time.monotonic()
            drop_at = start + before
            until = drop_at + after
            talk = [asyncio.create_task(chatter(x, until, acks_b, errors)) for x in other]
            talk += [asyncio.create_task(chatter(x, until, acks_a, errors)) for x in stay]
            await asyncio.sleep(max(0.0, drop_at - time.monotonic()))
            worker.proc.kill()  # our own child: the crowd's sockets close at once
            killed, killed_at = time.monotonic(), time.time()
            seen_gone = None
            for _ in range(int(after / 0.05)):
                if await connections(node) <= connected - dropped:
                    seen_gone = time.monotonic() - killed
                    break
                await asyncio.sleep(0.05)
            await asyncio.gather(*talk)
            result: dict[str, Any] = {
                "size": size, "dropped": dropped, "connected_before": connected,
                "server_saw_all_gone_s": None if seen_gone is None else round(seen_gone, 2),
                "other_session_before": figures(acks_b, start, killed),
                "other_session_after": figures(acks_b, killed, until),
                "same_session_before": figures(acks_a, start, killed),
                "same_session_after": figures(acks_a, killed, until),
                "errors": errors,
            }
            if profile is not None:
                result["killed_at_unix"] = killed_at
                for name, acks in (("A", acks_a), ("B", acks_b)):  # (s after kill, ms)
                    result[f"slowest_{name}"] = sorted(
                        ((round(t - killed, 3), round(d * 1000)) for t, d in acks),
                        key=lambda x: -x[1])[:8]
            for people in (stay, other):
                for x in people:
                    await x.sio.disconnect()
            return result
        finally:
            if worker is not None and worker.proc.is_alive():
                worker.proc.kill()
            await dr.close()
            await dr.live.http.close()
            c.stop_all()


def transition_costs(size: int, repeats: int = 20) -> dict[str, float]:
    """Milliseconds one pure transition takes in a ``size``-person live session: a
    disconnect (nobody moves) and a leave (everyone's visibility changes)."""
    from rooms import commands as c
    from rooms.machine import handle, new_session
    from rooms.model import Role

    s = new_session("s", owner_id="t", owner_name="T", title="crowd", now=0.0,
                    max_participants=size + 10)
    people = ["t", *(f"p{i}" for i in range(size - 1))]
    for pid in people[1:]:
        s, _ = handle(s, c.AddParticipant(actor="t", participant_id=pid, role=Role.FAMILY,
                                          display_name=pid), now=0.0)
    for pid in people:
        s, _ = handle(s, c.Knock(actor=pid, consent_version="v"), now=0.0)
    s, _ = handle(s, c.AdmitAll(actor="t"), now=0.0)
    for pid in people:
        s, _ = handle(s, c.Connect(actor=pid), now=0.0)
    out: dict[str, float] = {"size": size}
    for name, make in (("disconnect_ms", c.Disconnect), ("leave_ms", c.Leave)):
        t0 = time.perf_counter()
        for pid in people[1:repeats + 1]:
            handle(s, make(actor=pid), now=1.0)
        out[name] = round((time.perf_counter() - t0) / repeats * 1000, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=210)
    parser.add_argument("--dropped", type=int, default=200)
    parser.add_argument("--before", type=float, default=3.0)
    parser.add_argument("--after", type=float, default=12.0)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--profile", type=Path, metavar="SAMPLES",
                        help="sample the server's stacks into SAMPLES.<pid> "
                             "(read with python -m bench.sampler)")
    parser.add_argument("--transitions", action="store_true",
                        help="time the pure state machine only (no server)")
    args = parser.parse_args()
    if args.transitions:
        costs = transition_costs(args.size)
        print(json.dumps({**costs, "load_average_1m": os.getloadavg()[0]}, indent=2))
        return
    if args.smoke:
        args.size, args.dropped, args.before, args.after = 30, 20, 1.0, 3.0
    result = asyncio.run(run(args.size, args.dropped, args.before, args.after,
                             args.profile))
    result["command"] = " ".join(["python -m bench.massdrop", *sys.argv[1:]])
    result["load_average_1m"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))
    if not args.smoke and args.profile is None:
        DATA.mkdir(exist_ok=True)
        (DATA / "massdrop.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

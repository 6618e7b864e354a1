"""Scale-out: two `hearth serve` processes, one real redis-server, real sockets.

Sessions are placed on one node; people who arrive elsewhere are sent there; a killed
node's sessions are taken over, and a drained node's sessions move, with lobby,
breakouts and chat intact. Everything runs on loopback; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from testkit.cluster import TTL, Cluster, Following, Node, ready
from testkit.figures import figure
from testkit.rtc import Client as MediaClient
from testkit.servers import RedisServer, adjacent_free_ports, free_port
from tests.signaling.test_media_flow import OverSocket, wait_codes

pytestmark = pytest.mark.cluster
PAUSE = 2 * TTL  # how long Redis is stopped in the pause test


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[Cluster, RedisServer]]:
    server = RedisServer(tmp_path)
    c = Cluster(tmp_path, server.url, HEARTH_SHUTDOWN_GRACE_SECONDS="2")
    try:
        yield c, server
    finally:
        c.stop_all()
        server.stop()


async def placed_on(server: RedisServer, session_id: str) -> str | None:
    r = aioredis.from_url(server.url)
    try:
        value = await r.hget(f"hearth:placement:{session_id}", "v")
        return None if value is None else bytes(value).decode()
    finally:
        await r.aclose()


async def publishes(server: RedisServer) -> int:
    """PUBLISH commands Redis has served so far."""
    r = aioredis.from_url(server.url)
    try:
        stats = await r.info("commandstats")
        return int(stats.get("cmdstat_publish", {}).get("calls", 0))
    finally:
        await r.aclose()


async def family(c: Cluster, a: Node, b: Node) -> dict[str, Any]:
    """A session made through node A; the therapist joins first through node A and the
    family through node B; Alex and Blair are admitted, Casey is left in the lobby."""
    dr = await c.therapist(a)
    sid = await dr.session()
    tokens = {}
    for name, role in (("alex", "client"), ("blair", "partner"), ("casey", "client")):
        _, tokens[name] = await dr.add(sid, name, role)
    t = Following([a.url, b.url], await dr.join_token(sid))
    await t.connect()
    await t.ok("join", {"consent_version": "v"})
    people = {}
    for name in tokens:
        p = Following([b.url, a.url], tokens[name])
        await p.connect()
        await p.ok("join", {"consent_version": "v"})
        people[name] = p
    for name in ("alex", "blair"):
        pid = people[name].state["me"]["id"]
        await t.ok("admit", {"participant_id": pid})
        await people[name].wait(lambda x: x.state["me"]["status"] == "admitted", "admitted")
        await people[name].ok("join", {"consent_version": "v"})
    return {"dr": dr, "sid": sid, "t": t, **people}


async def two_nodes(c: Cluster) -> tuple[Node, Node]:
    """Nodes A and B starting side by side, as the workers of `--workers` do; A is spawned
    first, so the cluster's public URL is A's. Neither has bound its port yet when the
    other picks one: the two are picked distinct here."""
    port_a = free_port()
    port_b = next(p for p in iter(free_port, None) if p != port_a)
    return await asyncio.gather(c.start("node-a", port=port_a), c.start("node-b", port=port_b))


async def two_nodes_and_a_family(c: Cluster) -> tuple[Node, Node, dict[str, Any]]:
    a, b = await two_nodes(c)
    return a, b, await family(c, a, b)


async def close_all(room: dict[str, Any]) -> None:
    for key in ("t", "alex", "blair", "casey"):
        await room[key].close()
    await room["dr"].close()
    await room["dr"].live.http.close()


def breakout_rooms(client: Following) -> list[list[str]]:
    rooms = client.state["breakouts"]["rooms"]
    return sorted(sorted(r["members"]) for r in rooms)


async def test_people_arriving_elsewhere_end_up_on_the_sessions_node(
    cluster: tuple[Cluster, RedisServer],
) -> None:
    c, server = cluster
    a, b, room = await two_nodes_and_a_family(c)
    try:
        assert await placed_on(server, room["sid"]) == "node-a"
        for name in ("t", "alex", "blair", "casey"):
            assert room[name].node_url == a.url, f"{name} was not sent to the session's node"
        async with aiohttp.ClientSession() as http:
            for node, placed in ((a, "1.0"), (b, "0.0")):
                async with http.get(f"{node.url}/metrics") as r:
                    assert f"hearth_placed_sessions {placed}" in await r.text()
        # Chat and breakouts reach everyone, on the one node that serves the session;
        # its people's sockets are all there, so their messages skip Redis.
        published = await publishes(server)
        await room["alex"].ok("chat_send", {"scope": "room", "text": "hello from alex"})
        for name in ("t", "blair"):
            await room[name].wait(lambda x: any(m["text"] == "hello from alex"
                                                for m in x.received["chat"]), "chat")
        assert await publishes(server) == published
        await room["alex"].ok("hand", {"raised": True})
        for name in ("t", "alex", "blair"):
            await room[name].wait(lambda x: any(p["hand_raised"] for p in x.state["participants"]),
                                  "hand seen")
        assert await publishes(server) == published + 1  # the session bus's one message
        await room["t"].ok("breakouts_by_role", {"plan": "each_client_with_clinician"})
        await room["t"].ok("breakouts_open", {})
        for name in ("t", "alex", "blair"):
            await room[name].wait(lambda x: x.state["breakouts"]["phase"] == "open", "opened")
    finally:
        await close_all(room)


async def test_killed_node_sessions_come_back_on_another_node(
    cluster: tuple[Cluster, RedisServer],
) -> None:
    c, server = cluster
    a, b, room = await two_nodes_and_a_family(c)
    try:
        t, alex = room["t"], room["alex"]
        await t.ok("breakouts_by_role", {"plan": "each_client_with_clinician"})
        await t.ok("breakouts_open", {})
        await alex.wait(lambda x: x.state["breakouts"]["phase"] == "open", "opened")
        await alex.ok("chat_send", {"scope": "room", "text": "said before the crash"})
        rooms_before = breakout_rooms(t)
        for name in ("t", "alex", "blair", "casey"):
            room[name].received["chat_history"].clear()

        killed = time.monotonic()
        a.proc.send_signal(signal.SIGKILL)
        for name in ("t", "alex", "blair", "casey"):
            await room[name].wait(lambda x: x.rejoins or x.errors, f"{name} back", limit=15)
            assert not room[name].errors, room[name].errors
        back = max(time.monotonic() - killed, *(room[n].rejoins[0][0]
                                                  for n in ("t", "alex", "blair", "casey")))
        figure(f"\nkill -9 → every client back on node B: {back:.2f} s (TTL {TTL} s)")
        assert back < 10
        for name in ("t", "alex", "blair", "casey"):
            assert room[name].node_url == b.url
        assert await placed_on(server, room["sid"]) == "node-b"
        # Lobby, breakouts and chat history are intact on the new node.
        await t.wait(lambda x: [p["name"] for p in x.state["lobby"]] == ["casey"], "lobby kept")
        assert breakout_rooms(t) == rooms_before
        assert t.state["breakouts"]["phase"] == "open"
        await alex.wait(lambda x: any(m["text"] == "said before the crash"
                                      for h in x.received["chat_history"]
                                      for m in h["messages"]), "chat history kept")
        # And the session works on: a new message reaches the breakout-mate.
        await alex.ok("chat_send", {"scope": "room", "text": "after the crash"})
        await t.wait(lambda x: any(m["text"] == "after the crash"
                                   for m in x.received["chat"]), "chat after failover")
    finally:
        await close_all(room)


async def test_sigterm_drains_then_moves_sessions_without_errors(
    cluster: tuple[Cluster, RedisServer],
) -> None:
    c, server = cluster
    a, b, room = await two_nodes_and_a_family(c)
    try:
        t = room["t"]
        blair_id = room["blair"].state["me"]["id"]
        room["blair"].closing = True  # Blair's device goes away with the move: no return
        a.proc.send_signal(signal.SIGTERM)
        statuses: list[int] = []
        async with aiohttp.ClientSession() as http:
            for _ in range(50):  # bounded: the signal is handled on A's loop
                async with http.get(f"{a.url}/readyz") as r:
                    if r.status == 503:
                        break
                await asyncio.sleep(0.02)
            # While draining, node A answers (it is not ready for new work) and the
            # session goes on there: nobody sees a 5xx or an error ack.
            for _ in range(5):
                async with http.get(f"{a.url}/readyz") as r:
                    statuses.append(r.status)
                statuses.append(200 if "ok" in await t.call("hand", {"raised": True})
                                else 500)
                await asyncio.sleep(0.1)
        assert statuses.count(503) == 5  # readyz: draining
        assert all(s == 200 for s in statuses if s != 503)
        listed = await room["dr"].api("GET", f"/api/sessions/{room['sid']}")
        assert listed["id"] == room["sid"]
        # After the 2 s grace the session moves to node B, with the same people.
        for name in ("t", "alex", "casey"):
            await room[name].wait(lambda x: x.rejoins, f"{name} moved", limit=15)
            assert room[name].node_url == b.url
            assert not room[name].errors, room[name].errors
        assert a.proc.wait(timeout=15) == 0
        assert await placed_on(server, room["sid"]) == "node-b"
        assert t.state["me"]["hand_raised"] is True
        await t.wait(lambda x: [p["name"] for p in x.state["lobby"]] == ["casey"], "lobby kept")
        # Node A ignored Blair's disconnect (she might have been moving); node B records
        # it once the others had time to come back, so she does not show as connected.
        await t.wait(lambda x: any(p["id"] == blair_id and p["status"] == "reconnecting"
                                   for p in x.state["participants"]), "blair reconnecting",
                     limit=15)
        assert {p["id"]: p["status"] for p in t.state["participants"]}[
            room["alex"].state["me"]["id"]] == "connected"
    finally:
        await close_all(room)


async def test_redis_paused_media_flows_commands_fail_closed_nothing_duplicated(
    cluster: tuple[Cluster, RedisServer],
) -> None:
    c, server = cluster
    _, _, room = await two_nodes_and_a_family(c)
    t, alex = room["t"], room["alex"]
    media: dict[str, MediaClient] = {}
    try:
        for name, code in (("t", 1), ("alex", 2)):
            m = MediaClient(OverSocket(room[name]), room["sid"], name,  # type: ignore[arg-type]
                            code=code)
            await m.join()
            await m.publish()
            await m.subscribe()
            media[name] = m
        await wait_codes(media["t"], time.monotonic(), {2}, "therapist sees alex")
        await alex.ok("chat_send", {"scope": "room", "text": "before the pause"})

        states_before = len(t.received["state"])
        server.proc.send_signal(signal.SIGSTOP)
        paused = time.monotonic()
        try:
            # Commands fail closed with a clear code (the store's 2 s timeout), not a hang.
            refused = await alex.call("chat_send", {"scope": "room", "text": "during the pause"})
            assert refused["error"]["code"] == "unavailable", refused
            assert (await t.call("hand", {"raised": True}))["error"]["code"] == "unavailable"
            # The pause outlasts the placement TTL twice over, so on CONT the placement
            # and heartbeat keys expire at once. Media never touches Redis: frames keep
            # flowing to the end of the pause.
            await asyncio.sleep(max(0.0, PAUSE - (time.monotonic() - paused)))
            late = time.monotonic()
            await wait_codes(media["t"], late, {2}, "frames at the end of the pause")
            assert len(media["t"].frames_of(2, since=paused + 1)) > 60
        finally:
            server.proc.send_signal(signal.SIGCONT)

        # After CONT: the same state everywhere, and each message exactly once.
        for _ in range(100):  # bounded: 10 s for the store to answer again
            res = await alex.call("chat_send", {"scope": "room", "text": "after the pause"})
            if "ok" in res:
                break
            await asyncio.sleep(0.1)
        assert "ok" in res, res
        await t.wait(lambda x: any(m["text"] == "after the pause" for m in x.received["chat"]),
                     "chat after the pause")
        texts = [m["text"] for m in t.received["chat"]]
        assert texts.count("before the pause") == 1
        assert texts.count("after the pause") == 1
        assert "during the pause" not in texts
        await t.ok("hand", {"raised": True})
        await t.wait(lambda x: x.state["me"]["hand_raised"] is True, "hand up")
        # (A joiner's own snapshot may repeat a broadcast version; none is involved here.)
        versions = [s["version"] for s in t.received["state"][states_before:]]
        assert versions == sorted(set(versions)), f"repeated or out of order: {versions}"
        stored = await room["dr"].api("GET", f"/api/sessions/{room['sid']}")
        statuses = {p["display_name"]: p["status"] for p in stored["participants"]}
        assert statuses["casey"] == "waiting"
        assert await placed_on(server, room["sid"]) == "node-a"
    finally:
        for m in media.values():
            await m.close()
        await close_all(room)


async def test_workers_are_separate_nodes_that_share_sessions(
    cluster: tuple[Cluster, RedisServer],
) -> None:
    c, server = cluster
    port = adjacent_free_ports()
    node = c.spawn("w", "--workers", "2", port=port,
                   HEARTH_NODE_URL="http://127.0.0.1:{port}")
    first, second = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    await ready(first, node)
    await ready(second, node)
    # Each worker is its own node in placement, reachable at <node_url>/<i>.
    r = aioredis.from_url(server.url)
    try:
        names = sorted(m.decode() for m in await r.smembers("hearth:nodes"))
    finally:
        await r.aclose()
    assert names == ["w-0", "w-1"]
    entry = Node("entry", port + 1, node.proc)
    dr = await c.therapist(entry)
    sid = await dr.session()
    _, token = await dr.add(sid, "alex", "client")
    t = Following([second], await dr.join_token(sid))
    await t.connect()
    await t.ok("join", {"consent_version": "v"})
    assert await placed_on(server, sid) == "w-1"
    alex = Following([first], token)  # arrives at worker 0, is sent to worker 1
    await alex.connect()
    assert alex.node_url == second
    # SIGTERM reaches every worker; they drain and the supervisor exits cleanly.
    await alex.close()
    await t.close()
    node.proc.send_signal(signal.SIGTERM)
    assert node.proc.wait(timeout=20) == 0
    await dr.close()
    await dr.live.http.close()


async def test_ending_through_another_node_closes_the_serving_nodes_sockets(
    cluster: tuple[Cluster, RedisServer],
) -> None:
    c, _ = cluster
    a, b, room = await two_nodes_and_a_family(c)
    try:
        for name in ("t", "alex", "blair", "casey"):
            room[name].closing = True  # they must be closed by the server, not leave
        dr_b = await c.therapist(b)  # a therapist signed in through node B...
        await dr_b.http.close()
        await dr_b.live.http.close()
        dr_b.http = room["dr"].http  # ...with the owner's sign-in (shared store)
        await dr_b.api("POST", f"/api/sessions/{room['sid']}/end")
        # Node A, which serves the session, closes every socket and lets the media go.
        for name in ("t", "alex", "blair", "casey"):
            await room[name].wait(lambda x: x.notices("session_ended"), f"{name} told")
            await room[name].wait(lambda x: x.disconnected.is_set(), f"{name} closed")
        async with aiohttp.ClientSession() as http, http.get(f"{a.url}/metrics") as r:
            body = await r.text()
        assert "hearth_connections 0.0" in body
    finally:
        await close_all(room)

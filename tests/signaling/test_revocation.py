"""Revocation is immediate: a revoked or re-issued link's live socket is closed within
1 s, on the node that serves the session, and a removed person gets no new link
until the therapist restores them."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from testkit.live import Client, Live, admitted, start_live, token_of
from testkit.servers import RedisServer


async def closed_within(client: Client, started: float, limit: float = 1.0) -> float:
    await client.wait(lambda c: c.disconnected.is_set(), "socket closed", limit=limit + 2)
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"closed after {elapsed:.2f} s"
    return elapsed


async def test_revoke_closes_the_live_socket(live: Live) -> None:
    room = await admitted(live, ("Alex", "client"), ("Sam", "partner"))
    alex, sam = room.people["Alex"], room.people["Sam"]
    started = time.monotonic()
    res = await room.dr.api("DELETE", f"/api/sessions/{room.sid}/participants/"
                                      f"{room.ids['Alex']}/link")
    assert res["revoked"] is True
    await closed_within(alex, started)
    assert alex.notices("revoked"), "the page is told why before the socket closes"
    assert not sam.disconnected.is_set()
    await sam.ok("hand", {"raised": True})  # everyone else carries on
    # No ghost: the others see Alex's connection gone, not "connected".
    alex_id = room.ids["Alex"]
    await room.therapist.wait(lambda c: next(
        p["status"] for p in c.state["participants"] if p["id"] == alex_id) != "connected",
        "Alex no longer connected")
    again = await live.client(room.tokens["Alex"], connect=False)
    assert await again.refused() == "revoked"


async def test_reissue_closes_the_old_socket_and_the_new_link_works(live: Live) -> None:
    room = await admitted(live, ("Alex", "client"))
    alex = room.people["Alex"]
    started = time.monotonic()
    res = await room.dr.api("POST", f"/api/sessions/{room.sid}/participants/"
                                    f"{room.ids['Alex']}/link")
    await closed_within(alex, started)
    fresh = await live.client(token_of(res["link"]))
    await fresh.ok("join", {"consent_version": "v"})
    assert fresh.state["me"]["id"] == room.ids["Alex"]
    # Re-issuing again kicks only the socket holding the now-old link.
    assert not fresh.disconnected.is_set()


async def test_removed_person_gets_no_link_until_restored(live: Live) -> None:
    room = await admitted(live, ("Ex", "partner"))
    ex_id = room.ids["Ex"]
    await room.therapist.ok("remove", {"participant_id": ex_id})
    base = f"{live.url}/api/sessions/{room.sid}/participants/{ex_id}"
    async with room.dr.http.post(f"{base}/link") as r:
        assert r.status == 409
        assert (await r.json())["error"]["code"] == "removed"
    restored = await room.dr.api("POST", f"{base.removeprefix(live.url)}/restore")
    assert restored["status"] == "invited"
    res = await room.dr.api("POST", f"{base.removeprefix(live.url)}/link")
    back = await live.client(token_of(res["link"]))
    await back.ok("join", {"consent_version": "v"})
    assert back.state["me"]["status"] == "waiting"  # through the lobby again
    entries = await room.dr.api("GET", f"/api/sessions/{room.sid}/audit")
    actions = [e["action"] for e in entries]
    assert {"remove", "link_refused", "link_issued"} <= set(actions)


async def test_removed_link_refused_with_a_clear_code(live: Live) -> None:
    room = await admitted(live, ("Ex", "partner"))
    await room.therapist.ok("remove", {"participant_id": room.ids["Ex"]})
    late = await live.client(room.tokens["Ex"], connect=False)
    assert await late.refused() in ("revoked", "removed")


async def test_revoke_on_another_node_closes_the_socket_within_1s(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Node A serves the session; the therapist's REST call lands on node B. The change
    travels as a versioned session event over the Redis session bus."""
    url = redis_server.fresh_url()
    node_a = await start_live(tmp_path, "redis", url, node_id="node-a")
    node_b = await start_live(tmp_path, "redis", url, public_url=node_a.url, node_id="node-b",
                              node_url=f"{node_a.url}/n/b")
    try:
        dr = await node_b.therapist()
        sid = await dr.session()
        alex_id, alex_tok = await dr.add(sid, "Alex", "client")
        t = await node_a.client(await dr.join_token(sid))
        await t.ok("join", {"consent_version": "v"})
        alex = await node_a.client(alex_tok)
        await alex.ok("join", {"consent_version": "v"})
        await t.ok("admit", {"participant_id": alex_id})
        await alex.wait(lambda c: c.state["me"]["status"] == "admitted", "admitted")
        started = time.monotonic()
        async with dr.http.delete(
                f"{node_b.url}/api/sessions/{sid}/participants/{alex_id}/link",
                headers={"Origin": node_a.url}) as r:
            assert r.status == 200, await r.text()
        await closed_within(alex, started)
        assert alex.notices("revoked")
        assert not t.disconnected.is_set()
        await dr.close()
    finally:
        await node_a.close()
        await node_b.close()


@pytest.mark.parametrize("path", ["/link", "/restore"])
async def test_link_routes_refuse_other_therapists(live: Live, path: str) -> None:
    room = await admitted(live, ("Alex", "client"))
    stranger = await live.therapist()
    async with stranger.http.post(f"{live.url}/api/sessions/{room.sid}/participants/"
                                  f"{room.ids['Alex']}{path}") as r:
        assert r.status == 404
    await stranger.close()
    assert isinstance(stranger.http, aiohttp.ClientSession)

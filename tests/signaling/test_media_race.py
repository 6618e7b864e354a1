"""Negotiation cannot lose a request: a renegotiation that arrives while the relay's
subscribe offer is still outstanding is queued and served, never refused.

Real socket.io clients and real aiortc peer connections; the subscriber acts like a
naive browser that asks for a new offer as soon as ``media_renegotiate`` arrives.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiortc import RTCSessionDescription

from media.relay import Relay
from server.appkeys import LIVE
from testkit.live import Client, Live, admitted
from testkit.rtc import LOOPBACK, new_pc, restrict_gathering
from testkit.rtc import Client as MediaClient
from tests.signaling.test_media_flow import OverSocket

ROUNDS = 100
# Each round sends six events on the therapist's connection: a round that takes at least
# this long stays under the per-connection rate limit (20/s) however fast it runs.
ROUND_AT_LEAST = 0.35
FAMILY = (("a", "client"), ("b", "partner"), ("c", "parent"))


def record(c: Client, event: str) -> None:
    async def on(data: Any) -> None:
        c.received[event].append(data)
    c.sio.on(event, on)


async def answer(c: Client, pc: Any, offer: str) -> dict[str, Any]:
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    restrict_gathering(pc, LOOPBACK)
    await pc.setLocalDescription(await pc.createAnswer())
    return dict(await c.ok("media_answer", {"sdp": pc.localDescription.sdp}))


def bound(relay: Relay, sid: str, pid: str) -> set[str]:
    peer = relay.routers[sid].peers[pid]
    return {s.publication.id for s in peer.subscriptions
            if s.publication is not None and s.negotiated}


async def publish_all(room: Any, sid: str) -> list[MediaClient]:
    """The others publish microphone, camera and a screen: six videos, more than the
    four slots a family of four gets, so seeing all of them needs another round."""
    pubs = []
    for code, name in ((1, "a"), (2, "b"), (3, "c")):
        m = MediaClient(OverSocket(room.people[name]), sid, name, code=code)  # type: ignore[arg-type]
        pubs.append(m)
        await m.join()
        await m.publish(screen_code=code + 10)
    return pubs


@pytest.mark.timeout(900)  # 100 rounds of real negotiation; about 1 s each on a loaded host
@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
async def test_renegotiation_while_offer_outstanding_is_never_lost(live: Live) -> None:
    room = await admitted(live, *FAMILY)
    sid, t = room.sid, room.therapist
    relay = live.app[LIVE].relay
    record(t, "media_renegotiate")
    tid = t.state["me"]["id"]
    refused = 0
    pubs = await publish_all(room, sid)
    want = {p["publication_id"] for p in relay.publications(sid) if p["publisher_id"] != tid}
    assert len(want) == 9
    everyone = [room.ids[n] for n, _ in FAMILY]
    try:
        for n in range(ROUNDS):
            started = time.monotonic()
            config = await t.ok("media_join")  # a fresh subscribe connection each round
            assert config["slots"] == 4  # three others on the list plus a screen share
            relay.set_visible(sid, tid, everyone[:1])  # sees one person at offer time
            sub = new_pc()
            try:
                before = len(t.received["media_renegotiate"])
                first = str((await t.ok("media_subscribe"))["sdp"])  # offer outstanding
                # Everyone becomes visible (breakouts close) while offer #1 is out.
                relay.set_visible(sid, tid, everyone)
                await t.wait(lambda c, k=before: len(c.received["media_renegotiate"]) > k,
                             f"renegotiate (round {n})")
                # The naive client asks again before answering the first offer.
                again = await t.call("media_subscribe")
                if "error" in again:
                    refused += 1
                    continue
                assert again["ok"]["sdp"] == first
                await answer(t, sub, first)
                # The queued need is served: the relay asks again after the answer.
                seen = len(t.received["media_renegotiate"])
                await t.wait(lambda c, k=seen: len(c.received["media_renegotiate"]) > k,
                             f"renegotiate after the answer (round {n})")
                offer = str((await t.ok("media_subscribe"))["sdp"])
                assert offer != first
                await answer(t, sub, offer)
                assert bound(relay, sid, tid) == want, f"round {n}: a subscription was lost"
                assert relay.routers[sid].peers[tid].renegotiate_sent is None
            finally:
                await sub.close()
                await asyncio.sleep(max(0.0, ROUND_AT_LEAST - (time.monotonic() - started)))
    finally:
        for m in pubs:
            await m.close()
    assert refused == 0


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
async def test_unanswered_renegotiation_is_sent_again(live: Live) -> None:
    room = await admitted(live, *FAMILY)
    sid, t = room.sid, room.therapist
    relay = live.app[LIVE].relay
    record(t, "media_renegotiate")
    await t.ok("media_join")
    sub = new_pc()
    pubs: list[MediaClient] = []
    try:
        offer = str((await t.ok("media_subscribe"))["sdp"])
        await answer(t, sub, offer)
        pubs = await publish_all(room, sid)
        # The client "loses" the event: the relay says it again until answered.
        await t.wait(lambda c: len(c.received["media_renegotiate"]) >= 3,
                     "renegotiate re-sent", limit=10)
        await answer(t, sub, str((await t.ok("media_subscribe"))["sdp"]))
        assert len(bound(relay, sid, t.state["me"]["id"])) == 9
        settled = len(t.received["media_renegotiate"])
        await asyncio.sleep(2 * relay.config.renegotiate_interval)
        assert len(t.received["media_renegotiate"]) == settled
    finally:
        for m in pubs:
            await m.close()
        await sub.close()


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
async def test_slots_sized_from_the_session_list(live: Live) -> None:
    """A family of eight: every subscribe connection has room for everyone at once."""
    names = [("p1", "client"), ("p2", "partner"), ("p3", "parent"), ("p4", "client"),
             ("p5", "partner"), ("p6", "parent"), ("p7", "client")]
    room = await admitted(live, *names)
    config = await room.people["p1"].ok("media_join")
    assert config["slots"] == 8


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
async def test_an_older_commits_visibility_never_overwrites_a_newer_one(live: Live) -> None:
    """Two commits close together push their visibility in either order: the relay
    always ends with the newest state's (breakouts open while an older commit's push,
    'see the whole family', is still on its way)."""
    room = await admitted(live, *FAMILY)
    sid, t = room.sid, room.therapist
    tid = t.state["me"]["id"]
    relay = live.app[LIVE].relay
    await t.ok("media_join")
    everyone = {room.ids[n] for n, _ in FAMILY}
    assert relay.routers[sid].peers[tid].visible == everyone
    port = live.app[LIVE].rooms.media
    # A stale push: the set an older commit computed (nobody visible yet).
    await port.set_visible(sid, tid, frozenset())
    assert relay.routers[sid].peers[tid].visible == everyone


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
async def test_a_viewer_that_decodes_nobody_is_told_to_start_over(live: Live) -> None:
    """A subscribe connection that delivers nothing (here: the client never answers)
    is not left to keyframes and layouts forever: the repair escalates to a fresh
    subscribe round, then tells the viewer to start its media over."""
    room = await admitted(live, ("a", "client"))
    sid, t = room.sid, room.therapist
    record(t, "media_renegotiate")
    record(t, "media_peer_closed")
    aid = room.ids["a"]
    a = MediaClient(OverSocket(room.people["a"]), sid, "a", code=3)  # type: ignore[arg-type]
    try:
        await a.join()
        await a.publish()
        await t.ok("media_join")
        await t.ok("media_subscribe")  # offered, never answered: nothing can arrive
        router = live.app[LIVE].relay.routers[sid]
        await t.wait(lambda _: all(p.progress_at for p in router.publications.values()),
                     "a's media arrives at the relay", limit=15)
        nothing = {aid: {"audio": False, "video": False}}
        for _ in range(60):
            await t.ok("media_report", {"receiving": nothing})
            if t.received["media_peer_closed"]:
                break
            await asyncio.sleep(0.5)
        assert t.received["media_peer_closed"], "the blind viewer was never restarted"
        assert t.received["media_peer_closed"][-1]["reason"] == "repair"
        assert t.received["media_renegotiate"], "no subscribe round before the restart"
    finally:
        await a.close()


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
async def test_subscribe_sockets_receive_from_any_address_of_the_subscriber(
        live: Live) -> None:
    """A browser may select another of its candidate pairs than the one aioice
    nominated: the relay's subscribe socket must still take its consent checks, PLI
    and NACK, and must not turn a closed browser port into ECONNREFUSED on every
    send. So the socket stays unconnected while media flows."""
    room = await admitted(live, ("a", "client"))
    sid, t = room.sid, room.therapist
    a = MediaClient(OverSocket(room.people["a"]), sid, "a", code=5)  # type: ignore[arg-type]
    viewer = MediaClient(OverSocket(t), sid, "t", code=1)  # type: ignore[arg-type]
    try:
        await a.join()
        await a.publish()
        await viewer.join()
        await viewer.subscribe()
        await t.wait(lambda _: viewer.frames_of(5), "the therapist decodes a", limit=15)
        peer = live.app[LIVE].relay.routers[sid].peers[t.state["me"]["id"]]
        egress = {id(s._egress): s._egress for s in peer.subscriptions
                  if s._egress is not None}
        assert egress
        for e in egress.values():
            pair = e.dtls.transport._connection._nominated[1]
            sock = pair.protocol.transport.get_extra_info("socket")
            with pytest.raises(OSError):
                sock.getpeername()  # not connected: receives from any address
    finally:
        await a.close()
        await viewer.close()


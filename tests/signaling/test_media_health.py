"""An outage shows, and a gap between what a person should receive and what they
decode is seen by clinicians, repaired and counted. Real aiortc peers over socket.io."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from server.appkeys import LIVE
from testkit.figures import figure
from testkit.live import Live, admitted
from testkit.rtc import Client as MediaClient
from tests.signaling.test_media_flow import OverSocket
from tests.signaling.test_media_race import record


def sending(m: MediaClient, on: bool) -> None:
    """Cut (or restore) everything the publisher sends, as a network drop would."""
    assert m.pub_pc is not None
    for sender in m.pub_pc.getSenders():
        dtls = sender.transport
        if not on and "_send_rtp" not in vars(dtls):
            async def drop(data: bytes) -> None:
                return None
            dtls._send_rtp = drop
        elif on and "_send_rtp" in vars(dtls):
            del dtls._send_rtp


async def metric(live: Live, name: str) -> float:
    async with live.http.get(f"{live.url}/metrics") as r:
        body = await r.text()
    return sum(float(line.split()[-1]) for line in body.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
async def test_stalled_publisher_is_announced_to_everyone_and_cleared(live: Live) -> None:
    room = await admitted(live, ("a", "client"), ("b", "partner"))
    t, a_sock, b_sock = room.therapist, room.people["a"], room.people["b"]
    for c in (t, a_sock, b_sock):
        record(c, "media_health")
    a = MediaClient(OverSocket(a_sock), room.sid, "a", code=1)  # type: ignore[arg-type]
    try:
        await a.join()
        await a.publish()
        router = live.app[LIVE].relay.routers[room.sid]
        await t.wait(lambda _: all(p.progress_at for p in router.publications.values()),
                     "a's media arrives", limit=15)
        aid = room.ids["a"]
        sending(a, False)
        t0 = time.monotonic()
        for c in (t, b_sock, a_sock):
            await c.wait(lambda x: x.received["media_health"]
                         and x.received["media_health"][-1]["stalled"] == [aid],
                         "a marked stalled", limit=15)
        figure(f"stall announced after {time.monotonic() - t0:.2f} s (threshold 2 s)")
        sending(a, True)
        for c in (t, b_sock):
            await c.wait(lambda x: x.received["media_health"][-1]["stalled"] == [],
                         "a cleared", limit=15)
    finally:
        await a.close()


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
async def test_gap_is_shown_to_clinicians_repaired_and_counted(live: Live) -> None:
    room = await admitted(live, ("a", "client"))
    t, a_sock = room.therapist, room.people["a"]
    record(t, "media_gaps")
    record(a_sock, "media_gaps")
    a = MediaClient(OverSocket(a_sock), room.sid, "a", code=7)  # type: ignore[arg-type]
    viewer = MediaClient(OverSocket(t), room.sid, "t", code=1)  # type: ignore[arg-type]
    relay = live.app[LIVE].relay
    tid, aid = t.state["me"]["id"], room.ids["a"]
    stop = asyncio.Event()

    async def reporter() -> None:
        """What a browser does: report, per remote person, what it decodes."""
        audio_before = 0
        while not stop.is_set():
            await asyncio.sleep(0.5)
            audio_now = sum(viewer.audio_frames.values())
            receiving: dict[str, Any] = {aid: {
                "video": bool(viewer.frames_of(7, since=time.monotonic() - 1.0)),
                "audio": audio_now > audio_before}}
            audio_before = audio_now
            await t.ok("media_report", {"receiving": receiving})

    task = None
    try:
        await a.join()
        await a.publish()
        await viewer.join()
        await viewer.subscribe()
        await t.wait(lambda _: viewer.frames_of(7), "the therapist decodes a", limit=15)
        task = asyncio.ensure_future(reporter())
        await asyncio.sleep(1.5)
        assert not t.received["media_gaps"]  # no gap while everything flows

        # A subscription is lost at the relay: nothing else would ever bring it back.
        peer = relay.routers[room.sid].peers[tid]
        sink = next(s for s in peer.subscriptions
                    if s.publication is not None and s.publication.peer.id == aid
                    and s.kind == "video")
        lost_at = time.monotonic()
        sink.unbind()
        await t.wait(lambda x: any(g["viewer"] == tid and g["source"] == aid
                                   and g["kind"] == "video"
                                   for m in x.received["media_gaps"] for g in m["gaps"]),
                     "the clinician sees the gap", limit=15)
        gap = t.received["media_gaps"][-1]["gaps"][0]
        assert abs(gap["since"] - time.time()) < 30  # epoch seconds
        await t.wait(lambda _: viewer.frames_of(7, since=time.monotonic() - 0.5),
                     "repaired: frames of a again", limit=15)
        await t.wait(lambda x: x.received["media_gaps"][-1]["gaps"] == [],
                     "gap cleared", limit=15)
        figure(f"gap lasted {time.monotonic() - lost_at:.2f} s including the 2 s threshold")
        assert not a_sock.received["media_gaps"]  # clients never see gaps
        assert await metric(live, 'hearth_media_gaps_total{event="opened"}') >= 1
        assert await metric(live, 'hearth_media_gaps_total{event="repair"}') >= 1
        assert await metric(live, 'hearth_media_gaps_total{event="closed"}') >= 1
        assert await metric(live, "hearth_media_gap_seconds_count") >= 1
        assert await metric(live, "hearth_media_gap_longest_seconds") >= 2.0
    finally:
        stop.set()
        if task is not None:
            await task
        await a.close()
        await viewer.close()


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
async def test_report_is_validated(live: Live) -> None:
    room = await admitted(live, ("a", "client"))
    a = room.people["a"]
    assert await a.error("media_report", {"receiving": {"x y": {"video": True}}}) == "invalid"
    assert await a.error("media_report", {"receiving": {"p": {"smell": True}}}) == "invalid"
    assert await a.ok("media_report", {"receiving": {}}) == {"gaps": []}


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
async def test_state_never_claims_or_forwards_what_its_owner_did_not_turn_on(live: Live) -> None:
    room = await admitted(live, ("a", "client"))
    a_sock, sid = room.people["a"], room.sid
    relay = live.app[LIVE].relay
    a = MediaClient(OverSocket(a_sock), sid, "a", code=3)  # type: ignore[arg-type]
    try:
        await a.join()
        # Nothing published: "my microphone is on" is refused, "off" is fine.
        assert await a_sock.error("set_media", {"mic_on": True, "camera_on": False}) \
            == "invalid_state"
        await a_sock.ok("set_media", {"mic_on": False, "camera_on": False})
        # Publishing while the state says off: the relay holds both, paused.
        await a.publish()
        pubs = relay.publications(sid)
        assert {p["source"] for p in pubs} == {"mic", "camera"}
        assert all(p["paused"] for p in pubs)
        # Resuming needs the state first; then it flows.
        assert await a_sock.error("media_pause", {"source": "mic", "paused": False}) \
            == "invalid_state"
        await a_sock.ok("set_media", {"mic_on": True, "camera_on": False})
        await a_sock.ok("media_pause", {"source": "mic", "paused": False})
        assert {p["source"]: p["paused"] for p in relay.publications(sid)} \
            == {"mic": False, "camera": True}
        # A clinician's mute pauses it at the relay at once.
        await room.therapist.ok("mute_request", {"participant_id": room.ids["a"]})
        await a_sock.wait(lambda _: {p["source"]: p["paused"] for p in relay.publications(sid)}
                          == {"mic": True, "camera": True}, "muted at the relay")
    finally:
        await a.close()

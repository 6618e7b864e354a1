"""TURN through a real coturn on loopback: a relay-only client reaches the SFU, and
coturn refuses forged or expired credentials (REST-API shared secret scheme)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)

from server.turn import turn_credentials
from testkit.live import Live, admitted, start_live
from testkit.rtc import Client as MediaClient
from testkit.rtc import PaintedTrack, pin
from testkit.servers import collect_output, free_port
from tests.signaling.test_media_flow import OverSocket, wait_codes

SECRET = "turn-test-secret"


@pytest.fixture
def turnserver(tmp_path: Path) -> Iterator[int]:
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("coturn is not installed: run `apt-get install -y coturn`")
    port = free_port()
    low = 49000 + (port % 500) * 20
    proc = subprocess.Popen([
        binary, "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}",
        "--relay-ip=127.0.0.1", f"--min-port={low}", f"--max-port={low + 19}",
        "--use-auth-secret", f"--static-auth-secret={SECRET}", "--realm=hearth.test",
        "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli", "--no-tcp-relay",
        "--log-file=stdout", "--simple-log", f"--pidfile={tmp_path / 'turn.pid'}",
    ], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = collect_output(proc)
    deadline = time.monotonic() + 10
    while not any("Total General servers" in line for line in lines):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("turnserver did not start: " + "".join(lines[-10:]))
        time.sleep(0.05)
    time.sleep(0.3)  # listeners open right after the servers are created
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.fixture
async def live_turn(tmp_path: Path, turnserver: int) -> AsyncIterator[Live]:
    live = await start_live(tmp_path, "sqlite", None,
                            ice_servers=(f"turn:127.0.0.1:{turnserver}?transport=udp",),
                            turn_secret=SECRET)
    yield live
    await live.close()


async def relay_only_pc(server: dict[str, object]) -> RTCPeerConnection:
    ice = RTCIceServer(urls=server["urls"], username=server["username"],  # type: ignore[arg-type]
                       credential=server["credential"])  # type: ignore[arg-type]
    return RTCPeerConnection(RTCConfiguration(iceServers=[ice],
                                              iceTransportPolicy=RTCIceTransportPolicy.RELAY))


async def test_relay_only_client_reaches_the_sfu_through_coturn(live_turn: Live) -> None:
    room = await admitted(live_turn, ("Alex", "client"))
    dr, sid, t, a, a_id = room.dr, room.sid, room.therapist, room.people["Alex"], room.ids["Alex"]

    watcher = MediaClient(OverSocket(t), sid, "t", code=1)  # type: ignore[arg-type]
    await watcher.join()
    await watcher.subscribe()
    config = await a.ok("media_join")
    (turn,) = config["ice_servers"]
    assert str(turn["username"]).endswith(f":{a_id}")  # per-person, time-limited
    pc = await relay_only_pc(turn)
    try:
        pc.addTransceiver(PaintedTrack(7), direction="sendonly")
        pin(pc)
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        assert "typ relay" in sdp
        assert "typ host" not in sdp
        mid = pc.getTransceivers()[0].mid
        answer = await a.ok("media_publish", {"sdp": sdp, "sources": {mid: "camera"}})
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        await wait_codes(watcher, time.monotonic(), {7}, "frames relayed through TURN")
    finally:
        await pc.close()
        await watcher.close()
        await dr.close()


@pytest.mark.parametrize("kind", ["forged", "expired"])
async def test_coturn_refuses_bad_credentials(turnserver: int, kind: str) -> None:
    if kind == "forged":
        username, _ = turn_credentials(SECRET, "p1", lifetime=600)
        credential = "bm90LXRoZS1yaWdodC1obWFj"
    else:
        username, credential = turn_credentials(SECRET, "p1", lifetime=-60)
    pc = await relay_only_pc({"urls": [f"turn:127.0.0.1:{turnserver}?transport=udp"],
                              "username": username, "credential": credential})
    try:
        pc.addTransceiver(PaintedTrack(1), direction="sendonly")
        await asyncio.wait_for(pc.setLocalDescription(await pc.createOffer()), 30)
        assert "typ relay" not in pc.localDescription.sdp  # no allocation was granted
    finally:
        await pc.close()

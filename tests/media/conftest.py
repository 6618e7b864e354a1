"""Relay fixtures, and the proof that the relay never encodes, decodes or depacketizes.

Relay and clients share one process, so every test records which aiortc objects
entered the media-processing paths:

* ``RTCRtpReceiver._handle_rtp_packet``: the only way into aiortc's jitter buffer,
  depayloader and decoder queue;
* ``RemoteStreamTrack.recv``: pulling decoded frames (what a decode/re-encode relay
  would do);
* ``aiortc.rtcrtpsender.get_encoder``: attributed to the calling sender by frame
  inspection (the relay's parked senders do enter ``_next_encoded_frame`` and wait
  in ``recv()`` forever; what matters is that they never create an encoder).

At teardown none of the relay's receivers, tracks or senders may appear there,
while the clients' must (so the instrumentation demonstrably works).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import aiortc.rtcrtpsender
import pytest
from aiortc.rtcrtpreceiver import RemoteStreamTrack, RTCRtpReceiver

from media.config import RelayConfig
from media.relay import Peer, Relay

TOUCHED: dict[str, set[int]] = {"receiver": set(), "track": set(), "sender": set()}


@pytest.fixture(autouse=True)
def media_path_spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[int]]:
    for s in TOUCHED.values():
        s.clear()
    orig_rtp = RTCRtpReceiver._handle_rtp_packet
    orig_recv = RemoteStreamTrack.recv
    orig_enc = vars(aiortc.rtcrtpsender)["get_encoder"]

    async def handle_rtp_packet(self: Any, *args: Any, **kwargs: Any) -> Any:
        TOUCHED["receiver"].add(id(self))
        return await orig_rtp(self, *args, **kwargs)

    async def recv(self: Any) -> Any:
        TOUCHED["track"].add(id(self))
        return await orig_recv(self)

    def get_encoder(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_locals.get("self")
        TOUCHED["sender"].add(id(caller))
        return orig_enc(*args, **kwargs)

    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", handle_rtp_packet)
    monkeypatch.setattr(RemoteStreamTrack, "recv", recv)
    monkeypatch.setattr(aiortc.rtcrtpsender, "get_encoder", get_encoder)
    return TOUCHED


RELAY_OWNED: dict[str, list[Any]] = {"receiver": [], "track": [], "sender": []}


def _record_relay_pc(pc: Any) -> None:
    """Remember (strong refs: ids stay unique) every media object of a relay PC."""
    if pc is None:
        return
    for t in pc.getTransceivers():
        RELAY_OWNED["receiver"].append(t.receiver)
        if t.receiver.track is not None:
            RELAY_OWNED["track"].append(t.receiver.track)
        RELAY_OWNED["sender"].append(t.sender)


def assert_relay_never_processed_media() -> None:
    """Fail if any relay-side object entered a depacketize/decode/encode path."""
    assert RELAY_OWNED["receiver"], "relay has no receivers: nothing was checked"
    for key in ("receiver", "track", "sender"):
        owned = {id(o) for o in RELAY_OWNED[key]}
        assert not (owned & TOUCHED[key]), f"relay {key} processed media"


def assert_instrumentation_live() -> None:
    """The spies did see the *clients'* media objects, so the check is not void."""
    for key in ("receiver", "track", "sender"):
        assert TOUCHED[key], f"instrumentation saw no client {key}"


@pytest.fixture
async def relay(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Relay]:
    for v in RELAY_OWNED.values():
        v.clear()
    orig_pub, orig_sub = Peer.publish_offer, Peer.subscribe_offer

    async def publish_offer(self: Peer, *args: Any) -> str:
        try:
            return await orig_pub(self, *args)
        finally:
            _record_relay_pc(self.publish_pc)

    async def subscribe_offer(self: Peer) -> str:
        try:
            return await orig_sub(self)
        finally:
            _record_relay_pc(self.subscribe_pc)

    monkeypatch.setattr(Peer, "publish_offer", publish_offer)
    monkeypatch.setattr(Peer, "subscribe_offer", subscribe_offer)
    r = Relay(RelayConfig(host_addresses=("127.0.0.1",), slots=3))
    await r.join("s1", "_warm")  # creates the router
    await r.leave("s1", "_warm")
    try:
        yield r
    finally:
        assert_relay_never_processed_media()
        await r.close()

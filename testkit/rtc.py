"""Real aiortc clients for relay tests: painted video, audio, publish and subscribe legs.

Video frames carry their frame index (16 bits) and a publisher code (8 bits) as
black/white stripes, so a subscriber can tell *whose* frame it decoded and in
which order, with no side channel.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import itertools
import math
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import av
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy

from media.ice import restrict_gathering
from media.relay import Relay

W, H = 320, 240
INDEX_BITS, CODE_BITS = 16, 8
BLACK, WHITE = 16, 235
LOOPBACK = ["127.0.0.1"]


def _row(bits: int, count: int) -> bytes:
    width = W // count
    row = bytearray()
    for i in range(count):
        row += bytes([WHITE if (bits >> (count - 1 - i)) & 1 else BLACK]) * width
    return bytes(row)


class PaintedTrack(VideoStreamTrack):
    """30 fps frames painted with (publisher code, frame index)."""

    def __init__(self, code: int) -> None:
        super().__init__()
        self.code = code
        self.index = 0
        self._code_rows = _row(code, CODE_BITS) * (H // 2)
        self._chroma = bytes([128]) * (W // 2) * (H // 2)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(W, H, "yuv420p")
        frame.planes[0].update(_row(self.index & 0xFFFF, INDEX_BITS) * (H // 2) + self._code_rows)
        frame.planes[1].update(self._chroma)
        frame.planes[2].update(self._chroma)
        frame.pts = pts
        frame.time_base = time_base
        self.index += 1
        return frame


def read_paint(frame: av.VideoFrame) -> tuple[int, int]:
    """(publisher code, frame index) painted by PaintedTrack."""
    if frame.width != W or frame.height != H:
        frame = frame.reformat(width=W, height=H, format="yuv420p")
    plane = frame.planes[0]
    data = bytes(plane)
    stride = plane.line_size

    def bits(row: int, count: int) -> int:
        width = W // count
        value = 0
        for i in range(count):
            value = (value << 1) | (data[row * stride + i * width + width // 2] > 128)
        return value

    return bits(H * 3 // 4, CODE_BITS), bits(H // 4, INDEX_BITS)


def pin(pc: RTCPeerConnection) -> None:
    """One codec per room on the client side too: VP8 (+RTX) and Opus."""
    for t in pc.getTransceivers():
        caps = RTCRtpSender.getCapabilities(t.kind).codecs
        want = "video/vp8" if t.kind == "video" else "audio/opus"
        t.setCodecPreferences(
            [c for c in caps if c.mimeType.lower() in (want, f"{t.kind}/rtx")]
        )


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


@dataclass
class Seen:
    """One decoded video frame at a subscriber."""

    mid: str
    code: int
    index: int
    at: float


@dataclass
class Client:
    relay: Relay
    session: str
    pid: str
    code: int = 0
    pub_pc: RTCPeerConnection | None = None
    sub_pc: RTCPeerConnection | None = None
    video: list[Seen] = field(default_factory=list)
    audio_frames: dict[str, int] = field(default_factory=dict)
    audio_samples: dict[str, list[int]] = field(default_factory=dict)
    audio_rate: int = 48000
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    subscribed_at: float = 0.0

    async def join(self) -> dict[str, Any]:
        return await self.relay.join(self.session, self.pid)

    async def publish(self, audio: bool = True, camera: bool = True,
                      screen_code: int | None = None, tone: bool = False) -> dict[str, str]:
        """Publish audio, camera and optionally a screen (a second painted track)."""
        pc = self.pub_pc = new_pc()
        if audio:
            track = ToneTrack() if tone else AudioStreamTrack()
            pc.addTransceiver(track, direction="sendonly")
        if camera:
            pc.addTransceiver(PaintedTrack(self.code), direction="sendonly")
        if screen_code is not None:
            pc.addTransceiver(PaintedTrack(screen_code), direction="sendonly")
        pin(pc)
        restrict_gathering(pc, LOOPBACK)
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        sources: dict[str, str] = {}
        videos = [t for t in pc.getTransceivers() if t.kind == "video"]
        for t in pc.getTransceivers():
            assert t.mid is not None
            if t.kind == "audio":
                sources[t.mid] = "mic"
            elif screen_code is not None and t is videos[-1]:
                sources[t.mid] = "screen"
            else:
                sources[t.mid] = "camera"
        answer = await self.relay.publish_offer(
            self.session, self.pid, pc.localDescription.sdp, sources
        )
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        return sources

    async def add_screen(self, screen_code: int) -> str:
        """Start a screen share later: a new m-line, renegotiated on the publish PC."""
        pc = self.pub_pc
        assert pc is not None
        t = pc.addTransceiver(PaintedTrack(screen_code), direction="sendonly")
        pin(pc)
        restrict_gathering(pc, LOOPBACK)
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        assert t.mid is not None
        answer = await self.relay.publish_offer(
            self.session, self.pid, pc.localDescription.sdp, {t.mid: "screen"}
        )
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        return t.mid

    async def subscribe(self) -> None:
        """Take the relay's offer (K slots), answer it, decode whatever arrives."""
        offer = await self.relay.subscribe_offer(self.session, self.pid)
        if self.sub_pc is None:
            self.sub_pc = new_pc()
        pc = self.sub_pc
        reading = {t.mid for t in pc.getTransceivers()}
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        restrict_gathering(pc, LOOPBACK)
        await pc.setLocalDescription(await pc.createAnswer())
        assert pc.localDescription is not None
        self.subscribed_at = time.monotonic()
        await self.relay.subscribe_answer(self.session, self.pid, pc.localDescription.sdp)
        for t in pc.getTransceivers():
            assert t.mid is not None
            if t.mid in reading:
                continue
            self.tasks.append(asyncio.ensure_future(self._read(t.kind, t.mid, t.receiver.track)))

    async def _read(self, kind: str, mid: str, track: Any) -> None:
        try:
            while True:
                frame = await track.recv()
                if kind == "video":
                    code, index = read_paint(frame)
                    self.video.append(Seen(mid, code, index, time.monotonic()))
                else:
                    self.audio_frames[mid] = self.audio_frames.get(mid, 0) + 1
                    kept = self.audio_samples.setdefault(mid, [])
                    if len(kept) < 3 * frame.sample_rate and frame.format.name == "s16":
                        channels = len(frame.layout.channels)
                        raw = bytes(frame.planes[0])[: frame.samples * 2 * channels]
                        kept.extend(array.array("h", raw)[::channels])
                        self.audio_rate = frame.sample_rate
        except (MediaStreamError, asyncio.CancelledError):
            return

    def tone_hz(self, mid: str) -> float:
        """Dominant frequency of the last second received on ``mid``, by zero crossings."""
        pcm = self.audio_samples.get(mid, [])[-self.audio_rate :]
        crossings = sum(1 for x, y in itertools.pairwise(pcm) if (x < 0) != (y < 0))
        return crossings / 2 / (len(pcm) / self.audio_rate) if pcm else 0.0

    def codes_since(self, t0: float) -> set[int]:
        return {s.code for s in self.video if s.at >= t0}

    def frames_of(self, code: int, since: float = 0.0) -> list[Seen]:
        return [s for s in self.video if s.code == code and s.at >= since]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for pc in (self.pub_pc, self.sub_pc):
            if pc is not None:
                await pc.close()


async def wait_for(pred: Any, timeout: float, what: str) -> None:  # noqa: ASYNC109
    """Poll ``pred()`` until true; fail with ``what`` after a generous timeout."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)




class ToneTrack(AudioStreamTrack):
    """A loud 440 Hz tone, so the audio-level extension says 'speaking'."""

    def __init__(self) -> None:
        super().__init__()
        self._n = 0

    async def recv(self) -> av.AudioFrame:
        frame = cast(av.AudioFrame, await super().recv())
        samples = frame.samples
        out = bytearray()
        for i in range(samples):
            v = int(12000 * math.sin(2 * math.pi * 440 * (self._n + i) / frame.sample_rate))
            out += struct.pack("<h", v)
        self._n += samples
        frame.planes[0].update(bytes(out) * (len(frame.layout.channels)))
        return frame


@contextlib.asynccontextmanager
async def one_way(relay: Relay, code: int, *, limit: float = 15.0
                  ) -> AsyncIterator[tuple[Client, Client]]:
    """Publisher ``a`` (painting ``code``) and subscriber ``b`` in session s1, yielded once
    ten of a's frames have decoded at b; both are closed on the way out."""
    a = Client(relay, "s1", "a", code=code)
    b = Client(relay, "s1", "b")
    try:
        for x in (a, b):
            await x.join()
        await a.publish()
        await b.subscribe()
        relay.set_visible("s1", "b", ["a"])
        await wait_for(lambda: len(b.frames_of(code)) >= 10, limit, "frames")
        yield a, b
    finally:
        for x in (a, b):
            await x.close()

"""Benchmark clients: pre-encoded VP8 + Opus publishers, counting and decoding subscribers.

Clients must cost the same for every SFU and must not be the bottleneck, so:

* media is encoded once (cached under bench/results/) and replayed as
  `av.Packet`s, which `RTCRtpSender` packetizes without encoding;
* most subscribers count RTP packets in `RTCRtpReceiver._handle_rtp_packet`
  and never reach the jitter buffer or decoder; one subscriber per publisher
  decodes its video to prove that frames survive the SFU;
* transit is measured by hashing each video packet's VP8 data (the payload
  after its descriptor, which SFUs may rewrite: ``video_key``) when the publisher
  hands it to DTLS and when the subscriber's receiver gets it, both on
  CLOCK_MONOTONIC, which is system-wide on Linux, so records from different
  processes join. Each record names its publisher (and layer, for simulcast); a
  replayed clip repeats its data every few seconds, so ``bench.relay`` joins a
  receipt to the latest send of the same data by the same publisher;
* simulcast publishers (``SimulcastTrack``) replay three encodings of a 720p clip,
  one per layer of ``bench.simulcast.LAYERS``, at their own sizes and rates.

Clients run in worker processes (`worker_main`), driven by `bench.relay` over
a pipe, and report their own CPU from /proc/self/stat.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import pickle
import random
import time
from array import array
from collections.abc import Awaitable, Callable
from fractions import Fraction
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aioice.ice
import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RtpPacket, is_rtcp

from bench import simulcast
from bench.adapters import make_client

log = logging.getLogger("bench.clients")

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CLIP_VERSION = 3
WIDTH, HEIGHT, FPS = 640, 360, 30
VIDEO_BITRATE = 1_000_000
CLIP_FRAMES = 90  # 3 s, keyframe every KEYFRAME_EVERY frames
KEYFRAME_EVERY = 30
AUDIO_RATE, AUDIO_FRAME = 48_000, 960  # 20 ms Opus frames
AUDIO_PACKETS = 50
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- network rule


def restrict_ice_host(ip: str) -> None:
    """Make aioice gather host candidates on `ip` only.

    aioice's `Connection.gather_candidates` calls the module-level
    `aioice.ice.get_host_addresses` for every interface's addresses; replacing
    it in this (benchmark-only) process is the narrowest hook, and with
    `iceServers=[]` no STUN/TURN candidate exists either.
    """

    def only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [ip] if use_ipv4 else []

    aioice.ice.get_host_addresses = only


def new_pc(max_bundle: bool = False) -> RTCPeerConnection:
    """A peer connection with no ICE servers (never Google STUN).

    Subscribers need `max_bundle`: under aiortc's default "balanced" policy, a
    remote offer with two video m-lines puts the second one on the first one's
    pre-bundle transport, which BUNDLE then stops, so its media is never seen.
    """
    policy = RTCBundlePolicy.MAX_BUNDLE if max_bundle else RTCBundlePolicy.BALANCED
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=policy))


# ---------------------------------------------------------------- the clip


def _blocks(width: int, height: int, size: int, seed: int, lo: int = 0, hi: int = 256) -> bytes:
    """A plane of random flat blocks: compressible, unlike pure noise."""
    rnd = random.Random(seed)
    rows = []
    for _ in range(height // size):
        row = b"".join(bytes([rnd.randrange(lo, hi)]) * size for _ in range(width // size))
        rows.extend([row] * size)
    return b"".join(rows)


class _Scene:
    """A panning block pattern plus a band of fresh blocks each frame.

    Panning keeps delta frames cheap, the fresh band makes them cost about
    3-4 KB, so a CBR VP8 encoder lands near 1 Mbps with 15-20 KB keyframes. The
    simulcast clip's 720p scene (``LAYER_SCENE``) has larger, lower-contrast blocks,
    so that scaled to 180p, 360p and 720p it lands near each layer's target rate
    (about 0.15, 0.5 and 1 Mbit/s) instead of costing the same at every size.
    """

    STEP = 4

    def __init__(self, width: int = WIDTH, height: int = HEIGHT, block: int = 8,
                 band: int = 64, lo: int = 0, hi: int = 256) -> None:
        self.width, self.height, self.block, self.band = width, height, block, band
        self.lo, self.hi = lo, hi
        self.wide = width * 2
        self.y = _blocks(self.wide, height, block, 1, lo, hi)
        self.u = _blocks(self.wide // 2, height // 2, block // 2, 2, lo, hi)
        self.v = _blocks(self.wide // 2, height // 2, block // 2, 3, lo, hi)

    def frame(self, index: int) -> av.VideoFrame:
        w, h = self.width, self.height
        frame = av.VideoFrame(w, h, "yuv420p")
        dx = (index * self.STEP) % w
        band = _blocks(w, self.band, self.block, 1000 + index, self.lo, self.hi)
        rows = (self.y[r * self.wide + dx : r * self.wide + dx + w]
                for r in range(self.band, h))
        frame.planes[0].update(band + b"".join(rows))
        half, cx = self.wide // 2, dx // 2
        for plane, src in ((frame.planes[1], self.u), (frame.planes[2], self.v)):
            plane.update(b"".join(src[r * half + cx : r * half + cx + w // 2]
                                  for r in range(h // 2)))
        frame.pts = index
        frame.time_base = Fraction(1, FPS)
        if index % KEYFRAME_EVERY == 0:
            frame.pict_type = av.video.frame.PictureType.I
        return frame


#: the simulcast clip's scene at its top layer's size (``_Scene``): block, band, lo, hi
LAYER_SCENE = {"block": 40, "band": 40, "lo": 96, "hi": 160}


def _vp8_encoder(width: int, height: int, bitrate: int) -> Any:
    """The clip's CBR VP8 encoder: realtime, keyframe every KEYFRAME_EVERY frames."""
    venc = av.CodecContext.create("libvpx", "w")
    venc.width, venc.height, venc.pix_fmt = width, height, "yuv420p"
    venc.time_base = Fraction(1, FPS)
    venc.framerate = Fraction(FPS)
    venc.bit_rate = bitrate
    venc.gop_size = KEYFRAME_EVERY
    rate = str(bitrate)
    venc.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "minrate": rate,
        "maxrate": rate,
        "bufsize": rate,
        "partitions": "0",
        "undershoot-pct": "100",
        "overshoot-pct": "15",
    }
    venc.qmin, venc.qmax = 2, 56
    return venc


def _encode_layers() -> dict[str, list[bytes]]:
    """Each simulcast layer's encoding of one 720p scene, scaled to the layer's size,
    frame for frame (same length, keyframes on the same frames)."""
    top = max(simulcast.LAYERS, key=lambda spec: spec.width)
    scene = _Scene(top.width, top.height, **LAYER_SCENE)
    encoders = {spec.rid: _vp8_encoder(spec.width, spec.height, spec.bitrate)
                for spec in simulcast.LAYERS}
    for enc in encoders.values():
        enc.qmax = 63  # the 180p layer reaches its rate only with the coarsest steps
    layers: dict[str, list[bytes]] = {rid: [] for rid in encoders}
    for i in range(CLIP_FRAMES):
        frame = scene.frame(i)
        for spec in simulcast.LAYERS:
            scaled = (frame if (spec.width, spec.height) == (top.width, top.height)
                      else frame.reformat(width=spec.width, height=spec.height))
            scaled.pts = i
            scaled.time_base = Fraction(1, FPS)
            if i % KEYFRAME_EVERY == 0:
                scaled.pict_type = av.video.frame.PictureType.I
            layers[spec.rid].extend(bytes(p) for p in encoders[spec.rid].encode(scaled))
    for rid, enc in encoders.items():
        layers[rid].extend(bytes(p) for p in enc.encode(None))
    if len({len(frames) for frames in layers.values()}) != 1:
        raise RuntimeError("simulcast layers encoded to different lengths")
    return layers


def _encode_clip() -> dict[str, Any]:
    venc = _vp8_encoder(WIDTH, HEIGHT, VIDEO_BITRATE)
    video: list[bytes] = []
    keyframes: list[bool] = []
    scene = _Scene()
    for i in range(CLIP_FRAMES):
        for packet in venc.encode(scene.frame(i)):
            video.append(bytes(packet))
            keyframes.append(bool(packet.is_keyframe))
    for packet in venc.encode(None):
        video.append(bytes(packet))
        keyframes.append(bool(packet.is_keyframe))

    aenc = av.CodecContext.create("libopus", "w")
    aenc.sample_rate = AUDIO_RATE
    aenc.layout = "stereo"
    aenc.format = "s16"
    aenc.bit_rate = 48_000
    audio: list[bytes] = []
    for i in range(AUDIO_PACKETS):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_FRAME)
        frame.planes[0].update(os.urandom(frame.planes[0].buffer_size))
        frame.sample_rate = AUDIO_RATE
        frame.pts = i * AUDIO_FRAME
        frame.time_base = Fraction(1, AUDIO_RATE)
        audio.extend(bytes(p) for p in aenc.encode(frame))
    audio.extend(bytes(p) for p in aenc.encode(None))
    if not video or not keyframes[0] or not audio:
        raise RuntimeError("clip encoding produced no keyframe-led video or no audio")
    return {"version": CLIP_VERSION, "video": video, "keyframes": keyframes, "audio": audio,
            "layers": _encode_layers()}


def load_clip(path: Path | None = None) -> dict[str, Any]:
    """The replayed clip, encoded on first use and cached (bench/results is gitignored)."""
    path = path or RESULTS_DIR / f"clip-v{CLIP_VERSION}.pickle"
    if path.exists():
        with path.open("rb") as f:
            clip: dict[str, Any] = pickle.load(f)
        if clip.get("version") == CLIP_VERSION:
            return clip
    clip = _encode_clip()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        pickle.dump(clip, f)
    tmp.replace(path)
    return clip


def clip_packet_rate(clip: dict[str, Any], mtu_payload: int = 1200) -> float:
    """Approximate RTP packets/s one publisher sends (video by payload size + audio)."""
    per_frame = sum(-(-len(f) // mtu_payload) for f in clip["video"]) / len(clip["video"])
    return per_frame * FPS + AUDIO_RATE / AUDIO_FRAME


# ---------------------------------------------------------------- tracks


class ReplayTrack(MediaStreamTrack):
    """Replays pre-encoded packets in real time; `recv()` returns `av.Packet`, never a frame."""

    def __init__(
        self, kind: str, packets: list[bytes], interval: float, clock: int, max_seconds: float,
        offset: int = 0,
    ) -> None:
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._interval = interval
        self._ticks = round(interval * clock)
        self._time_base = Fraction(1, clock)
        self._max_seconds = max_seconds
        self._start: float | None = None
        self._n = 0
        self._offset = offset  # staggers publishers so their keyframe bursts do not coincide

    async def _tick(self) -> int:
        """Wait for the next frame's time; its index."""
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        elif now - self._start > self._max_seconds:  # bound every media loop in time
            raise MediaStreamError
        due = self._start + self._n * self._interval
        if due > now:
            await asyncio.sleep(due - now)
        self._n += 1
        return self._n - 1

    def _packet(self, packets: list[bytes], n: int) -> av.Packet:  # type: ignore[type-arg]
        packet = av.Packet(packets[(self._offset + n) % len(packets)])
        packet.pts = n * self._ticks
        packet.time_base = self._time_base
        return packet

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        return self._packet(self._packets, await self._tick())


class SimulcastTrack(ReplayTrack):
    """Replays one pre-encoded clip per simulcast layer: each frame time, the frame of
    every active layer, low to high, all with that frame's timestamp. ``layer`` says
    which layer the packet returned last belongs to, so ``simulcast.to_layer`` can
    move the RTP packets aiortc makes of it to that layer (aiortc packetizes and
    sends one frame before it asks for the next)."""

    def __init__(self, layers: dict[str, list[bytes]], max_seconds: float,
                 offset: int = 0) -> None:
        super().__init__("video", layers[simulcast.RIDS[-1]], 1 / FPS, 90_000, max_seconds,
                         offset)
        self._layers = [layers[rid] for rid in simulcast.RIDS]
        self.layer = len(self._layers) - 1
        self.active = set(simulcast.RIDS)
        self._frame = 0

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        while True:
            if self.layer == len(self._layers) - 1:
                self._frame = await self._tick()
                self.layer = 0
            else:
                self.layer += 1
            if simulcast.RIDS[self.layer] in self.active:
                return self._packet(self._layers[self.layer], self._frame)


# ---------------------------------------------------------------- taps


def payload_key(payload: bytes) -> int:
    """64-bit digest of an RTP payload; stable across processes (unlike hash())."""
    return int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "little")


def video_key(payload: bytes) -> int:
    """Digest of a VP8 RTP payload's data after its payload descriptor: an SFU that
    rewrites the descriptor (PictureID, TL0PICIDX: Janus in simulcast mode, Hearth
    when it switches layers) leaves the key as the publisher's."""
    try:
        size = simulcast.vp8_descriptor(payload)[0]
    except ValueError:
        size = 0
    return payload_key(payload[size:])


def _rtp_payload(data: bytes) -> tuple[int, bytes]:
    """(payload type, payload) of a serialized RTP packet."""
    b0 = data[0]
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        offset += 4 + 4 * int.from_bytes(data[offset + 2 : offset + 4], "big")
    end = len(data) - (data[-1] if b0 & 0x20 else 0)
    return data[1] & 0x7F, data[offset:end]


class SendLog:
    """Every RTP packet the publishers in this process hand to DTLS; video packets with
    their publisher, layer ("" for a single layer) and ``video_key``."""

    def __init__(self) -> None:
        self.times = array("d")
        self.video_keys: list[tuple[int, str, int, float]] = []
        #: video SSRC (a simulcast layer's) -> (publisher index, rid)
        self.streams: dict[int, tuple[int, str]] = {}

    def install(self) -> None:
        """Wrap `RTCDtlsTransport._send_rtp` (class-wide, benchmark process only).

        Bundling replaces transports during negotiation, so an instance hook would
        be lost; RTCP is skipped.
        """
        original = RTCDtlsTransport._send_rtp
        log_ = self

        async def _send_rtp(transport: RTCDtlsTransport, data: bytes) -> None:
            if not is_rtcp(data):
                now = time.monotonic()
                log_.times.append(now)
                if simulcast.PUBLISHERS:
                    data = simulcast.to_layer(data) or data
                stream = log_.streams.get(int.from_bytes(data[8:12], "big"))
                if stream is not None:
                    log_.video_keys.append(
                        (*stream, video_key(_rtp_payload(data)[1]), now))
            await original(transport, data)

        RTCDtlsTransport._send_rtp = _send_rtp  # type: ignore[method-assign,assignment]


class RecvLog:
    """Packets one subscriber received, per receiver; some receivers also decode."""

    def __init__(self) -> None:
        self.times = array("d")
        self.video_keys: list[tuple[int, int, float]] = []
        self.video_tracks = 0
        self.decoders: list[dict[str, Any]] = []
        self.unrouted = 0

    def tap(self, receiver: RTCRtpReceiver, mid: str, kind: str, decode: bool,
            publisher: int = -1) -> None:
        """Count (and hash video) before aiortc's jitter buffer; forward only if decoding.

        Routes are keyed by the RTP `sdes:mid` extension on the pc's (bundled)
        transport, because aiortc 1.16's router learns an unknown SSRC from the
        payload type while only one receiver is registered, and so could pin two
        publishers' video to one receiver for good.
        """
        forward = receiver._handle_rtp_packet
        times, keys = self.times, self.video_keys  # video: (publisher, video_key, time)
        video = kind == "video"

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            now = time.monotonic()
            times.append(now)
            if video:
                keys.append((publisher, video_key(packet.payload), now))
            if decode:
                await forward(packet, arrival_time_ms=arrival_time_ms)

        transport = receiver.transport
        routes: dict[str | int, Callable[[RtpPacket, int], Awaitable[None]]]
        routes = transport.__dict__.setdefault("_bench_routes", {})
        routes[mid] = handle
        transport.__dict__["_bench_recv_log"] = self

    @staticmethod
    def install() -> None:
        """Wrap `RTCDtlsTransport._handle_rtp_data` (class-wide, benchmark process only).

        Transports without routes (publishers) keep aiortc's path untouched.
        """
        original = RTCDtlsTransport._handle_rtp_data

        async def _handle_rtp_data(
            transport: RTCDtlsTransport, data: bytes, arrival_time_ms: int
        ) -> None:
            routes = transport.__dict__.get("_bench_routes")
            if routes is None:
                await original(transport, data, arrival_time_ms)
                return
            try:
                packet = RtpPacket.parse(data, transport._rtp_header_extensions_map)
            except ValueError:
                return
            handler = routes.get(packet.ssrc)
            if handler is None:
                handler = routes.get(packet.extensions.mid or "")
                if handler is None:
                    transport.__dict__["_bench_recv_log"].unrouted += 1
                    return
                routes[packet.ssrc] = handler  # learn the SSRC from its mid
            await handler(packet, arrival_time_ms)

        RTCDtlsTransport._handle_rtp_data = _handle_rtp_data  # type: ignore[method-assign,assignment]


async def _consume(track: MediaStreamTrack, stats: dict[str, Any], until: float) -> None:
    """Pull decoded frames, counting them with their times; bounded by `until`."""
    while time.monotonic() < until:
        try:
            frame = await asyncio.wait_for(track.recv(), timeout=5)
        except (MediaStreamError, asyncio.CancelledError):
            return
        except TimeoutError:
            continue
        stats["frames"].append(time.monotonic())
        if isinstance(frame, av.VideoFrame):
            stats["size"] = (frame.width, frame.height)


# ---------------------------------------------------------------- the worker


def read_cpu_ticks(pid: int | str = "self") -> int:
    """utime + stime (clock ticks) from /proc/PID/stat, all threads included."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def read_rss_kb(pid: int | str = "self") -> int:
    """VmRSS in kB from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class _DecodeErrors(logging.Handler):
    """Counts aiortc's "failed to decode" warnings, so invalid frames show in the figures."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.times = array("d")

    def emit(self, record: logging.LogRecord) -> None:
        if "failed to decode" in record.getMessage():
            self.times.append(time.monotonic())


class Worker:
    """One client process: its publishers and subscribers, and the commands that drive them."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.clip = load_clip()
        self.client = make_client(config["adapter"])
        self.pcs: list[RTCPeerConnection] = []
        self.sends = SendLog()
        self.sends.install()
        RecvLog.install()
        self.recvs: dict[int, RecvLog] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.max_seconds = float(config["max_seconds"])
        self.deadline = time.monotonic() + self.max_seconds
        self.decode_errors = _DecodeErrors()
        receiver_log = logging.getLogger("aiortc.rtcrtpreceiver")
        receiver_log.addHandler(self.decode_errors)
        receiver_log.propagate = False  # counted, not printed

    async def publish(self, indices: list[int]) -> list[str]:
        """One pc per publisher: sendonly Opus + VP8 replayed from the clip (its three
        layers, for a simulcast adapter)."""
        ids = []
        simulcast_on = bool(self.config["adapter"].get("simulcast"))
        for i in indices:
            pc = new_pc()
            self.pcs.append(pc)
            audio = ReplayTrack(
                "audio", self.clip["audio"], AUDIO_FRAME / AUDIO_RATE, AUDIO_RATE, self.max_seconds
            )
            offset = (i * 7) % len(self.clip["video"])
            video: ReplayTrack
            if simulcast_on:
                video = SimulcastTrack(self.clip["layers"], self.max_seconds, offset=offset)
            else:
                video = ReplayTrack("video", self.clip["video"], 1 / FPS, 90_000,
                                    self.max_seconds, offset=offset)
            for track, mime in ((audio, "audio/opus"), (video, "video/VP8")):
                transceiver = pc.addTransceiver(track, direction="sendonly")
                caps = RTCRtpSender.getCapabilities(track.kind)
                transceiver.setCodecPreferences(
                    [c for c in caps.codecs if c.mimeType in (mime, f"{track.kind}/rtx")]
                )
            ids.append(await self.client.add_publisher(pc, f"pub{i}"))
            sender = next(t.sender for t in pc.getTransceivers() if t.kind == "video")
            layers = simulcast.PUBLISHERS.get(sender._ssrc)
            if simulcast_on and layers is None:
                raise RuntimeError(f"pub{i}: the adapter registered no simulcast layers")
            for stream in layers.streams if layers else []:
                self.sends.streams[stream.ssrc] = (i, stream.rid)
            if layers is None:
                self.sends.streams[sender._ssrc] = (i, "")
        return ids

    async def subscribe(self, subs: list[tuple[int, int]], publisher_ids: list[str]) -> None:
        """Subscriber j of S decodes the k-th video track iff k % S == j: one decoder per pub."""
        for j, total in subs:
            pc = new_pc(max_bundle=True)
            self.pcs.append(pc)
            rlog = self.recvs[j] = RecvLog()

            def on_track(
                track: MediaStreamTrack,
                pc: RTCPeerConnection = pc,
                rlog: RecvLog = rlog,
                j: int = j,
                total: int = total,
            ) -> None:
                receiver = next(
                    t.receiver for t in pc.getTransceivers() if t.receiver.track is track
                )
                mid = next(t.mid for t in pc.getTransceivers() if t.receiver is receiver)
                decode = False
                publisher = -1
                if track.kind == "video":  # the k-th video track is publisher k's
                    publisher = rlog.video_tracks
                    decode = rlog.video_tracks % total == j
                    rlog.video_tracks += 1
                rlog.tap(receiver, mid or "", track.kind, decode, publisher)
                if decode:
                    stats: dict[str, Any] = {
                        "frames": array("d"), "size": None, "video_index": rlog.video_tracks - 1,
                        "mid": mid,
                    }
                    rlog.decoders.append(stats)
                    self.tasks.append(asyncio.ensure_future(_consume(track, stats, self.deadline)))

            pc.on("track", on_track)
            await self.client.add_subscriber(pc, publisher_ids)

    async def wait_connected(self, limit_s: float) -> list[str]:
        """Poll until every pc is connected (or failed), at most `limit_s` seconds."""
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            states = [pc.connectionState for pc in self.pcs]
            if all(s in ("connected", "failed", "closed") for s in states):
                break
            await asyncio.sleep(0.1)
        return [pc.connectionState for pc in self.pcs]

    def collect(self, t0: float, t1: float) -> dict[str, Any]:
        """Everything the coordinator needs for the window [t0, t1], as plain data."""

        def inside(times: array[float]) -> int:
            return sum(1 for t in times if t0 <= t < t1)

        return {
            "sent_packets": inside(self.sends.times),
            "decode_errors": inside(self.decode_errors.times),
            "sent_video": [v for v in self.sends.video_keys if t0 - 1 <= v[3] < t1],
            "subscribers": {
                j: {
                    "packets": inside(r.times),
                    "unrouted": r.unrouted,
                    "video": [v for v in r.video_keys if t0 <= v[2] < t1],
                    "decoders": [
                        {"frames": inside(d["frames"]), "size": d["size"],
                         "video_index": d["video_index"], "mid": d["mid"]}
                        for d in r.decoders
                    ],
                }
                for j, r in self.recvs.items()
            },
        }

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        try:
            await asyncio.wait_for(self.client.close(), timeout=5)
        except Exception as exc:
            log.warning("adapter close failed: %r", exc)
        await asyncio.gather(*(pc.close() for pc in self.pcs), return_exceptions=True)


async def _serve(conn: Connection, config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    worker = Worker(config)
    handlers: dict[str, Callable[..., Awaitable[Any] | Any]] = {
        "publish": worker.publish,
        "subscribe": worker.subscribe,
        "wait_connected": worker.wait_connected,
        "mark": lambda: (time.monotonic(), read_cpu_ticks(), read_rss_kb()),
        "collect": worker.collect,
    }
    conn.send(("ready", os.getpid()))
    try:
        while time.monotonic() < worker.deadline:
            ready = await loop.run_in_executor(None, conn.poll, 1.0)
            if not ready:
                continue
            command, args = conn.recv()
            if command == "close":
                break
            try:
                result = handlers[command](*args)
                if asyncio.iscoroutine(result):
                    result = await result
                conn.send(("ok", result))
            except Exception as exc:
                log.exception("command %s failed", command)
                conn.send(("error", repr(exc)))
    finally:
        await worker.close()
        conn.send(("closed", None))


def worker_main(conn: Connection, config: dict[str, Any]) -> None:
    """Entry point of a client process (multiprocessing, spawn)."""
    logging.basicConfig(level=config.get("log_level", "WARNING"))
    restrict_ice_host(config["host_ip"])
    asyncio.run(_serve(conn, config))

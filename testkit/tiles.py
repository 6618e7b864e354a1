"""What a page receives per remote tile and what it sends per layer, read from
``getStats`` the way a person's screen and speakers experience it.

Install ``TAP`` as an init script before the page's own scripts: it keeps the page's
peer connections and the newest slot layout the relay sent (which person and source
each receive slot carries), so each inbound stream is attributed to a person.

* ``receiving(page)``: per remote camera or screen tile (``"<pid>:<source>"``): the
  decoded frame size, frames decoded, freezes and their total duration, bytes
  received, the slot's layer as the relay says it; per person, their audio's samples
  received and concealed.
* ``sending(page)``: per outbound video encoding (rid, "" for a single layer): bytes
  and frames sent, frame size, whether it is active.
* ``window(before, after)``: what changed between two readings (frames per second,
  the share of the time frozen, bits per second, audio concealment ratio).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Keeps the page's peer connections (``__hearthPcs``, shared with the other taps) and
# the newest layout: pushed as ``media_layout`` (42["media_layout", {layout, seq}]) or
# returned in the ack of ``media_answer`` (43<id>[{"ok": {layout, seq}}]).
TAP = """(() => {
  if (!window.__hearthPcs) {
    const Orig = window.RTCPeerConnection;
    window.__hearthPcs = [];
    window.RTCPeerConnection = function (...args) {
      const pc = new Orig(...args);
      window.__hearthPcs.push(pc);
      return pc;
    };
    window.RTCPeerConnection.prototype = Orig.prototype;
    Object.assign(window.RTCPeerConnection, Orig);
  }
  window.__hearthLayout = {seq: -1, layout: {}};
  const keep = (p) => {
    if (!p || typeof p !== 'object' || !p.layout) return;
    const seq = typeof p.seq === 'number' ? p.seq : 0;
    if (seq >= window.__hearthLayout.seq) window.__hearthLayout = {seq, layout: p.layout};
  };
  const Socket = window.WebSocket;
  window.WebSocket = class extends Socket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        if (typeof e.data !== 'string') return;
        let m = null;
        try { m = JSON.parse(e.data.slice(e.data.indexOf('['))); } catch (err) { return; }
        if (!Array.isArray(m)) return;
        if (e.data.startsWith('42') && m[0] === 'media_layout') keep(m[1]);
        if (e.data.startsWith('43') && m[0] && m[0].ok) keep(m[0].ok);
      });
    }
  };
})();"""

RECEIVING = """async () => {
  const layout = (window.__hearthLayout || {layout: {}}).layout;
  const byMid = new Map();
  for (const pc of (window.__hearthPcs || [])) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.mid !== undefined) byMid.set(s.mid, s);
    });
  }
  const tiles = {};
  for (const v of document.querySelectorAll('#stage figure.tile video')) {
    if (v.muted || !v.dataset.mid) continue;  // our own preview is muted
    const s = byMid.get(v.dataset.mid);
    const info = layout[v.dataset.mid] || {};
    const f = v.closest('figure');
    const r = v.getBoundingClientRect();
    tiles[f.dataset.key] = {
      mid: v.dataset.mid, pid: f.dataset.participant, layer: info.layer ?? null,
      layers: info.layers ?? null, paused: info.video_paused ?? null,
      rendered: [Math.round(r.width * devicePixelRatio), Math.round(r.height * devicePixelRatio)],
      videoWidth: v.videoWidth, videoHeight: v.videoHeight,
      frameWidth: s?.frameWidth ?? 0, frameHeight: s?.frameHeight ?? 0,
      framesDecoded: s?.framesDecoded ?? 0, freezeCount: s?.freezeCount ?? 0,
      totalFreezesDuration: s?.totalFreezesDuration ?? 0, bytesReceived: s?.bytesReceived ?? 0,
      packetsReceived: s?.packetsReceived ?? 0, packetsLost: s?.packetsLost ?? 0,
      keyFramesDecoded: s?.keyFramesDecoded ?? 0, pliCount: s?.pliCount ?? 0,
      nackCount: s?.nackCount ?? 0};
  }
  const audio = {};
  for (const [mid, s] of byMid) {
    if (s.kind !== 'audio') continue;
    const pid = (layout[mid] || {}).publisher_id;
    if (!pid) continue;
    audio[pid] = {mid, totalSamplesReceived: s.totalSamplesReceived ?? 0,
      concealedSamples: s.concealedSamples ?? 0,
      silentConcealedSamples: s.silentConcealedSamples ?? 0,
      insertedSamplesForDeceleration: s.insertedSamplesForDeceleration ?? 0,
      packetsReceived: s.packetsReceived ?? 0, packetsLost: s.packetsLost ?? 0,
      bytesReceived: s.bytesReceived ?? 0, jitter: s.jitter ?? 0,
      fecPacketsReceived: s.fecPacketsReceived ?? 0};
  }
  return {at: performance.now(), tiles, audio};
}"""

SENDING = """async () => {
  const out = {};
  for (const pc of (window.__hearthPcs || [])) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type !== 'outbound-rtp' || s.kind !== 'video') return;
      out[`${s.mid}:${s.rid ?? ''}`] = {mid: s.mid, rid: s.rid ?? '', active: s.active ?? true,
        bytesSent: s.bytesSent ?? 0, framesEncoded: s.framesEncoded ?? 0,
        frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0,
        targetBitrate: s.targetBitrate ?? 0,
        qualityLimitationReason: s.qualityLimitationReason ?? ''};
    });
  }
  return {at: performance.now(), encodings: out};
}"""


def receiving(page: Any) -> dict[str, Any]:
    """``{at (page ms), tiles: {key: {...}}, audio: {pid: {...}}}``; needs ``TAP``."""
    return dict(page.evaluate(RECEIVING))


def sending(page: Any) -> dict[str, Any]:
    """``{at (page ms), encodings: {"<mid>:<rid>": {...}}}``; needs ``TAP``."""
    return dict(page.evaluate(SENDING))


@dataclass(frozen=True)
class TileWindow:
    """One remote tile over a window of a page's readings."""

    key: str
    seconds: float
    fps: float
    frozen: float  # share of the window spent in freezes (Chrome's freeze definition)
    freezes: int
    bps: float
    frame_height: int  # at the end of the window
    layer: str | None


@dataclass(frozen=True)
class AudioWindow:
    """One person's audio over a window of a page's readings."""

    pid: str
    samples: int
    concealed: int

    @property
    def concealment(self) -> float:
        """Concealed samples per sample received (0 when nothing arrived)."""
        return self.concealed / self.samples if self.samples else 0.0


def window(before: dict[str, Any], after: dict[str, Any]
           ) -> tuple[dict[str, TileWindow], dict[str, AudioWindow]]:
    """What changed between two ``receiving`` readings of one page, for the tiles and
    voices present in both."""
    seconds = max(1e-3, (after["at"] - before["at"]) / 1000)
    tiles = {}
    for key, b in after["tiles"].items():
        a = before["tiles"].get(key)
        if a is None or a["mid"] != b["mid"]:
            continue
        tiles[key] = TileWindow(
            key=key, seconds=seconds,
            fps=(b["framesDecoded"] - a["framesDecoded"]) / seconds,
            frozen=(b["totalFreezesDuration"] - a["totalFreezesDuration"]) / seconds,
            freezes=b["freezeCount"] - a["freezeCount"],
            bps=(b["bytesReceived"] - a["bytesReceived"]) * 8 / seconds,
            frame_height=int(b["frameHeight"]), layer=b["layer"])
    voices = {}
    for pid, b in after["audio"].items():
        a = before["audio"].get(pid)
        if a is None or a["mid"] != b["mid"]:
            continue
        voices[pid] = AudioWindow(pid=pid,
                                  samples=b["totalSamplesReceived"] - a["totalSamplesReceived"],
                                  concealed=b["concealedSamples"] - a["concealedSamples"])
    return tiles, voices


def sent_window(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    """Bits per second sent per encoding (``"<mid>:<rid>"``) between two ``sending``
    readings of one page."""
    seconds = max(1e-3, (after["at"] - before["at"]) / 1000)
    return {key: (b["bytesSent"] - before["encodings"].get(key, {"bytesSent": b["bytesSent"]})[
        "bytesSent"]) * 8 / seconds for key, b in after["encodings"].items()}

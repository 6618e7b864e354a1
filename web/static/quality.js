// Connection quality from getStats, kept truthful: what this page receives (its
// downlink), what it sends as the relay reports it back (its uplink), and each remote
// person's video as decoded here. Pure functions over samples; rtc.js polls getStats,
// room.js shows the result.
//
// Why per person and per direction: the relay forwards packets as they come, so loss
// and jitter on Maria's way to the relay reach every viewer of her video, on top of
// each viewer's own. Only Maria's page can measure her uplink (the relay's receiver
// reports); it sends its level to the server (`media_quality`), and a viewer's tile of
// Maria then says "Maria's connection". A viewer counts loss and jitter against its own
// connection only from publishers who report theirs as good.

export const LEVELS = ["good", "fair", "poor", "lost"];
const RANK = Object.fromEntries(LEVELS.map((l, i) => [l, i]));
export const worst = (...levels) => levels.filter((l) => l in RANK)
  .reduce((a, b) => (RANK[b] > RANK[a] ? b : a), "good");

export const LOSS = { fair: 0.02, poor: 0.08 }; // fraction of packets lost
export const RTT = { fair: 0.15, poor: 0.4 }; // seconds, round trip to the relay
export const JITTER = { fair: 0.03, poor: 0.1 }; // seconds, audio arrival jitter
// Nothing at all from the relay while media was flowing: poor after 0.7 s (the first
// poll after a drop says so within 2 s), lost after 2.5 s (it sends RTCP every second).
export const SILENT = { poor: 700, lost: 2500 };
export const WINDOW = 3000; // ms over which loss, freezes and progress are measured

const level = (value, limits) => (value === null || value === undefined ? "good"
  : value > limits.poor ? "poor" : value > limits.fair ? "fair" : "good");

// One getStats look at both connections, reduced to what the assessment needs.
export function sample(subStats, pubStats, at) {
  const s = { at, statsNow: 0, down: { rtt: null, heard: 0, received: 0, streams: new Map() },
    up: { rtt: null, bitrate: null, sent: 0, kinds: {}, fraction: null, jitter: null } };
  if (subStats) {
    subStats.forEach((r) => {
      s.statsNow = Math.max(s.statsNow, r.timestamp || 0);
      if (r.type === "candidate-pair" && r.nominated) {
        if (r.currentRoundTripTime !== undefined) s.down.rtt = r.currentRoundTripTime;
        if (r.lastPacketReceivedTimestamp) s.down.heard = Math.max(s.down.heard, r.lastPacketReceivedTimestamp);
      }
      if (r.type === "inbound-rtp" && r.mid !== undefined) {
        s.down.received += r.packetsReceived || 0;
        s.down.streams.set(r.mid, {
          kind: r.kind, received: r.packetsReceived || 0, lost: Math.max(0, r.packetsLost || 0),
          jitter: r.jitter ?? null, frames: r.framesDecoded || 0, samples: r.totalSamplesReceived || 0,
          freezes: r.freezeCount || 0, frozen: r.totalFreezesDuration || 0,
          // the size of the frames decoded now: which simulcast layer arrives
          width: r.frameWidth || 0, height: r.frameHeight || 0,
        });
      }
    });
  }
  if (pubStats) {
    pubStats.forEach((r) => {
      s.statsNow = Math.max(s.statsNow, r.timestamp || 0);
      if (r.type === "candidate-pair" && r.nominated) {
        if (r.currentRoundTripTime !== undefined && s.up.rtt === null) s.up.rtt = r.currentRoundTripTime;
        if (r.availableOutgoingBitrate !== undefined) s.up.bitrate = r.availableOutgoingBitrate;
        if (r.lastPacketReceivedTimestamp) s.down.heard = Math.max(s.down.heard, r.lastPacketReceivedTimestamp);
      }
      if (r.type === "outbound-rtp") {
        s.up.sent += r.packetsSent || 0;
        (s.up.kinds[r.kind] ||= {}).sent = r.packetsSent || 0;
      }
      if (r.type === "remote-inbound-rtp") {
        // The relay's receiver reports on what this page sends.
        (s.up.kinds[r.kind] ||= {}).lost = r.packetsLost;
        if (r.fractionLost !== undefined) s.up.fraction = Math.max(s.up.fraction || 0, r.fractionLost);
        if (r.roundTripTime !== undefined) s.up.rtt = Math.max(s.up.rtt || 0, r.roundTripTime);
        if (r.kind === "audio" && r.jitter !== undefined) s.up.jitter = r.jitter;
      }
    });
  }
  return s;
}

const lossOf = (lost, received) => (lost + received > 0 ? lost / (lost + received) : null);

// The assessment of the newest sample against the one WINDOW earlier.
//   streams: Map mid -> {kind, loss, jitter, freezes, stalled, flowing, level, width,
//     height (of the frames decoded now: the layer received; 0 before one)}, each
//     remote stream as it arrives here (level null when it does not flow: paused);
//   down: this page's downlink: `level` from what is this page's alone (round trip,
//     silence), `lossLevel` from loss and jitter on the media of `trusted` publishers;
//   up: this page's uplink, from the relay's receiver reports (`level` is sent to the
//     server for the people who see this page).
// Loss and jitter a publisher's uplink causes reach every viewer through the relay, so
// only publishers who report a good uplink (`trusted(pid)`) say anything of ours.
export function assess(history, { publisherOf = () => null, trusted = () => false } = {}) {
  const now = history[history.length - 1];
  const old = history.find((h) => now.at - h.at <= WINDOW + 100) || now;
  const prev = history.length > 1 ? history[history.length - 2] : now;
  // A second back: decoding that stalls while packets still arrive.
  const recent = history.find((h) => now.at - h.at <= 1100) || prev;
  const streams = new Map();
  const byPublisher = new Map(); // pid -> {lost, recv, jitter}
  for (const [mid, cur] of now.down.streams) {
    const was = old.down.streams.get(mid);
    const before = prev.down.streams.get(mid);
    const last = recent.down.streams.get(mid);
    if (!was || !before || !last) continue;
    const lost = Math.max(0, cur.lost - was.lost);
    const recv = Math.max(0, cur.received - was.received);
    const flowing = cur.received > before.received;
    const stalled = cur.kind === "video" && flowing && recent !== now && cur.frames === last.frames;
    const freezes = cur.freezes - was.freezes;
    const st = { kind: cur.kind, loss: lossOf(lost, recv), jitter: cur.jitter, freezes,
      frozen: cur.frozen - was.frozen, stalled, flowing, level: null,
      width: cur.width, height: cur.height };
    if (flowing) {
      st.level = worst(level(st.loss, LOSS), stalled ? "poor" : "good", freezes > 0 ? "fair" : "good",
        cur.kind === "audio" ? level(cur.jitter, JITTER) : "good");
      const pid = publisherOf(mid);
      if (pid && trusted(pid)) {
        const agg = byPublisher.get(pid) || { lost: 0, recv: 0, jitter: null };
        agg.lost += lost;
        agg.recv += recv;
        if (cur.kind === "audio" && cur.jitter !== null) agg.jitter = Math.max(agg.jitter || 0, cur.jitter);
        byPublisher.set(pid, agg);
      }
    }
    streams.set(mid, st);
  }
  // Downlink: what all trusted publishers' media share is ours (the least of them).
  const losses = [...byPublisher.values()].map((p) => lossOf(p.lost, p.recv)).filter((x) => x !== null);
  const jitters = [...byPublisher.values()].map((p) => p.jitter).filter((x) => x !== null);
  const silentMs = now.statsNow && now.down.heard ? Math.max(0, now.statsNow - now.down.heard) : 0;
  // Silence counts only while media was flowing a moment ago (alone, nothing comes).
  const expecting = history.some((h, i) => i > 0 && h.down.received > history[i - 1].down.received);
  const down = { loss: losses.length ? Math.min(...losses) : null, rtt: now.down.rtt,
    jitter: jitters.length ? Math.min(...jitters) : null, silentMs };
  down.level = worst(level(down.rtt, RTT),
    silentMs > SILENT.lost ? "lost" : expecting && silentMs > SILENT.poor ? "poor" : "good");
  down.lossLevel = worst(level(down.loss, LOSS), level(down.jitter, JITTER));
  // Uplink: the relay's receiver reports on what this page sent over the window.
  // Audio first: it is never retransmitted, while a video packet repaired by a NACK
  // arrives twice and the relay's count of lost video goes below zero.
  let upLoss = now.up.fraction;
  for (const kind of ["video", "audio"]) {
    const a = old.up.kinds[kind];
    const b = now.up.kinds[kind];
    if (!a || !b || a.lost === undefined || b.lost === undefined || a.lost < 0 || b.lost < 0) continue;
    if (b.sent > a.sent) upLoss = Math.min(1, Math.max(0, b.lost - a.lost) / (b.sent - a.sent));
  }
  const up = { loss: upLoss, rtt: now.up.rtt, jitter: now.up.jitter, bitrate: now.up.bitrate,
    sending: now.up.sent > old.up.sent };
  up.level = up.sending ? worst(level(up.loss, LOSS), level(up.rtt, RTT), level(up.jitter, JITTER)) : "good";
  return { streams, down, up };
}

// This page's own level and its description. `lossLevel` is the downlink's loss and
// jitter level as the caller lets it count (after it lasted a few seconds).
export function conclude({ down, up }, lossLevel, { socketOnline = true, pcDead = false } = {}) {
  const downLevel = worst(down.level, lossLevel);
  const lvl = !socketOnline || pcDead || downLevel === "lost" ? "lost" : worst(downLevel, up.level);
  return { level: lvl, down: { ...down, shown: downLevel, lossLevel }, up,
    reason: reasonOf({ ...down, lossLevel }, up, { socketOnline, pcDead }) };
}

const pct = (x) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
const ms = (x) => `${Math.round(x * 1000)} ms`;

// The pill's description: the figures and which of them makes it fair, poor or lost.
function reasonOf(down, up, { socketOnline, pcDead }) {
  if (!socketOnline) return "The connection to the server is lost; reconnecting.";
  if (pcDead) return "The media connection failed; reconnecting.";
  if (down.silentMs > SILENT.poor && down.level !== "good") return `Nothing has arrived for ${(down.silentMs / 1000).toFixed(1)} s.`;
  const causes = [];
  if (down.lossLevel !== "good" && level(down.loss, LOSS) !== "good") causes.push(`${pct(down.loss)} of what you receive is lost`);
  if (up.sending && level(up.loss, LOSS) !== "good") causes.push(`${pct(up.loss)} of what you send is lost`);
  const rtt = Math.max(down.rtt || 0, up.rtt || 0);
  if (level(rtt, RTT) !== "good") causes.push(`slow round trip (${ms(rtt)})`);
  const jitter = Math.max(down.lossLevel !== "good" ? down.jitter || 0 : 0, (up.sending && up.jitter) || 0);
  if (level(jitter, JITTER) !== "good") causes.push(`uneven delivery (jitter ${ms(jitter)})`);
  return causes.length ? `Your connection: ${causes.join("; ")}.` : "Your connection is fine.";
}

// The figures shown with the pill: loss both ways, round trip, what the browser
// estimates it can send, and the heights of the remote videos as they arrive.
export function figures(own, heights = []) {
  const { down, up } = own;
  const parts = [`Received: ${down.loss === null ? "–" : pct(down.loss)} lost`];
  if (up.sending) parts.push(`sent: ${up.loss === null || up.loss === undefined ? "–" : pct(up.loss)} lost`);
  const rtt = down.rtt ?? up.rtt;
  parts.push(`round trip ${rtt === null || rtt === undefined ? "–" : ms(rtt)}`);
  if (up.bitrate) parts.push(`can send ${Math.round(up.bitrate / 1000)} kbit/s`);
  // Which layers arrive: each remote video's decoded height, largest first.
  const shown = [...new Set(heights.filter((h) => h > 0))].sort((a, b) => b - a);
  if (shown.length) parts.push(`video received at ${shown.map((h) => `${h}p`).join(", ")}`);
  return `${parts.join(", ")}.`;
}

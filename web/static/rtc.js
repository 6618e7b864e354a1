// Media in the browser: local tracks, one publish and one subscribe peer connection to
// the relay, a quality indicator from getStats. VP8 and Opus. The camera is sent as the
// simulcast layers the relay asks for (media_join's `simulcast`), and the relay forwards
// each viewer the layer that fits: this page tells it each remote tile's rendered size
// (media_view), and it tells this page which of its own layers anyone receives
// (media_layers), so the others are paused here. A screen share is one layer.
import { LEVELS, WINDOW, assess, conclude, figures, sample } from "./quality.js";

const $ = (id) => document.getElementById(id);

const RANK = { "…": -1, good: 0, fair: 1, poor: 2, lost: 3 };
const POLL = 500; // ms between two looks at getStats
const HOLD = 2000; // ms a better level must hold before it shows
const RESEND = 3000; // ms between two repeats of our own level to the server
const SUSTAIN = 3000; // ms loss on others' media must last to count against us
const VIEW_DEBOUNCE = 250; // ms a tile's size must settle before the relay is told
const MAX_PIXELS = 16384;

function preferCodec(transceiver, mime) {
  const kind = mime.startsWith("video") ? "video" : "audio";
  const caps = RTCRtpReceiver.getCapabilities(kind);
  if (!caps || !transceiver.setCodecPreferences) return;
  const wanted = caps.codecs.filter((c) => c.mimeType.toLowerCase() === mime.toLowerCase());
  const rtx = caps.codecs.filter((c) => c.mimeType.toLowerCase() === `${kind}/rtx`);
  if (wanted.length) transceiver.setCodecPreferences([...wanted, ...rtx]);
}

// Loopback and LAN gathering is fast; sending complete SDP avoids trickle round trips.
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); } };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// Back-off between retries of one negotiation: 0.25 s doubling to 8 s.
const backoff = (failures) => Math.min(8000, 250 * 2 ** Math.max(0, failures - 1));
// After this many failed tries in a row the person is told (the retries go on).
const REPORT_AFTER = 3;

// Events (rtc.js owns no DOM for these; the view renders them):
//   "media-error" {detail: {leg, message, failures}}: a negotiation keeps failing;
//   "media-recovered" {detail: {leg}}: it succeeded again;
//   "media-health" {detail: {stalled: [pid]}}: people whose media or socket is lost;
//   "media-gaps" {detail: {gaps: [{viewer, source, kind, since}]}}: clinicians only;
//   "media-layout" {detail: {layout}}: remote tiles changed;
//   "media-quality" {detail: {level, at}}: this page's connection (good/fair/poor/lost);
// the view reads `quality`, `description` and `why(tileKey)` when it renders.
export class Media extends EventTarget {
  constructor(room) {
    super();
    this.room = room;
    this.stream = room.choice.stream || new MediaStream();
    this.micOn = room.choice.micOn;
    this.cameraOn = room.choice.cameraOn;
    this.screen = null;
    this.pub = null;
    this.sub = null;
    this.config = null;
    this.quality = "…";
    this.description = "Connecting…";
    this.levels = new Map(); // publisher id -> the level they report for themselves
    this.poll = setInterval(() => this.updateQuality(), POLL);
    this.slots = new Map(); // mid -> {participant_id, source}
    this.ready = false;
    // Remote tiles' rendered sizes in device pixels (video element -> [w, h]).
    this.viewSizes = new WeakMap();
    this.viewObserver = typeof ResizeObserver === "function"
      ? new ResizeObserver((entries) => this.onTileResize(entries)) : null;
    this.pausedTiles = new Set(); // tile keys whose video the relay paused for bandwidth
    this.layersWanted = new Map(); // publish mid -> rids someone receives
    this.paramChain = Promise.resolve(); // sender parameter changes, one at a time
  }

  close() {
    clearInterval(this.poll);
    clearTimeout(this.viewTimer);
    if (this.viewObserver) this.viewObserver.disconnect();
    for (const pc of [this.pub, this.sub]) if (pc) pc.close();
    this.pub = this.sub = null;
    this.epoch = (this.epoch || 0) + 1;
    for (const t of this.stream.getTracks()) t.stop();
    if (this.screen) for (const t of this.screen.getTracks()) t.stop();
  }

  onState(st) {
    const me = st.me;
    const inRoom = me.status === "connected" || me.status === "admitted";
    if (inRoom && !this.ready) {
      this.ready = true;
      this.room.addTile(this.room.claims.sub, "camera", this.stream, { local: true });
      this.syncButtons();
      // A first start that fails (a relay that did not answer in time) is tried again
      // until it works: a page that gave up here would see and hear nobody.
      this.start().catch((err) => {
        this.room.banner(`Media could not start (${err.message}); trying again…`);
        setTimeout(() => { if (this.ready) this.restart(); }, 2000);
      });
    }
  }

  // ---- local controls -----------------------------------------------------
  syncButtons() {
    const mic = $("btn-mic");
    const cam = $("btn-cam");
    if (!mic) return;
    mic.textContent = this.micOn ? "Mute" : "Unmute";
    mic.setAttribute("aria-pressed", String(!this.micOn));
    cam.textContent = this.cameraOn ? "Camera off" : "Camera on";
    cam.setAttribute("aria-pressed", String(!this.cameraOn));
    $("btn-share").textContent = this.screen ? "Stop sharing" : "Share screen";
  }

  async report() {
    // room.act shows a refusal to the person; the relay follows the state either way.
    const ok = await this.room.act("set_media", { mic_on: this.micOn, camera_on: this.cameraOn })
      .then(() => true, () => false);
    if (!ok || !this.pub) return;
    // Muted or camera off: the relay stops forwarding, so no bytes flow to anyone.
    for (const [source, on] of [["mic", this.micOn], ["camera", this.cameraOn]]) {
      await this.room.socket.call("media_pause", { source, paused: !on }).catch((err) => {
        this.dispatchEvent(new CustomEvent("media-error", { detail: { leg: "pause", message: err.message, failures: 1 } }));
        this.room.flash(`Your ${source === "mic" ? "microphone" : "camera"} could not be switched: ${err.message}`);
      });
    }
  }

  setMic(on) {
    this.micOn = on && this.stream.getAudioTracks().length > 0;
    for (const t of this.stream.getAudioTracks()) t.enabled = this.micOn;
    this.syncButtons();
    return this.report();
  }

  setCamera(on) {
    this.cameraOn = on && this.stream.getVideoTracks().length > 0;
    for (const t of this.stream.getVideoTracks()) t.enabled = this.cameraOn;
    this.syncButtons();
    return this.report();
  }

  toggleMic() { return this.setMic(!this.micOn); }
  toggleCamera() { return this.setCamera(!this.cameraOn); }

  async toggleShare() {
    if (this.screen) return this.stopShare();
    let display;
    try {
      display = await Promise.race([
        navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }),
        new Promise((_, reject) => setTimeout(() => reject(new Error("timed out")), 15000)),
      ]);
    } catch (err) {
      this.room.flash(`Screen sharing did not start (${err.message}).`);
      return;
    }
    this.screen = display;
    const track = display.getVideoTracks()[0];
    track.addEventListener("ended", () => this.stopShare());
    this.room.addTile(this.room.claims.sub, "screen", display, { local: true });
    this.syncButtons();
    await this.publishScreen(track);
  }

  async stopShare() {
    if (!this.screen) return;
    for (const t of this.screen.getTracks()) t.stop();
    this.screen = null;
    this.room.removeTile(this.room.claims.sub, "screen");
    this.syncButtons();
    await this.unpublishScreen();
  }

  // ---- relay connection ------------------------------------------------------
  // Two connections, each with one offerer, so negotiation never collides: we offer
  // on the publish connection; the relay offers on the subscribe connection. On each,
  // one negotiation runs at a time: a need that arrives meanwhile is queued (coalesced)
  // and served after it, and a failure is retried with back-off, never dropped.
  async start() {
    this.starting = true;
    this.epoch = (this.epoch || 0) + 1;
    this.history = []; // new connections count from zero
    this.sentView = null; // the relay knows no sizes of the new connections
    this.layersWanted = new Map();
    try {
      await this.negotiate();
    } finally {
      this.starting = false;
    }
  }

  async negotiate() {
    const socket = this.room.socket;
    this.config = await socket.call("media_join");
    if (!this.listening) {
      this.listening = true;
      socket.on("media_layout", (layout) => this.applyLayout(layout));
      socket.on("media_renegotiate", () => { if (this.sub) this.requestSubscribe(); });
      // The relay lost our connections, or its repair found that nothing arrives on
      // them: start media over (not from the lobby, where there is none).
      socket.on("media_peer_closed", () => { if (this.ready) this.restart(); });
      socket.on("media_health", (h) => {
        this.stalled = new Set(h.stalled);
        this.dispatchEvent(new CustomEvent("media-health", { detail: h }));
      });
      socket.on("media_gaps", (g) => this.dispatchEvent(new CustomEvent("media-gaps", { detail: g })));
      socket.on("media_quality", (q) => this.setLevels(q && q.levels));
      socket.on("media_layers", (m) => this.applyLayers(m));
    }
    this.sources = {};
    // A person who publishes nothing (camera and microphone off) has no publish
    // connection at all, and still receives everyone through the subscribe one.
    if (this.stream.getTracks().length) {
      const pc = this.ensurePub();
      for (const track of this.stream.getTracks()) {
        const t = this.addCamera(pc, track);
        preferCodec(t, track.kind === "video" ? "video/VP8" : "audio/opus");
        t.hearthSource = track.kind === "video" ? "camera" : "mic";
      }
    }
    performance.mark("hearth:media-start");
    this.sub = new RTCPeerConnection({ iceServers: this.config.ice_servers });
    this.sub.addEventListener("connectionstatechange", () => {
      if (!this.sub) return;
      if (this.sub.connectionState === "connected") performance.mark("hearth:ice-dtls");
      if (this.sub.connectionState === "failed") this.room.banner("Media connection lost; reconnecting…");
    });
    await Promise.all([this.pub ? this.requestPublish() : null, this.requestSubscribe()]);
    await this.report();
  }

  ensurePub() {
    if (!this.pub) this.pub = new RTCPeerConnection({ iceServers: this.config.ice_servers });
    return this.pub;
  }

  // Run `once` until it succeeds; needs that arrive while it runs are coalesced into
  // one more run after it.
  serialized(leg, once) {
    const legs = (this.legs ||= {});
    let st = legs[leg];
    // Connections were rebuilt (restart, lobby): a run for the old ones ends by itself.
    if (!st || st.epoch !== this.epoch) st = legs[leg] = { wanted: false, running: null, epoch: this.epoch };
    st.wanted = true;
    if (st.running) return st.running;
    const epoch = this.epoch;
    st.running = (async () => {
      let failures = 0;
      try {
        while (st.wanted && epoch === this.epoch) {
          st.wanted = false;
          try {
            await once();
            if (failures >= REPORT_AFTER) this.dispatchEvent(new CustomEvent("media-recovered", { detail: { leg } }));
            failures = 0;
          } catch (err) {
            failures += 1;
            console.warn(`media ${leg} failed (${failures})`, err);
            if (failures === REPORT_AFTER) {
              this.reported = true;
              this.dispatchEvent(new CustomEvent("media-error", { detail: { leg, message: err.message, failures } }));
              this.room.banner(`Media is not working yet (${err.message}); still trying…`);
            }
            st.wanted = true;
            await sleep(backoff(failures));
          }
        }
        if (this.reported && failures === 0 && epoch === this.epoch) { this.reported = false; this.room.banner(null); }
      } finally {
        st.running = null;
      }
    })();
    return st.running;
  }

  // The camera goes out as the simulcast layers the relay listed at join (low to
  // high, each with its own scale and bitrate; one temporal layer each), so every
  // viewer can get the layer its tile and connection need. The microphone, and the
  // camera when the relay lists none, go out as one stream. With layers, the camera
  // is asked for 1280x720 where it can: the browser sends fewer layers from a smaller
  // capture (two from 640x480, the largest only 320x240).
  addCamera(pc, track) {
    const init = { direction: "sendonly", streams: [this.stream] };
    const layers = (this.config && this.config.simulcast) || [];
    if (track.kind !== "video" || !layers.length) return pc.addTransceiver(track, init);
    track.applyConstraints({ ...track.getConstraints(), width: { ideal: 1280 }, height: { ideal: 720 } })
      .catch(() => null); // best effort: a camera that cannot keeps its size
    const encodings = layers.map((l) => ({
      rid: l.rid, scaleResolutionDownBy: l.scaleResolutionDownBy, maxBitrate: l.maxBitrate,
    }));
    try {
      return pc.addTransceiver(track, { ...init, sendEncodings: encodings.map((e) => ({ ...e, scalabilityMode: "L1T1" })) });
    } catch (err) {
      // a browser without scalabilityMode still sends the layers, with its own temporal ones
      return pc.addTransceiver(track, { ...init, sendEncodings: encodings });
    }
  }

  requestPublish() { return this.serialized("publish", () => this.publishOnce()); }
  requestSubscribe() { return this.serialized("subscribe", () => this.subscribeOnce()); }

  async publishOnce() {
    const pc = this.pub;
    if (!pc) return;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await gathered(pc);
    const sources = {};
    for (const t of pc.getTransceivers()) {
      if (t.mid !== null && t.hearthSource && t.direction !== "inactive") sources[t.mid] = t.hearthSource;
    }
    const res = await this.room.socket.call("media_publish", { sdp: pc.localDescription.sdp, sources });
    await pc.setRemoteDescription({ type: "answer", sdp: res.sdp });
    const caps = this.config.bitrate_caps || {};
    for (const t of pc.getTransceivers()) {
      const cap = caps[t.hearthSource];
      if (!cap || !t.sender.track) continue;
      await this.senderParams(t.sender, (params) => {
        // Simulcast layers carry their own caps (media_join's `simulcast`).
        if (params.encodings && params.encodings.some((e) => e.rid)) return false;
        params.encodings = (params.encodings && params.encodings.length ? params.encodings : [{}]);
        params.encodings[0].maxBitrate = cap;
        return true;
      }).catch(() => null); // a cap is best effort
    }
    for (const mid of this.layersWanted.keys()) this.activateLayers(mid);
  }

  // One sender parameter change at a time, page-wide: getParameters() and
  // setParameters() of two changes must not interleave (the second would fail or undo
  // the first). `change(params)` edits them and returns false when nothing is to set.
  senderParams(sender, change) {
    const run = this.paramChain.then(async () => {
      const params = sender.getParameters();
      if (change(params) === false) return;
      await sender.setParameters(params);
    });
    this.paramChain = run.catch(() => null);
    return run;
  }

  // Dynacast: the relay names the camera layers someone receives; the others stop
  // being encoded and sent here until they are named again. Never the screen share.
  applyLayers(message) {
    if (!message || typeof message.mid !== "string" || !Array.isArray(message.active)) return;
    this.layersWanted.set(message.mid, message.active.map(String));
    return this.activateLayers(message.mid);
  }

  activateLayers(mid) {
    const wanted = this.layersWanted.get(mid);
    const t = this.pub && this.pub.getTransceivers().find((x) => x.mid === mid);
    if (!wanted || !t || t.hearthSource !== "camera" || !t.sender.track) return Promise.resolve();
    return this.senderParams(t.sender, (params) => {
      let changed = false;
      for (const enc of params.encodings || []) {
        if (!enc.rid) continue;
        const active = wanted.includes(enc.rid);
        if (enc.active !== active) { enc.active = active; changed = true; }
      }
      return changed;
    }).catch((err) => console.warn("simulcast layers", err));
  }

  // ---- what each remote tile shows, for the relay's choice of layer ------------------
  // A ResizeObserver on each remote <video>: its rendered size x devicePixelRatio, by the
  // mid of the slot it shows, sent (debounced, on change only) as media_view. A tile not
  // on screen (removed, hidden, another room) measures 0 x 0.
  observeTile(video) {
    if (!this.viewObserver || video.hearthObserved) return;
    video.hearthObserved = true;
    this.viewObserver.observe(video);
  }

  onTileResize(entries) {
    const dpr = window.devicePixelRatio || 1;
    for (const e of entries) {
      const box = e.devicePixelContentBoxSize && e.devicePixelContentBoxSize[0];
      const size = box ? [box.inlineSize, box.blockSize] : [e.contentRect.width * dpr, e.contentRect.height * dpr];
      this.viewSizes.set(e.target, size.map((n) => Math.max(0, Math.min(MAX_PIXELS, Math.round(n)))));
    }
    this.scheduleView();
  }

  scheduleView() {
    clearTimeout(this.viewTimer);
    this.viewTimer = setTimeout(() => this.sendView(), VIEW_DEBOUNCE);
  }

  // Every video slot of the layout with the size of the tile that shows it.
  viewNow() {
    const sizes = {};
    for (const [mid, info] of Object.entries(this.layoutByMid || {})) {
      if (info.kind !== "video" || !info.publisher_id) continue;
      const video = this.room.tiles.get(`${info.publisher_id}:${info.source}`);
      const shown = video && video.isConnected && video.dataset.mid === mid;
      sizes[mid] = (shown && this.viewSizes.get(video)) || [0, 0];
    }
    return sizes;
  }

  sendView() {
    const socket = this.room.socket;
    if (!this.sub || !socket || !socket.connected) return;
    const sizes = this.viewNow();
    const key = JSON.stringify(sizes);
    if (key === this.sentView || key === "{}") return;
    this.sentView = key;
    socket.call("media_view", { sizes }).catch((err) => {
      this.sentView = null; // told again on the next change
      console.warn("media_view", err);
    });
  }

  // For the tile view: the relay paused this tile's video because this page's
  // connection cannot take it (audio continues).
  videoPaused(key) { return this.pausedTiles.has(key); }

  async subscribeOnce() {
    const pc = this.sub;
    if (!pc) return;
    const res = await this.room.socket.call("media_subscribe");
    await pc.setRemoteDescription({ type: "offer", sdp: res.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await gathered(pc);
    const answered = await this.room.socket.call("media_answer", { sdp: pc.localDescription.sdp });
    this.applyLayout(answered);
  }

  // The relay says which publication each receive slot carries; tiles follow it.
  applyLayout(payload) {
    if (!this.sub || !payload) return;
    // Layout messages may overtake each other; only the newest one counts (the relay's
    // numbers only grow, across its peers and across server processes).
    if (typeof payload.seq === "number") {
      if (payload.seq <= (this.layoutSeq || 0)) return;
      this.layoutSeq = payload.seq;
      performance.mark("hearth:layout");
    }
    const layout = payload.layout || payload;
    this.layoutByMid = layout;
    const byMid = new Map(this.sub.getTransceivers().map((t) => [t.mid, t]));
    const wanted = new Set();
    this.pausedTiles = new Set(Object.values(layout)
      .filter((info) => info.kind === "video" && info.video_paused === "bandwidth" && info.publisher_id)
      .map((info) => `${info.publisher_id}:${info.source}`));
    for (const [mid, info] of Object.entries(layout)) {
      const t = byMid.get(mid);
      if (!t) continue;
      const pid = info.publisher_id;
      if (info.kind === "video") {
        wanted.add(`${pid}:${info.source}`);
        // A slot that still carries the same person keeps its stream (a new srcObject
        // would restart the <video>, blank until its next frame, on every switch); one
        // that stopped playing is played again.
        const shown = this.room.tiles.get(`${pid}:${info.source}`);
        const same = shown && shown.srcObject && shown.srcObject.getVideoTracks()[0] === t.receiver.track;
        if (same && shown.paused) shown.play().catch(() => null);
        const stream = same ? shown.srcObject : new MediaStream([t.receiver.track]);
        const video = this.room.addTile(pid, info.source, stream);
        video.dataset.mid = mid;
        this.observeTile(video);
        if (video.requestVideoFrameCallback && !performance.getEntriesByName("hearth:first-frame").length) {
          video.requestVideoFrameCallback(() => {
            if (!performance.getEntriesByName("hearth:first-frame").length) performance.mark("hearth:first-frame");
          });
        }
      } else {
        this.audioFor(mid, t.receiver.track);
      }
    }
    for (const key of [...this.room.tiles.keys()]) {
      const [pid, source] = key.split(":");
      if (pid === this.room.claims.sub || wanted.has(key)) continue;
      if (this.viewObserver) this.viewObserver.unobserve(this.room.tiles.get(key));
      this.room.removeTile(pid, source);
    }
    this.dispatchEvent(new CustomEvent("media-layout", { detail: { layout } }));
    this.room.render(); // a slot's video paused or resumed changes no tile key
    this.scheduleView(); // slots re-pointed: the relay learns their tiles' sizes
  }

  audioFor(mid, track) {
    let box = document.getElementById("audio-sinks");
    if (!box) {
      box = document.createElement("div");
      box.id = "audio-sinks";
      box.hidden = true;
      document.body.append(box);
    }
    let audio = box.querySelector(`audio[data-mid="${mid}"]`);
    if (!audio) {
      audio = document.createElement("audio");
      audio.autoplay = true;
      audio.dataset.mid = mid;
      box.append(audio);
      if (this.room.choice.speakerId && audio.setSinkId) audio.setSinkId(this.room.choice.speakerId).catch(() => null);
    }
    if (!audio.srcObject || audio.srcObject.getAudioTracks()[0] !== track) audio.srcObject = new MediaStream([track]);
    else if (audio.paused) audio.play().catch(() => null);
  }

  async publishScreen(track) {
    const t = this.ensurePub().addTransceiver(track, { direction: "sendonly" });
    preferCodec(t, "video/VP8");
    t.hearthSource = "screen";
    this.screenTransceiver = t;
    await this.requestPublish();
  }

  async unpublishScreen() {
    const t = this.screenTransceiver;
    if (!t) return;
    this.screenTransceiver = null;
    // the publish round below removes the screen's m-line even if this pause fails
    await this.room.socket.call("media_pause", { source: "screen", paused: true }).catch((err) => console.warn("screen pause", err));
    t.direction = "inactive";
    t.hearthSource = null;
    await this.requestPublish();
  }

  // Back in the lobby: the relay has closed our connections; drop ours too, keep the
  // camera and microphone, and start again when admitted.
  pause() {
    for (const pc of [this.pub, this.sub]) if (pc) pc.close();
    this.pub = this.sub = null;
    this.epoch = (this.epoch || 0) + 1; // queued negotiations of these connections stop
    this.ready = false;
    for (const key of [...this.room.tiles.keys()]) {
      const [pid, source] = key.split(":");
      this.room.removeTile(pid, source);
    }
  }

  // After a network drop the relay drops our connections; rebuild them, same tracks.
  needsRestart() {
    // Never while connections are being set up: they do not exist yet, and a second
    // negotiation racing the first would confuse both sides.
    if (!this.ready || this.starting || this.restarting) return false;
    const dead = (pc) => ["failed", "closed"].includes(pc.connectionState);
    return !this.sub || dead(this.sub) || (this.pub !== null && dead(this.pub));
  }

  async restart() {
    if (this.restarting) return;
    this.restarting = true;
    try {
      for (const pc of [this.pub, this.sub]) if (pc) pc.close();
      this.pub = this.sub = null;
      this.epoch = (this.epoch || 0) + 1;
      for (const key of [...this.room.tiles.keys()]) {
        const [pid, source] = key.split(":");
        if (pid !== this.room.claims.sub) this.room.removeTile(pid, source);
      }
      await this.start();
      if (this.screen) await this.publishScreen(this.screen.getVideoTracks()[0]);
      this.room.banner(null);
    } catch (err) {
      this.room.banner(`Reconnecting media… (${err.message})`);
      setTimeout(() => { this.restarting = false; this.restart(); }, 2000);
      return;
    }
    this.restarting = false;
  }

  // ---- quality and what is actually received ----------------------------------
  // Every POLL ms: getStats on both connections, assessed over the last seconds
  // (quality.js): the pill, each remote tile's video, and this page's own level sent to
  // the server for the people who see it. Once a second, a report of which remote
  // people's audio and video this page decodes.
  async updateQuality() {
    if (this.polling) return; // a slow getStats: skip a beat rather than pile up
    this.polling = true;
    try {
      await this.pollQuality();
    } finally {
      this.polling = false;
    }
  }

  async pollQuality() {
    const now = performance.now();
    const [subStats, pubStats] = await Promise.all([this.sub, this.pub].map(
      (pc) => (pc ? pc.getStats().catch((err) => { console.warn("getStats", err); return null; }) : null)));
    const snap = sample(subStats, pubStats, now);
    const history = (this.history ||= []);
    history.push(snap);
    while (history.length > 2 && now - history[1].at > WINDOW) history.shift();
    if (!this.lastReport || now - this.lastReport >= 900) {
      this.lastReport = now;
      const byMid = new Map([...snap.down.streams].map(([mid, st]) => [mid, st.kind === "video" ? st.frames : st.samples]));
      this.reportReceiving(byMid);
    }
    const dead = (pc) => pc && ["disconnected", "failed"].includes(pc.connectionState);
    const offline = this.room.socket && this.room.socket.connected === false;
    const layout = this.layoutByMid || {};
    const a = assess(history, {
      publisherOf: (mid) => (layout[mid] ? layout[mid].publisher_id : null),
      trusted: (pid) => this.levels.get(pid) === "good",
    });
    // Loss and jitter on others' media count against this page once they lasted
    // SUSTAIN ms: a publisher whose uplink causes them reports it within that time.
    const own = conclude(a, this.sustained(a.down.lossLevel, now),
      { socketOnline: !offline, pcDead: Boolean(dead(this.sub) || dead(this.pub)) });
    this.assessment = own;
    // Each tile's video (key pid:source) as decoded here.
    const tiles = new Map();
    for (const [mid, info] of Object.entries(layout)) {
      const st = a.streams.get(mid);
      if (st && info.kind === "video" && info.publisher_id) tiles.set(`${info.publisher_id}:${info.source}`, st);
    }
    this.tileStats = tiles;
    // A worse level shows at once; a better one once it has held for HOLD ms.
    const level = !this.sub && !offline ? "…" : this.held("own", own.level, now);
    this.sendLevel(this.held("up", a.up.level, now), now);
    const heights = [...tiles.values()].filter((st) => st.flowing).map((st) => st.height);
    const description = level === "…" ? "Connecting…" : `${own.reason} ${figures(own, heights)}`;
    // Re-render when the level or a tile's reason changes; for the figures alone, at
    // most every 2 s (a whole-screen render twice a second would cost a busy page).
    const view = JSON.stringify([level, [...this.reasons()]]);
    const stale = description !== this.description && now - (this.renderedAt || 0) >= 2000;
    if (view !== this.lastView || stale) {
      this.lastView = view;
      this.renderedAt = now;
      if (level !== this.quality) {
        this.quality = level;
        this.dispatchEvent(new CustomEvent("media-quality", { detail: { level, at: now } }));
      }
      this.description = description;
      this.room.render();
    }
  }

  sustained(level, now) {
    if (level === "good") { this.badSince = null; return level; }
    if (this.badSince === null || this.badSince === undefined) this.badSince = now;
    return now - this.badSince >= SUSTAIN ? level : "good";
  }

  held(name, level, now) {
    const holds = (this.holds ||= {});
    const h = holds[name];
    if (!h || RANK[level] >= RANK[h.level] || h.level === "…") {
      holds[name] = { level, since: now, better: null };
      return level;
    }
    if (!h.better || h.better.level !== level) h.better = { level, since: now };
    if (now - h.better.since >= HOLD) holds[name] = { level, since: now, better: null };
    return holds[name].level;
  }

  // Our own level goes to the server on change and every RESEND ms (the server
  // forgets levels not repeated, and a node that takes the session over starts empty).
  sendLevel(level, now) {
    const socket = this.room.socket;
    if (!this.pub || !socket || !socket.connected || !LEVELS.includes(level)) return;
    if (level === this.sentLevel && now - (this.sentAt || 0) < RESEND) return;
    this.sentLevel = level;
    this.sentAt = now;
    socket.call("media_quality", { level })
      .then((res) => this.setLevels(res && res.levels))
      .catch((err) => { this.sentLevel = null; console.warn("media_quality", err); });
  }

  // The levels the people we see reported for themselves (ack and media_quality).
  setLevels(levels) {
    if (!levels || typeof levels !== "object") return;
    const next = new Map(Object.entries(levels));
    const same = this.levels && this.levels.size === next.size && [...next].every(([k, v]) => this.levels.get(k) === v);
    this.levels = next;
    if (!same) this.room.render();
  }

  // Why each remote tile's video is poor, where we know: key -> "you" | publisher id.
  // "you": this page's downlink is fair or poor (measured on the media of publishers
  // whose own uplink is good, or its round trip); a publisher id: that publisher
  // reports their own uplink as fair or poor. Otherwise nothing is claimed.
  *reasons() {
    const a = this.assessment;
    if (!a || !this.tileStats) return;
    const mineBad = a.down.shown === "fair" || a.down.shown === "poor";
    for (const [key, st] of this.tileStats) {
      const pid = key.split(":")[0];
      const videoBad = st.level === "fair" || st.level === "poor";
      const theirs = this.levels && this.levels.get(pid);
      if (videoBad && mineBad) yield [key, "you"];
      else if (theirs === "fair" || theirs === "poor") yield [key, pid];
    }
  }

  // For the tile view: the size of the frames this tile decodes now, or null.
  received(key) {
    const st = this.tileStats && this.tileStats.get(key);
    return st && st.flowing && st.height ? { width: st.width, height: st.height } : null;
  }

  // For the tile view: null, or {who: "you" | pid, detail}.
  why(key) {
    for (const [k, who] of this.reasons()) {
      if (k !== key) continue;
      const st = this.tileStats.get(key);
      const bits = [];
      if (st.loss !== null) bits.push(`${(st.loss * 100).toFixed(1)}% of its packets lost here`);
      if (st.jitter !== null) bits.push(`jitter ${Math.round(st.jitter * 1000)} ms`);
      if (st.freezes > 0) bits.push(`froze ${st.freezes} time${st.freezes === 1 ? "" : "s"}`);
      if (st.stalled) bits.push("not decoding");
      if (st.height) bits.push(`receiving ${st.height}p`);
      return { who, detail: bits.join(", ") };
    }
    return null;
  }

  // Per remote person: is their audio / video advancing since the last look?
  reportReceiving(byMid) {
    if (!this.sub || !this.layoutByMid || !this.room.socket.connected) return;
    const prev = this.decoded || new Map();
    this.decoded = byMid;
    const receiving = {};
    for (const [mid, info] of Object.entries(this.layoutByMid)) {
      const pid = info.publisher_id;
      if (!pid) continue;
      const entry = receiving[pid] ||= { audio: false, video: false };
      const now = byMid.get(mid);
      const before = prev.get(mid);
      if (now !== undefined && before !== undefined && now > before) entry[info.kind] = true;
    }
    this.room.socket.call("media_report", { receiving }).catch((err) => console.warn("media_report", err));
  }
}

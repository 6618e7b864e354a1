// Media in the browser: local tracks, one publish and one subscribe peer connection to
// the relay, a quality indicator from getStats. VP8 and Opus only, no simulcast.
const $ = (id) => document.getElementById(id);

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

export class Media {
  constructor(room) {
    this.room = room;
    this.stream = room.choice.stream || new MediaStream();
    this.micOn = room.choice.micOn;
    this.cameraOn = room.choice.cameraOn;
    this.screen = null;
    this.pub = null;
    this.sub = null;
    this.config = null;
    this.quality = "…";
    this.lastStats = null;
    this.slots = new Map(); // mid -> {participant_id, source}
    this.ready = false;
  }

  close() {
    for (const pc of [this.pub, this.sub]) if (pc) pc.close();
    this.pub = this.sub = null;
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
      this.start().catch((err) => this.room.banner(`Media could not start: ${err.message}`));
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
    await this.room.act("set_media", { mic_on: this.micOn, camera_on: this.cameraOn }).catch(() => null);
    if (!this.pub) return;
    // Muted or camera off: the relay stops forwarding, so no bytes flow to anyone.
    await this.room.socket.call("media_pause", { source: "mic", paused: !this.micOn }).catch(() => null);
    await this.room.socket.call("media_pause", { source: "camera", paused: !this.cameraOn }).catch(() => null);
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
  // on the publish connection; the relay offers on the subscribe connection.
  async start() {
    this.starting = true;
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
      socket.on("media_renegotiate", () => this.subscribe().catch(() => null));
      socket.on("media_peer_closed", () => this.restart());
    }
    this.pub = new RTCPeerConnection({ iceServers: this.config.ice_servers });
    this.sources = {};
    for (const track of this.stream.getTracks()) {
      const t = this.pub.addTransceiver(track, { direction: "sendonly", streams: [this.stream] });
      preferCodec(t, track.kind === "video" ? "video/VP8" : "audio/opus");
      t.hearthSource = track.kind === "video" ? "camera" : "mic";
    }
    performance.mark("hearth:media-start");
    await this.publish();
    await this.subscribe();
    this.sub.addEventListener("connectionstatechange", () => {
      if (this.sub && this.sub.connectionState === "connected") performance.mark("hearth:ice-dtls");
    });
    await this.report();
  }

  async publish() {
    const pc = this.pub;
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
      const params = t.sender.getParameters();
      params.encodings = (params.encodings && params.encodings.length ? params.encodings : [{}]);
      params.encodings[0].maxBitrate = cap;
      await t.sender.setParameters(params).catch(() => null);
    }
  }

  async subscribe() {
    if (!this.sub) {
      this.sub = new RTCPeerConnection({ iceServers: this.config.ice_servers });
      this.sub.addEventListener("connectionstatechange", () => {
        if (this.sub && this.sub.connectionState === "failed") this.room.banner("Media connection lost; reconnecting…");
      });
    }
    const res = await this.room.socket.call("media_subscribe");
    await this.sub.setRemoteDescription({ type: "offer", sdp: res.sdp });
    const answer = await this.sub.createAnswer();
    await this.sub.setLocalDescription(answer);
    await gathered(this.sub);
    const answered = await this.room.socket.call("media_answer", { sdp: this.sub.localDescription.sdp });
    this.applyLayout(answered);
  }

  // The relay says which publication each receive slot carries; tiles follow it.
  applyLayout(payload) {
    if (!this.sub || !payload) return;
    const layout = payload.layout || payload;
    const byMid = new Map(this.sub.getTransceivers().map((t) => [t.mid, t]));
    const wanted = new Set();
    for (const [mid, info] of Object.entries(layout)) {
      const t = byMid.get(mid);
      if (!t) continue;
      const pid = info.publisher_id;
      if (info.kind === "video") {
        wanted.add(`${pid}:${info.source}`);
        const stream = new MediaStream([t.receiver.track]);
        const video = this.room.addTile(pid, info.source, stream);
        video.dataset.mid = mid;
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
      if (pid !== this.room.claims.sub && !wanted.has(key)) this.room.removeTile(pid, source);
    }
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
    audio.srcObject = new MediaStream([track]);
  }

  async publishScreen(track) {
    const t = this.pub.addTransceiver(track, { direction: "sendonly" });
    preferCodec(t, "video/VP8");
    t.hearthSource = "screen";
    this.screenTransceiver = t;
    await this.publish();
  }

  async unpublishScreen() {
    const t = this.screenTransceiver;
    if (!t) return;
    this.screenTransceiver = null;
    await this.room.socket.call("media_pause", { source: "screen", paused: true }).catch(() => null);
    t.direction = "inactive";
    t.hearthSource = null;
    await this.publish().catch(() => null);
  }

  // Back in the lobby: the relay has closed our connections; drop ours too, keep the
  // camera and microphone, and start again when admitted.
  pause() {
    for (const pc of [this.pub, this.sub]) if (pc) pc.close();
    this.pub = this.sub = null;
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
    const dead = (pc) => !pc || ["failed", "closed"].includes(pc.connectionState);
    return dead(this.pub) || dead(this.sub);
  }

  async restart() {
    if (this.restarting) return;
    this.restarting = true;
    try {
      for (const pc of [this.pub, this.sub]) if (pc) pc.close();
      this.pub = this.sub = null;
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

  // ---- quality ------------------------------------------------------------
  async updateQuality() {
    const q = $("quality");
    if (!q) return;
    const pc = this.sub || this.pub;
    if (!pc) { q.textContent = "Connection: …"; return; }
    if (pc.connectionState === "failed" || pc.connectionState === "disconnected") {
      q.textContent = "Connection: poor";
      q.dataset.quality = "poor";
      return;
    }
    const stats = await pc.getStats().catch(() => null);
    if (!stats) return;
    let rtt = null;
    let lost = 0;
    let received = 0;
    stats.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) rtt = s.currentRoundTripTime;
      if (s.type === "inbound-rtp") { lost += s.packetsLost || 0; received += s.packetsReceived || 0; }
    });
    const prev = this.lastStats || { lost: 0, received: 0 };
    this.lastStats = { lost, received };
    const dl = lost - prev.lost;
    const dr = received - prev.received;
    const loss = dr + dl > 0 ? dl / (dr + dl) : 0;
    const level = (rtt !== null && rtt > 0.4) || loss > 0.08 ? "poor" : (rtt !== null && rtt > 0.15) || loss > 0.02 ? "fair" : "good";
    q.textContent = `Connection: ${level}`;
    q.dataset.quality = level;
  }
}

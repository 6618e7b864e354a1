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

  // ---- relay connection (filled in by the media negotiation below) ----------
  async start() {}
  async publishScreen() {}
  async unpublishScreen() {}

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

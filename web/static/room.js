// In-session UI. Renders only from the server's state snapshots (newest version wins);
// every action is a socket event whose ack says ok or gives an error code.
import { el } from "/static/api.js";
import { Media } from "/static/rtc.js";

const CLINICIANS = new Set(["therapist", "co_therapist"]);
const $ = (id) => document.getElementById(id);

function mmss(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export class Room {
  constructor({ socket, me, media, notice, screen, endings }) {
    this.socket = socket;
    this.claims = me;
    this.choice = media;
    this.notice = notice;
    this.screen = screen;
    this.endings = endings;
    this.state = null;
    this.version = -1;
    this.clinician = CLINICIANS.has(me.role);
    this.chat = { room: [], clinicians: [] };
    this.unread = { room: 0, clinicians: 0 };
    this.chatScope = "room";
    this.panel = "chat";
    this.layout = "speaker";
    this.speaker = null;
    this.tiles = new Map(); // key `${pid}:${source}` -> tile element
    this.ended = false;
    this.built = false;
    this.timer = setInterval(() => this.tick(), 1000);
    this.media = new Media(this);
    this.watchMediaHealth();
    this.bind();
  }

  // Media health, rendered from rtc.js's events: "Connection lost" on the tiles of a
  // person whose media or socket is lost; for clinicians, a gap on the viewer's tile
  // ("Ben can't see Maria — fixing") while the server repairs it.
  watchMediaHealth() {
    let stalled = new Set();
    let gaps = [];
    const render = () => {
      for (const [key, tile] of this.tiles) {
        const pid = key.split(":")[0];
        const put = (cls, text) => {
          let node = tile.querySelector(`.${cls}`);
          if (!text) { if (node) node.remove(); return; }
          if (!node) { node = el("p", { class: cls, role: "status" }); tile.append(node); }
          if (node.textContent !== text) node.textContent = text;
        };
        put("tile-status", stalled.has(pid) && pid !== this.claims.sub ? "Connection lost" : null);
        const mine = gaps.filter((g) => g.viewer === pid && key.endsWith(":camera"));
        put("tile-gap", mine.length ? mine.map((g) =>
          `${this.nameOf(g.viewer)} can't ${g.kind === "video" ? "see" : "hear"} ${this.nameOf(g.source)} — fixing`).join("; ") : null);
      }
    };
    this.media.addEventListener("media-health", (e) => { stalled = new Set(e.detail.stalled); render(); });
    this.media.addEventListener("media-gaps", (e) => { gaps = e.detail.gaps; render(); });
    this.media.addEventListener("media-layout", render);
  }

  // ---- wiring -------------------------------------------------------------
  bind() {
    const s = this.socket;
    s.on("connect", () => { performance.mark("hearth:socket"); this.entering = true; this.joinServer().finally(() => { this.entering = false; }); });
    s.on("disconnect", (reason) => {
      if (this.ended) return;
      if (reason === "io server disconnect") return; // the server decided; a notice explains
      this.banner("Reconnecting… your place is kept.");
    });
    s.on("state", (st) => this.onState(st));
    s.on("notice", (n) => this.onNotice(n));
    s.on("chat", (m) => this.onChat(m));
    s.on("chat_history", (h) => this.onHistory(h));
    s.on("active_speaker", (a) => { this.speaker = a.participant_id; this.layoutTiles(); });
  }

  async joinServer() {
    try {
      await this.socket.call("join", {
        consent_version: this.choice.consentVersion,
        mic_on: this.choice.micOn,
        camera_on: this.choice.cameraOn,
      });
      this.banner(null);
      if (this.media.needsRestart()) this.media.restart();
    } catch (err) {
      const ending = this.endings[err.code];
      if (ending) this.finish(...ending);
      else this.banner(`Could not join: ${err.message}`);
    }
  }

  stop() {
    clearInterval(this.timer);
    this.media.close();
  }

  finish(title, text) {
    if (this.ended) return;
    this.ended = true;
    this.stop();
    this.socket.disconnect();
    this.notice(title, text);
  }

  async leave(unloading = false) {
    if (!unloading) {
      await this.socket.call("leave").catch(() => null);
      this.finish("You left the session", "You can rejoin with the same link while the session is open.");
    }
  }

  say(text) { $("live").textContent = text; }

  banner(text) {
    const b = $("banner");
    if (!b) return;
    b.hidden = !text;
    b.textContent = text || "";
  }

  act(event, payload = {}) {
    return this.socket.call(event, payload).catch((err) => {
      this.say(err.message);
      this.status(err.message);
      throw err;
    });
  }

  status(text) { const s = $("room-status"); if (s) s.textContent = text; }

  // ---- server events ------------------------------------------------------
  onState(st) {
    if (st.version < this.version) return;
    const before = this.state;
    this.version = st.version;
    this.state = st;
    const me = st.me;
    if (st.session.phase === "ended") { this.finish(...this.endings.session_ended); return; }
    if (me.status === "waiting" || me.status === "invited") {
      performance.mark("hearth:lobby");
      if (this.media.ready) this.media.pause();
      this.screen("lobby");
      return;
    }
    if (me.status === "removed") { this.finish(...this.endings.removed); return; }
    if (me.status === "admitted") performance.mark("hearth:admitted");
    if (me.status === "admitted" && !this.entering) {
      // Admitted from the lobby: confirm we are entering, which marks us connected.
      this.entering = true;
      this.joinServer().finally(() => { this.entering = false; });
    }
    if (!this.built) this.build();
    this.screen("session");
    if (before && before.me.status !== me.status && me.status === "connected") this.say("You are in the session.");
    if (before && before.me.room !== me.room) {
      this.chat.room = [];
      this.say(me.room ? `You are now in ${this.roomName(me.room)}.` : "You are back in the main room.");
    }
    this.render();
    this.media.onState(st);
  }

  onNotice(n) {
    switch (n.kind) {
      case "lobby_message":
        $("lobby-message").hidden = false;
        $("lobby-message").textContent = `Message from your therapist: ${n.text}`;
        break;
      case "denied": this.finish(...this.endings.denied); break;
      case "removed": this.finish(...this.endings.removed); break;
      case "session_ended": this.finish(...this.endings.session_ended); break;
      case "superseded": this.finish(...this.endings.superseded); break;
      case "moved": this.banner("Moving you to another server… your place is kept."); break;
      case "sent_back":
        $("lobby-message").hidden = false;
        $("lobby-message").textContent = "Your therapist moved you back to the waiting room.";
        break;
      case "broadcast": this.flash(`Message to all rooms: ${n.text}`); break;
      case "help_requested": this.helpRequest(n); break;
      case "mute_requested":
        this.media.setMic(false);
        this.flash("Your therapist muted your microphone. Unmute when you are ready to speak.");
        break;
      case "unmute_requested":
        this.flash("Your therapist asks you to unmute when you are ready. Press Unmute to speak.");
        break;
      case "camera_off_requested":
        this.media.setCamera(false);
        this.flash("Your therapist turned your camera off.");
        break;
      case "knock": this.say(`${n.name} is waiting in the lobby.`); break;
      case "close_all_started": this.flash(`Breakout rooms close in ${n.seconds} seconds.`); break;
      default: break;
    }
  }

  onChat(m) {
    // Marks let benchmarks time chat delivery (send and render, on the same clock).
    performance.mark(`hearth:chat:${m.text}`);
    const scope = m.scope === "main" || m.scope.startsWith("breakout:") ? "room" : "clinicians";
    if (this.chat[scope].some((x) => x.id === m.id)) return;
    this.chat[scope].push(m);
    if (!(this.panel === "chat" && this.chatScope === scope)) this.unread[scope] += 1;
    if (m.sender !== this.claims.sub) this.say(`New message from ${m.sender_name}`);
    this.renderChat();
  }

  onHistory(h) {
    // Merge by id rather than replace: a history computed before a message may arrive
    // after it. (On a room change the room list was already cleared.)
    const scope = h.scope === "main" || h.scope.startsWith("breakout:") ? "room" : "clinicians";
    const byId = new Map(this.chat[scope].map((m) => [m.id, m]));
    for (const m of h.messages) byId.set(m.id, m);
    this.chat[scope] = [...byId.values()].sort((a, b) => a.ts - b.ts);
    this.renderChat();
  }

  flash(text) {
    const f = $("flash");
    f.textContent = text;
    f.hidden = false;
    this.say(text);
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => { f.hidden = true; }, 8000);
  }

  helpRequest(n) {
    const list = $("help-list");
    if (!list) return;
    list.append(el("li", {}, `${n.name} asked for help in ${this.roomName(n.room)}`,
      el("button", { type: "button", onclick: () => this.act("breakouts_visit", { room_id: n.room }) }, "Go there")));
    this.flash(`${n.name} asked for help in ${this.roomName(n.room)}.`);
  }

  // ---- layout ---------------------------------------------------------------
  build() {
    this.built = true;
    const tab = (id, label) => el("button", { type: "button", role: "tab", id: `tab-${id}`,
      "aria-controls": `panel-${id}`, onclick: () => this.showPanel(id) }, label);
    const root = $("screen-session");
    root.replaceChildren(
      el("header", { class: "bar" },
        el("h1", { id: "room-title" }),
        el("span", { id: "room-label", class: "pill" }),
        el("span", { id: "room-timer", class: "pill", role: "timer", "aria-live": "off", hidden: true }),
        el("span", { id: "quality", class: "pill", title: "Connection quality" }, "Connection: …")),
      el("div", { id: "banner", class: "banner", role: "alert", hidden: true }),
      el("div", { id: "flash", class: "flash", role: "status", hidden: true }),
      el("div", { class: "layout" },
        el("section", { id: "stage", class: "stage speaker", "aria-label": "Video" }),
        el("aside", { class: "panel" },
          el("div", { role: "tablist", class: "tabs" },
            tab("chat", "Chat"), tab("people", "People"),
            this.clinician ? tab("breakouts", "Breakouts") : null),
          el("div", { id: "panel-chat", role: "tabpanel", "aria-labelledby": "tab-chat" },
            el("div", { class: "scopes", role: "group", "aria-label": "Chat with" },
              el("button", { type: "button", id: "scope-room", onclick: () => this.showScope("room") }, "Everyone here"),
              el("button", { type: "button", id: "scope-clinicians", onclick: () => this.showScope("clinicians") },
                this.clinician ? "Private messages" : "Private to therapist")),
            el("ol", { id: "chat-log", class: "chat-log", "aria-live": "polite" }),
            el("form", { id: "chat-form", onsubmit: (e) => this.sendChat(e) },
              el("label", { for: "chat-input", class: "sr-only" }, "Message"),
              el("input", { id: "chat-input", maxlength: 2000, autocomplete: "off", placeholder: "Write a message" }),
              el("button", { type: "submit" }, "Send"))),
          el("div", { id: "panel-people", role: "tabpanel", "aria-labelledby": "tab-people", hidden: true }),
          this.clinician ? el("div", { id: "panel-breakouts", role: "tabpanel", "aria-labelledby": "tab-breakouts", hidden: true }) : null)),
      el("nav", { class: "controls", "aria-label": "Your controls" },
        el("button", { type: "button", id: "btn-mic", "aria-pressed": "false", onclick: () => this.media.toggleMic() }, "Mute"),
        el("button", { type: "button", id: "btn-cam", "aria-pressed": "false", onclick: () => this.media.toggleCamera() }, "Camera off"),
        el("button", { type: "button", id: "btn-share", onclick: () => this.media.toggleShare() }, "Share screen"),
        el("button", { type: "button", id: "btn-hand", "aria-pressed": "false", onclick: () => this.toggleHand() }, "Raise hand"),
        el("button", { type: "button", id: "btn-layout", onclick: () => this.toggleLayout() }, "Grid view"),
        el("button", { type: "button", id: "btn-help", hidden: true, onclick: () => this.askHelp() }, "Ask for help"),
        el("button", { type: "button", id: "btn-leave", class: "danger", onclick: () => this.leave() }, "Leave")),
      el("p", { id: "room-status", class: "sr-only", role: "status" }));
    this.showPanel("chat");
    this.showScope("room");
  }

  showPanel(id) {
    this.panel = id;
    for (const p of ["chat", "people", "breakouts"]) {
      const panel = $(`panel-${p}`);
      if (!panel) continue;
      panel.hidden = p !== id;
      $(`tab-${p}`).setAttribute("aria-selected", String(p === id));
    }
    if (id === "chat") { this.unread[this.chatScope] = 0; this.renderChat(); }
  }

  showScope(scope) {
    this.chatScope = scope;
    this.unread[scope] = 0;
    $("scope-room").setAttribute("aria-pressed", String(scope === "room"));
    $("scope-clinicians").setAttribute("aria-pressed", String(scope === "clinicians"));
    this.renderChat();
  }

  toggleLayout() {
    this.layout = this.layout === "speaker" ? "grid" : "speaker";
    $("btn-layout").textContent = this.layout === "speaker" ? "Grid view" : "Speaker view";
    this.layoutTiles();
  }

  // ---- tiles (media module calls these) ------------------------------------
  addTile(pid, source, stream, { local = false } = {}) {
    const key = `${pid}:${source}`;
    let tile = this.tiles.get(key);
    if (!tile) {
      const video = el("video", { autoplay: true, playsinline: true, "data-participant": pid, "data-source": source });
      video.muted = local;
      tile = el("figure", { class: `tile ${source}`, "data-key": key }, video,
        el("figcaption", {}, this.nameOf(pid) + (source === "screen" ? " (screen)" : local ? " (you)" : "")));
      this.tiles.set(key, tile);
      $("stage").append(tile);
    }
    const video = tile.querySelector("video");
    if (video.srcObject !== stream) video.srcObject = stream;
    if (!local && this.choice.speakerId && video.setSinkId) video.setSinkId(this.choice.speakerId).catch(() => null);
    this.layoutTiles();
    return video;
  }

  removeTile(pid, source) {
    const key = `${pid}:${source}`;
    const tile = this.tiles.get(key);
    if (tile) { tile.remove(); this.tiles.delete(key); }
    this.layoutTiles();
  }

  layoutTiles() {
    const stage = $("stage");
    if (!stage) return;
    stage.className = `stage ${this.layout}`;
    const screenTile = [...this.tiles.values()].find((t) => t.classList.contains("screen"));
    for (const [key, tile] of this.tiles) {
      const pid = key.split(":")[0];
      const featured = screenTile ? tile === screenTile
        : this.layout === "speaker" && pid === (this.speaker || this.firstRemote());
      tile.classList.toggle("featured", Boolean(featured));
    }
  }

  firstRemote() {
    for (const key of this.tiles.keys()) {
      const pid = key.split(":")[0];
      if (pid !== this.claims.sub) return pid;
    }
    return null;
  }

  // ---- render from state ------------------------------------------------------
  nameOf(pid) {
    if (pid === this.claims.sub) return this.claims.name;
    const p = this.state && this.state.participants.find((x) => x.id === pid);
    return p ? p.name : "Participant";
  }

  roomName(roomId) {
    if (!roomId) return "the main room";
    const r = this.state && this.state.breakouts.rooms.find((x) => x.id === roomId);
    return r ? r.name : "a breakout room";
  }

  render() {
    const st = this.state;
    const me = st.me;
    $("room-title").textContent = st.session.title;
    const where = me.visiting ? `Visiting ${this.roomName(me.visiting)}` : me.room ? this.roomName(me.room) : "Main room";
    $("room-label").textContent = st.session.locked ? `${where} · locked` : where;
    $("btn-help").hidden = !(me.room && !this.clinician);
    $("btn-share").hidden = !me.may_share_screen;
    $("btn-hand").textContent = me.hand_raised ? "Lower hand" : "Raise hand";
    $("btn-hand").setAttribute("aria-pressed", String(me.hand_raised));
    $("scope-clinicians").hidden = !me.chat_scopes.includes("clinicians");
    $("scope-room").hidden = !me.chat_scopes.includes("room");
    if (!me.chat_scopes.includes(this.chatScope) && me.chat_scopes.length) this.showScope(me.chat_scopes[0]);
    $("chat-form").hidden = me.chat_scopes.length === 0;
    for (const tile of this.tiles.values()) {
      const pid = tile.dataset.key.split(":")[0];
      const cap = tile.querySelector("figcaption");
      const p = st.participants.find((x) => x.id === pid);
      const base = this.nameOf(pid) + (tile.classList.contains("screen") ? " (screen)" : pid === this.claims.sub ? " (you)" : "");
      cap.textContent = p && p.hand_raised ? `✋ ${base}` : base;
    }
    this.renderPeople();
    if (this.clinician) this.renderBreakouts();
    this.tick();
  }

  tick() {
    const st = this.state;
    const t = $("room-timer");
    if (!st || !t) return;
    const b = st.breakouts;
    const deadline = b.phase === "closing" ? b.closing_deadline : b.phase === "open" ? b.deadline : null;
    t.hidden = !deadline;
    if (deadline) {
      const left = deadline - (Date.now() / 1000 + (st.server_time_offset || 0));
      t.textContent = b.phase === "closing" ? `Back to main room in ${mmss(left)}` : `Time left ${mmss(left)}`;
    }
    this.media.updateQuality();
  }

  renderChat() {
    const log = $("chat-log");
    if (!log) return;
    const items = this.chat[this.chatScope] || [];
    log.replaceChildren(...items.map((m) => el("li", { class: m.sender === this.claims.sub ? "mine" : "" },
      el("strong", {}, m.sender === this.claims.sub ? "You" : m.sender_name), " ",
      el("span", { class: "text" }, m.text))));
    log.scrollTop = log.scrollHeight;
    for (const scope of ["room", "clinicians"]) {
      const b = $(`scope-${scope}`);
      const base = scope === "room" ? "Everyone here" : this.clinician ? "Private messages" : "Private to therapist";
      b.textContent = this.unread[scope] ? `${base} (${this.unread[scope]})` : base;
    }
    const chatTab = $("tab-chat");
    const total = this.unread.room + this.unread.clinicians;
    if (chatTab) chatTab.textContent = total && this.panel !== "chat" ? `Chat (${total})` : "Chat";
  }

  async sendChat(e) {
    e.preventDefault();
    const input = $("chat-input");
    const text = input.value.trim();
    if (!text) return;
    const payload = { scope: this.chatScope, text };
    performance.mark(`hearth:send:${text}`);
    input.value = "";  // clear now, so text typed while this is in flight is never wiped
    await this.act("chat_send", payload).catch(() => {
      if (!input.value) input.value = text;  // give it back to retry
    });
  }

  toggleHand() {
    this.act("hand", { raised: !this.state.me.hand_raised }).catch(() => null);
  }

  askHelp() {
    this.act("breakouts_help").then(() => this.flash("Your therapist has been asked to join you.")).catch(() => null);
  }

  renderPeople() {
    const st = this.state;
    const panel = $("panel-people");
    const kids = [];
    if (this.clinician) {
      kids.push(el("h2", {}, `Waiting (${st.lobby.length})`));
      if (st.lobby.length) {
        kids.push(el("button", { type: "button", id: "admit-all", onclick: () => this.act("admit_all").catch(() => null) }, "Admit everyone"));
      }
      kids.push(el("ul", { class: "plain", id: "lobby-list", "aria-live": "polite" }, st.lobby.map((p) => el("li", { "data-participant": p.id },
        el("span", {}, `${p.name} (${p.role.replace("_", "-")})`),
        el("button", { type: "button", onclick: () => this.act("admit", { participant_id: p.id }).catch(() => null) }, `Admit ${p.name}`),
        el("button", { type: "button", onclick: () => this.act("deny", { participant_id: p.id }).catch(() => null) }, "Deny"),
        el("button", { type: "button", onclick: () => {
          const text = prompt(`Message to ${p.name}`);
          if (text) this.act("lobby_message", { participant_id: p.id, text }).catch(() => null);
        } }, "Message")))));
      kids.push(el("div", { class: "actions" },
        el("button", { type: "button", id: "btn-lock", onclick: () => this.act("lock", { locked: !st.session.locked }).catch(() => null) },
          st.session.locked ? "Unlock room" : "Lock room"),
        this.claims.role === "therapist" ? el("button", { type: "button", class: "danger", id: "btn-end",
          onclick: () => { if (confirm("End the session for everyone?")) this.act("end_session").catch(() => null); } }, "End for all") : null));
    }
    kids.push(el("h2", {}, "In the session"));
    kids.push(el("ul", { class: "plain", id: "people-list" }, st.participants.map((p) => el("li", { "data-participant": p.id },
      el("span", {}, `${p.hand_raised ? "✋ " : ""}${p.name}${p.id === this.claims.sub ? " (you)" : ""}`),
      el("span", { class: "muted" }, ` ${p.role.replace("_", "-")}${p.mic_on ? "" : " · muted"}${p.camera_on ? "" : " · camera off"}${p.status === "reconnecting" ? " · reconnecting" : ""}`),
      this.clinician && p.id !== this.claims.sub && !CLINICIANS.has(p.role) ? [
        el("button", { type: "button", onclick: () => this.act("mute_request", { participant_id: p.id }).catch(() => null) }, "Mute"),
        el("button", { type: "button", onclick: () => this.act("unmute_request", { participant_id: p.id }).catch(() => null) }, "Ask to unmute"),
        el("button", { type: "button", onclick: () => this.act("camera_off_request", { participant_id: p.id }).catch(() => null) }, "Camera off"),
        el("button", { type: "button", onclick: () => this.act("send_to_lobby", { participant_id: p.id }).catch(() => null) }, "To lobby"),
        el("button", { type: "button", class: "danger", onclick: () => { if (confirm(`Remove ${p.name}?`)) this.act("remove", { participant_id: p.id }).catch(() => null); } }, "Remove"),
      ] : null))));
    panel.replaceChildren(...kids);
  }

  renderBreakouts() {
    const st = this.state;
    const b = st.breakouts;
    const panel = $("panel-breakouts");
    const kids = [el("h2", {}, `Breakout rooms · ${b.phase}`)];
    const movable = st.participants.filter((p) => !CLINICIANS.has(p.role) && p.role !== "observer");
    if (b.phase === "none" || b.phase === "closed" || b.phase === "draft") {
      kids.push(el("form", { id: "bo-create", onsubmit: (e) => {
        e.preventDefault();
        const n = Number(e.target.count.value);
        const names = Array.from({ length: n }, (_, i) => `Room ${b.rooms.length + i + 1}`);
        this.act("breakouts_create", { names }).catch(() => null);
      } },
      el("label", { for: "bo-count" }, "Rooms to add"),
      el("input", { id: "bo-count", name: "count", type: "number", min: 1, max: 20, value: 2 }),
      el("button", { type: "submit" }, "Add rooms")));
    }
    kids.push(el("ul", { class: "plain rooms" }, b.rooms.map((r) => el("li", { "data-room": r.id },
      el("strong", {}, r.name), ` · ${r.members.map((id) => this.nameOf(id)).join(", ") || "empty"}`,
      b.phase === "open" || b.phase === "closing" ? el("button", { type: "button", onclick: () => this.act("breakouts_visit", { room_id: r.id }).catch(() => null) }, `Visit ${r.name}`) : null))));
    if (b.phase !== "open" && b.phase !== "closing") {
      kids.push(el("div", { class: "actions" },
        el("button", { type: "button", id: "bo-by-role", onclick: () => this.act("breakouts_by_role", { plan: "each_client_with_clinician" }).catch(() => null) }, "Each partner with a clinician"),
        b.rooms.length ? el("button", { type: "button", id: "bo-auto", onclick: () => this.act("breakouts_auto").catch(() => null) }, "Assign automatically") : null));
    }
    if (b.rooms.length && b.phase !== "open" && b.phase !== "closing") {
      kids.push(el("h3", {}, "Assign"));
      kids.push(el("div", { class: "assign" }, movable.map((p) => {
        const current = (b.rooms.find((r) => r.members.includes(p.id)) || {}).id || "";
        const select = el("select", { "aria-label": `Room for ${p.name}`, "data-assign": p.id, onchange: (e) =>
          this.act("breakouts_assign", { participant_id: p.id, room_id: e.target.value || null }).catch(() => null) },
          el("option", { value: "" }, "Main room"),
          b.rooms.map((r) => el("option", { value: r.id, selected: r.id === current }, r.name)));
        return el("label", {}, p.name, select);
      })));
      kids.push(el("form", { id: "bo-open", onsubmit: (e) => {
        e.preventDefault();
        const minutes = Number(e.target.minutes.value) || null;
        this.act("breakouts_open", { minutes }).catch(() => null);
      } },
      el("label", { for: "bo-minutes" }, "Minutes (blank for no timer)"),
      el("input", { id: "bo-minutes", name: "minutes", type: "number", min: 1, max: 240, value: 15 }),
      el("button", { type: "submit" }, "Open breakout rooms")));
    }
    if (b.phase === "open" || b.phase === "closing") {
      kids.push(el("div", { class: "actions" },
        st.me.visiting ? el("button", { type: "button", onclick: () => this.act("breakouts_visit", { room_id: null }).catch(() => null) }, "Return to main room") : null,
        el("button", { type: "button", onclick: () => this.act("breakouts_extend", { minutes: 5 }).catch(() => null) }, "Add 5 minutes"),
        b.phase === "open" ? el("label", { for: "bo-grace" }, "Countdown (seconds)") : null,
        b.phase === "open" ? el("input", { id: "bo-grace", type: "number", min: 0, max: 600, value: 60 }) : null,
        b.phase === "open" ? el("button", { type: "button", id: "bo-close", onclick: () =>
          this.act("breakouts_close", { grace_seconds: Number($("bo-grace").value) || 0 }).catch(() => null) }, "Close all rooms") : null));
      kids.push(el("form", { id: "bo-broadcast", onsubmit: (e) => {
        e.preventDefault();
        const text = e.target.text.value.trim();
        if (text) this.act("breakouts_broadcast", { text }).then(() => e.target.reset()).catch(() => null);
      } },
      el("label", { for: "bo-text" }, "Message to all rooms"),
      el("input", { id: "bo-text", name: "text", maxlength: 500 }),
      el("button", { type: "submit" }, "Broadcast")));
    }
    kids.push(el("h3", {}, "Help requests"));
    const help = $("help-list") || el("ul", { id: "help-list", class: "plain", "aria-live": "assertive" });
    kids.push(help);
    panel.replaceChildren(...kids);
  }
}

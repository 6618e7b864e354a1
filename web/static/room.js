// In-session UI. One rendering model: the page is a lit-html template of the newest
// state snapshot (plus local view state: open tab, chat thread, open menu, toasts).
// Re-rendering patches the DOM in place, so focus, a half-typed value and an open menu
// survive anyone else's action. Media tracks come from rtc.js; this file draws them.
// Every action is a socket event whose ack says ok or gives a reason, shown next to the
// control that caused it. Performance marks and logs carry opaque ids only.
import { html, render, nothing } from "/lit/lit-html.js";
import { repeat } from "/lit/directives/repeat.js";
import { Media } from "/static/rtc.js";
import { checkinPrivateRoom, phaseClock, planView, privateRoomItems, privateRoomName, privateRoomsView } from "/static/plan.js";
import { Notes } from "/static/notes.js";
import { Safety, checkinActions, childSafeBadge, childSafeItem } from "/static/safety.js";

checkinActions.push(checkinPrivateRoom);

const CLINICIANS = new Set(["therapist", "co_therapist"]);
const NO_ROOM_CHAT = new Set(["child", "observer"]);
const PRESENT = new Set(["admitted", "connected", "reconnecting"]);
const ROLE = { therapist: "Therapist", co_therapist: "Co-therapist", client: "Client",
  partner: "Partner", family: "Family", child: "Child", observer: "Observer" };
const SHORTCUTS = [
  ["Alt+M", "Mute or unmute your microphone"],
  ["Alt+V", "Turn your camera off or on"],
  ["Alt+H", "Raise or lower your hand"],
  ["Alt+C", "Open the chat and write a message"],
  ["Alt+K", "Show these shortcuts"],
];
const $ = (id) => document.getElementById(id);
const roleText = (role) => ROLE[role] || role;
const MAX_CHAT = 2000; // characters (code points), as the server counts them
const chars = (text) => [...text].length;

// Every string a person chose (names, room names, chat) is shown inside its own
// bidirectional isolate, so a right-to-left override in it cannot reorder the words
// around it.
const iso = (text) => html`<bdi>${text}</bdi>`;
// A sentence with such strings: plain text for screen readers, isolated parts on screen.
const said = (strings, ...parts) => ({
  text: strings.reduce((out, str, i) => out + str + (i < parts.length ? parts[i] : ""), ""),
  view: html(strings, ...parts.map(iso)),
});

function mmss(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

// "A, B and C", each name isolated.
const isoList = (all) => all.map((n, i) => html`${i === 0 ? "" : i === all.length - 1 ? " and " : ", "}${iso(n)}`);

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
    // Chat: one entry per thread the server sends (main, breakout:<id>, private:<pid>,
    // clinical). `start` is the thread position of the first message held.
    this.threads = new Map();
    this.thread = null; // selected thread key; "room" means the room we are in
    this.panel = "chat";
    this.sheetOpen = false; // phone: the panel is a bottom sheet, closed by default
    this.layout = "speaker";
    this.speaker = null;
    this.tiles = new Map(); // `${pid}:${source}` -> <video> (rtc.js reads the keys)
    this.local = new Set(); // keys of our own tiles
    this.stalled = new Set(); // media_health
    this.gaps = []; // media_gaps (clinicians)
    this.refusals = {}; // control key -> reason shown next to it
    this.turns = {}; // control key -> number of its newest call
    this.toasts = [];
    this.helps = [];
    this.openMenu = null; // pid whose menu is open
    this.renaming = null; // breakout room id being renamed
    this.lobbyMessaging = null; // pid in the lobby being written to
    this.chatCount = 0; // characters in the chat box
    this.pasteWarning = null;
    this.bannerText = null;
    this.flashText = null;
    this.shown = null;
    this.ended = false;
    this.timer = setInterval(() => this.tick(), 1000);
    this.media = new Media(this);
    this.notes = this.clinician ? new Notes(this) : null; // private notes (REST only)
    this.safety = new Safety(this); // safety panel, check-in, child-safe mode
    this.bind();
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
    s.on("active_speaker", (a) => { this.speaker = a.participant_id; this.render(); });
    s.on("media_health", (h) => { this.stalled = new Set((h && h.stalled) || []); this.render(); });
    s.on("media_gaps", (g) => { this.gaps = (g && g.gaps) || []; this.render(); });
    s.on("checkin", (c) => { if (this.clinician && c) this.safety.onCheckin(c); });
    document.addEventListener("keydown", (e) => this.onKey(e));
    document.addEventListener("click", (e) => {
      if (this.openMenu && !e.target.closest(".person-menu")) { this.openMenu = null; this.render(); }
    });
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
      if (err.code === "locked") {
        this.finish("The room is locked", "Your therapist has locked this session, so nobody new can come in right now. Please contact your therapist, or open your link again in a few minutes.");
        return;
      }
      const ending = this.endings[err.code];
      if (ending) this.finish(...ending);
      else this.banner(`Could not join: ${err.message}`);
      // A server too busy to answer in time may answer the next try: without one, the
      // page would stay in the room without media until the socket dropped.
      if (err.code === "timeout") setTimeout(() => { if (this.socket.connected && !this.ended) this.joinServer(); }, 1000);
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

  say(text) { const live = $("live"); if (live) live.textContent = text; }

  banner(text) { this.bannerText = text || null; this.render(); }

  flash(message) {
    const { text, view } = typeof message === "string" ? { text: message, view: message } : message;
    this.flashText = view;
    this.say(text);
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => { this.flashText = null; this.render(); }, 8000);
    this.render();
  }

  // Send a command; a refusal is shown next to the control `near` (and announced).
  // Answers to two calls from one control can arrive out of order (the server answers
  // a refusal at once, a change after it has been applied): only the newest call's
  // answer sets or clears the reason shown beside the control.
  act(event, payload = {}, near = null) {
    const turn = near ? (this.turns[near] = (this.turns[near] || 0) + 1) : 0;
    const newest = () => near && this.turns[near] === turn;
    return this.socket.call(event, payload).then((res) => {
      if (newest() && this.refusals[near]) { delete this.refusals[near]; this.render(); }
      return res;
    }, (err) => {
      if (newest()) this.refusals[near] = err.message;
      this.say(err.message);
      this.render();
      throw err;
    });
  }

  status(text) { this.say(text); }

  // Close every breakout room (after `grace` seconds; 0: now). With a countdown the
  // same button reads "Close now", so focus stays on it; closing now takes the button
  // away with the rooms, so focus goes to `after` (a control that stays), never to
  // the page.
  closeRooms(grace, near, after = "bo-title") {
    return this.act("breakouts_close", { grace_seconds: grace }, near).then(() => {
      const stays = grace === 0 ? $(after) : null;
      if (stays) stays.focus();
    }, () => null);
  }

  show(name) {
    // Only on a change of screen: join.js focuses the new screen's heading.
    if (this.shown === name) return;
    this.shown = name;
    this.screen(name);
  }

  // ---- server events ------------------------------------------------------
  onState(st) {
    if (st.version < this.version) return;
    performance.mark(`hearth:state:${st.version}`); // when each version arrived (benchmarks)
    const before = this.state;
    this.version = st.version;
    this.state = st;
    const me = st.me;
    if (st.session.phase === "ended") { this.finish(...this.endings.session_ended); return; }
    if (me.status === "waiting" || me.status === "invited") {
      performance.mark("hearth:lobby");
      if (this.media.ready) this.media.pause();
      this.show("lobby");
      return;
    }
    if (me.status === "removed") { this.finish(...this.endings.removed); return; }
    if (me.status === "admitted") performance.mark("hearth:admitted");
    if (me.status === "admitted" && !this.entering) {
      // Admitted from the lobby: confirm we are entering, which marks us connected.
      this.entering = true;
      this.joinServer().finally(() => { this.entering = false; });
    }
    if (before && before.me.status !== me.status && me.status === "connected") this.say("You are in the session.");
    if (before && before.me.room !== me.room) {
      for (const key of [...this.threads.keys()]) if (key === "main" || key.startsWith("breakout:")) this.threads.delete(key);
      this.say(me.room ? `You are now in ${this.roomName(me.room)}.` : "You are back in the main room.");
    }
    if (before) this.noticeHands(before, st);
    // A knock's toast goes once that person is no longer waiting.
    const waiting = new Set(st.lobby.map((p) => p.id));
    this.toasts = this.toasts.filter((t) => !t.waiting || waiting.has(t.waiting));
    if (st.breakouts.phase !== "open" && st.breakouts.phase !== "closing") this.helps = [];
    this.render();
    this.show("session");
    this.media.onState(st);
    this.render();
  }

  noticeHands(before, st) {
    if (!this.clinician) return;
    const was = new Set(before.participants.filter((p) => p.hand_raised).map((p) => p.id));
    for (const p of st.participants) {
      if (p.hand_raised && !was.has(p.id) && p.id !== this.claims.sub) this.attention(said`${p.name} raised a hand.`);
    }
  }

  onNotice(n) {
    switch (n.kind) {
      case "lobby_message":
        $("lobby-message").hidden = false;
        $("lobby-message").replaceChildren("Message from your therapist: ",
          Object.assign(document.createElement("bdi"), { textContent: n.text }));
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
      case "broadcast": this.flash(said`Message to all rooms: ${n.text}`); break;
      case "help_requested":
        this.helps.push({ name: n.name, room: n.room });
        this.attention(said`${n.name} asked for help in ${this.roomName(n.room)}.`,
          { label: "Go there", run: () => this.act("breakouts_visit", { room_id: n.room }).catch(() => null) });
        break;
      case "mute_requested":
        this.media.setMic(false);
        this.syncMediaButtons();
        this.flash("Your therapist muted your microphone. Unmute when you are ready to speak.");
        break;
      case "unmute_requested":
        this.flash("Your therapist asks you to unmute when you are ready. Press Unmute to speak.");
        break;
      case "camera_off_requested":
        this.media.setCamera(false);
        this.syncMediaButtons();
        this.flash("Your therapist turned your camera off.");
        break;
      case "knock":
        if (this.clinician) {
          this.attention(said`${n.name} is waiting in the lobby.`, n.participant_id
            ? { label: "Admit", run: () => this.act("admit", { participant_id: n.participant_id }, "admit-all").catch(() => null) }
            : null, n.participant_id || null);
        }
        break;
      case "close_all_started": this.flash(`Breakout rooms close in ${n.seconds} seconds.`); break;
      case "phase_refused": this.flash(`${n.name} could not start: ${n.reason}. Everyone stays together.`); break;
      default: break;
    }
  }

  // A toast, a soft chime and (through render) a badge on the People tab.
  attention(message, action = null, waiting = null) {
    const id = (this.toastSeq = (this.toastSeq || 0) + 1);
    const { text, view } = typeof message === "string" ? { text: message, view: message } : message;
    this.toasts = [...this.toasts.slice(-3), { id, text, view, action, waiting }];
    this.say(text);
    this.chime();
    setTimeout(() => { this.toasts = this.toasts.filter((t) => t.id !== id); this.render(); }, 10000);
    this.render();
  }

  chime() {
    // Synthesised (no file fetched): two soft sine notes.
    try {
      this.audio = this.audio || new AudioContext();
      const ctx = this.audio;
      if (ctx.state === "suspended") ctx.resume().catch(() => null);
      const t = ctx.currentTime + 0.01;
      for (const [freq, at] of [[660, 0], [880, 0.16]]) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = "sine";
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, t + at);
        gain.gain.exponentialRampToValueAtTime(0.06, t + at + 0.03);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + at + 0.4);
        osc.connect(gain).connect(ctx.destination);
        osc.start(t + at);
        osc.stop(t + at + 0.45);
      }
    } catch { /* no audio output: the toast and badge still show */ }
  }

  // ---- chat -----------------------------------------------------------------
  roomScope() {
    const me = this.state && this.state.me;
    if (!me || NO_ROOM_CHAT.has(me.role)) return null;
    return me.room ? `breakout:${me.room}` : "main";
  }

  threadKey(key = this.thread) { return key === "room" ? this.roomScope() : key; }

  entry(scope) {
    let t = this.threads.get(scope);
    if (!t) { t = { messages: [], start: null, unread: 0 }; this.threads.set(scope, t); }
    return t;
  }

  reading(scope) {
    const visible = this.panel === "chat" && (!this.isPhone() || this.sheetOpen);
    return visible && this.threadKey() === scope;
  }

  onChat(m) {
    // Marks let benchmarks time chat delivery; they carry the message id only.
    performance.mark(`hearth:chat:${m.id}`);
    const t = this.entry(m.scope);
    if (t.messages.some((x) => x.id === m.id)) return;
    t.messages.push(m);
    if (t.start === null) t.start = 0;
    if (!this.reading(m.scope) && m.sender !== this.claims.sub) t.unread += 1;
    if (m.sender !== this.claims.sub) this.say(`New message from ${m.sender_name}`);
    this.render();
    this.scrollChat();
  }

  onHistory(h) {
    // Merge by id rather than replace: a history computed before a message may arrive
    // after it.
    const t = this.entry(h.scope);
    const byId = new Map(t.messages.map((m) => [m.id, m]));
    for (const m of h.messages) byId.set(m.id, m);
    t.messages = [...byId.values()].sort((a, b) => a.ts - b.ts);
    t.start = t.start === null ? (h.start || 0) : Math.min(t.start, h.start || 0);
    this.render();
    this.scrollChat();
  }

  async loadEarlier() {
    const scope = this.threadKey();
    const t = scope && this.threads.get(scope);
    if (!t || !t.start) return;
    const page = await this.act("chat_earlier", { scope, before: t.start }, "chat-earlier").catch(() => null);
    if (!page) return;
    const seen = new Set(t.messages.map((m) => m.id));
    t.messages = [...page.messages.filter((m) => !seen.has(m.id)), ...t.messages];
    t.start = page.start;
    this.render();
    // With nothing earlier the button is gone: focus moves to the messages, not the page.
    const more = $("chat-earlier");
    if (!more) { const log = $("chat-log"); if (log) log.focus(); }
  }

  scrollChat() {
    const log = $("chat-log");
    if (log) requestAnimationFrame(() => { log.scrollTop = log.scrollHeight; });
  }

  // The threads this person may open, each with a label that names who reads it.
  threadList() {
    const st = this.state;
    const me = st.me;
    const out = [];
    const clinicianNames = st.participants.filter((p) => CLINICIANS.has(p.role) && PRESENT.has(p.status)).map((p) => p.name);
    const roomScope = this.roomScope();
    if (me.chat_scopes.includes("room") && roomScope) {
      const here = this.peopleHere().filter((p) => !NO_ROOM_CHAT.has(p.role));
      out.push({ key: "room", scope: roomScope, id: "thread-room", label: "Everyone in this room",
        readers: html`Everyone in ${me.room ? iso(this.roomName(me.room)) : "the main room"}: ${isoList(here.map((p) => (p.id === this.claims.sub ? "you" : p.name)))}` });
    }
    if (!me.chat_scopes.includes("clinicians")) return out;
    if (this.clinician) {
      out.push({ key: "clinical", scope: "clinical", id: "thread-clinical", label: "Clinicians only",
        readers: html`Clinicians only (never shown to clients): ${isoList(clinicianNames)}` });
      const people = new Map();
      for (const p of st.participants) if (!CLINICIANS.has(p.role)) people.set(p.id, p.name);
      for (const [scope, t] of this.threads) {
        const pid = scope.startsWith("private:") ? scope.slice(8) : null;
        if (pid && !people.has(pid) && t.messages.length) people.set(pid, (t.messages.find((m) => m.sender === pid) || {}).sender_name || "Someone who left");
      }
      for (const [pid, name] of people) {
        out.push({ key: `private:${pid}`, scope: `private:${pid}`, id: `thread-private-${pid}`, label: `${name} (private)`,
          view: html`${iso(name)} (private)`,
          person: pid, readers: html`Private: ${iso(name)} and the clinicians (${isoList(clinicianNames)})` });
      }
    } else {
      out.push({ key: "private", scope: `private:${this.claims.sub}`, id: "thread-private", label: "Only the therapists",
        readers: html`Private: only your therapists read this (${isoList(clinicianNames)})` });
    }
    return out;
  }

  openThread(key) {
    this.thread = key;
    const t = this.threads.get(this.threadKey());
    if (t) t.unread = 0;
    this.render();
    this.scrollChat();
  }

  // Clinicians: open (or start) the private thread with one person.
  messagePerson(pid) {
    this.openMenu = null;
    this.panel = "chat";
    this.sheetOpen = true;
    this.openThread(`private:${pid}`);
    const input = $("chat-input");
    if (input) input.focus();
  }

  // Characters typed so far, and a warning when a paste makes the message too long.
  chatInput(e) {
    this.chatCount = chars(e.target.value);
    if (this.chatCount <= MAX_CHAT) this.pasteWarning = null;
    if (this.chatCount <= MAX_CHAT && this.refusals.chat && this.refusals.chat.startsWith("message too long")) {
      delete this.refusals.chat;
    }
    this.render();
  }

  chatPaste(e) {
    const input = e.target;
    const pasted = chars((e.clipboardData && e.clipboardData.getData("text")) || "");
    const selected = chars(input.value.slice(input.selectionStart || 0, input.selectionEnd || 0));
    const total = chars(input.value) - selected + pasted;
    this.pasteWarning = total > MAX_CHAT
      ? `The pasted text makes this message ${total} characters long; a message can have ${MAX_CHAT}. Shorten it before sending.`
      : null;
    this.render();
  }

  async sendChat(e) {
    e.preventDefault();
    const input = $("chat-input");
    const text = input.value.trim();
    if (!text) return;
    if (chars(text) > MAX_CHAT) {
      // Refused here, kept in the box to shorten; the server would refuse it too.
      this.refusals.chat = `message too long (${chars(text)} / ${MAX_CHAT})`;
      this.say(this.refusals.chat);
      this.render();
      return;
    }
    const current = this.currentThread();
    if (!current) return;
    const payload = current.key === "room" ? { scope: "room", text }
      : current.person ? { scope: "clinicians", to: current.person, text }
        : { scope: "clinicians", text };
    const started = performance.now();
    input.value = ""; // clear now, so text typed while this is in flight is never wiped
    this.chatCount = 0;
    this.pasteWarning = null;
    const res = await this.act("chat_send", payload, "chat").catch(() => {
      if (!input.value) input.value = text; // give it back to retry
      return null;
    });
    if (res && res.id) performance.mark(`hearth:send:${res.id}`, { startTime: started });
  }

  openLobbyMessage(pid) {
    this.lobbyMessaging = pid;
    this.render();
    const input = $(`lobby-text-${pid}`);
    if (input) input.focus();
  }

  closeLobbyMessage(pid) {
    this.lobbyMessaging = null;
    this.render();
    const button = $(`lobby-msg-${pid}`);
    if (button) button.focus();
  }

  sendLobbyMessage(e, pid) {
    e.preventDefault();
    const text = e.target.elements.text.value.trim();
    if (!text) return;
    this.act("lobby_message", { participant_id: pid, text }, `lobby:${pid}`).then(() => {
      this.flash("Message sent to the waiting room.");
      this.closeLobbyMessage(pid);
    }).catch(() => null);
  }

  currentThread() {
    const threads = this.threadList();
    if (!threads.length) return null;
    let current = threads.find((t) => t.key === this.thread);
    if (!current) { current = threads[0]; this.thread = current.key; }
    return current;
  }

  // ---- controls -------------------------------------------------------------
  toggleHand() {
    this.act("hand", { raised: !this.state.me.hand_raised }, "hand").catch(() => null);
  }

  askHelp() {
    this.act("breakouts_help", {}, "help").then(() => this.flash("Your therapist has been asked to join you.")).catch(() => null);
  }

  async toggleMic() { await this.media.toggleMic(); this.syncMediaButtons(); this.render(); }
  async toggleCamera() { await this.media.toggleCamera(); this.syncMediaButtons(); this.render(); }
  async toggleShare() { await this.media.toggleShare(); this.syncMediaButtons(); this.render(); }

  // The three media buttons' words come from rtc.js's state; set here so they are right
  // whatever rtc.js draws. Their text is never a template part, so both may write it.
  syncMediaButtons() {
    const set = (id, text, pressed) => {
      const b = $(id);
      if (!b) return;
      if (b.textContent !== text) b.textContent = text;
      if (pressed !== null) b.setAttribute("aria-pressed", String(pressed));
    };
    set("btn-mic", this.media.micOn ? "Mute" : "Unmute", !this.media.micOn);
    set("btn-cam", this.media.cameraOn ? "Camera off" : "Camera on", !this.media.cameraOn);
    set("btn-share", this.media.screen ? "Stop sharing" : "Share screen", null);
  }

  toggleLayout() {
    this.layout = this.layout === "speaker" ? "grid" : "speaker";
    this.render();
  }

  showPanel(id) {
    if (this.isPhone() && this.panel === id) this.sheetOpen = !this.sheetOpen;
    else this.sheetOpen = true;
    this.panel = id;
    if (id === "chat") {
      const t = this.threads.get(this.threadKey());
      if (t) t.unread = 0;
    }
    this.render();
    if (id === "chat") this.scrollChat();
  }

  isPhone() { return window.matchMedia("(max-width: 640px)").matches; }

  onKey(e) {
    if (!this.state || this.shown !== "session" || this.ended) return;
    if (e.key === "Escape" && this.openMenu) {
      const pid = this.openMenu;
      this.openMenu = null;
      this.render();
      const button = document.querySelector(`.person-menu[data-participant="${pid}"] > button`);
      if (button) button.focus();
      return;
    }
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    const run = {
      KeyM: () => this.toggleMic(),
      KeyV: () => this.toggleCamera(),
      KeyH: () => this.toggleHand(),
      KeyC: () => { this.panel = "chat"; this.sheetOpen = true; this.render(); const i = $("chat-input"); if (i) i.focus(); },
      KeyK: () => this.showShortcuts(),
    }[e.code];
    if (run) { e.preventDefault(); run(); }
  }

  showShortcuts() {
    const d = $("shortcuts");
    if (d && !d.open) d.showModal();
  }

  menuKey(e) {
    const items = [...e.currentTarget.querySelectorAll("[role=menuitem]")];
    const at = items.indexOf(document.activeElement);
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = e.key === "ArrowDown" ? (at + 1) % items.length : (at - 1 + items.length) % items.length;
      items[next].focus();
    } else if (e.key === "Tab") {
      this.openMenu = null;
      this.render();
    }
  }

  toggleMenu(pid) {
    this.openMenu = this.openMenu === pid ? null : pid;
    this.render();
    if (this.openMenu) {
      const first = document.querySelector(`.person-menu[data-participant="${pid}"] [role=menuitem]`);
      if (first) first.focus();
    }
  }

  menuAction(pid, event, payload) {
    this.openMenu = null;
    this.render();
    const button = document.querySelector(`.person-menu[data-participant="${pid}"] > button`);
    if (button) button.focus();
    return this.act(event, payload, `person:${pid}`).then(() => {
      // The state before this answer may have taken the menu away with its button (Make
      // host: nothing is left to do to a host): the keyboard goes to the person's row.
      if (document.activeElement && document.activeElement !== document.body) return;
      const row = document.querySelector(`#people-list > li[data-participant="${pid}"]`);
      if (row) row.focus();
    }).catch(() => null);
  }

  async muteAll() {
    const targets = this.state.participants.filter((p) => !CLINICIANS.has(p.role) && p.mic_on && PRESENT.has(p.status));
    for (const p of targets) {
      await this.act("mute_request", { participant_id: p.id }, "mute-all").catch(() => null);
    }
    this.flash(targets.length ? `Muted ${targets.length} ${targets.length === 1 ? "person" : "people"}.` : "Nobody else has a microphone on.");
  }

  // ---- tiles (rtc.js calls these) ---------------------------------------------
  addTile(pid, source, stream, { local = false } = {}) {
    const key = `${pid}:${source}`;
    let video = this.tiles.get(key);
    if (!video) {
      video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      video.dataset.participant = pid;
      video.dataset.source = source;
      video.muted = local;
      this.tiles.set(key, video);
      if (local) this.local.add(key);
    }
    if (video.srcObject !== stream) video.srcObject = stream;
    if (!local && this.choice.speakerId && video.setSinkId) video.setSinkId(this.choice.speakerId).catch(() => null);
    this.render();
    return video;
  }

  removeTile(pid, source) {
    const key = `${pid}:${source}`;
    this.tiles.delete(key);
    this.local.delete(key);
    this.render();
  }

  layoutTiles() { this.render(); }

  // Everyone present in the room we are in (observers watch unseen).
  peopleHere() {
    const st = this.state;
    const where = st.me.room || null;
    return st.participants.filter((p) => PRESENT.has(p.status) && (p.room || null) === where
      && (p.role !== "observer" || p.id === this.claims.sub));
  }

  tileList() {
    const people = this.peopleHere();
    const me = this.claims.sub;
    people.sort((a, b) => (a.id === me) - (b.id === me)); // ourselves last
    const tiles = people.map((p) => ({ key: `${p.id}:camera`, pid: p.id, source: "camera", person: p }));
    for (const key of this.tiles.keys()) {
      const [pid, source] = key.split(":");
      if (source !== "screen") continue;
      const person = people.find((p) => p.id === pid);
      if (person) tiles.unshift({ key, pid, source, person });
    }
    const screen = tiles.find((t) => t.source === "screen");
    let featured = null;
    if (screen) featured = screen.key;
    else if (this.layout === "speaker") {
      const speaking = tiles.find((t) => t.pid === this.speaker && t.pid !== me);
      const remote = tiles.find((t) => t.pid !== me);
      featured = (speaking || remote || tiles[0] || {}).key || null;
    }
    if (featured) {
      const at = tiles.findIndex((t) => t.key === featured);
      tiles.unshift(...tiles.splice(at, 1));
    }
    return { tiles, featured };
  }

  hasVideo(t) {
    const video = this.tiles.get(t.key);
    if (!video || !video.srcObject) return false;
    if (this.media.videoPaused(t.key)) return false; // the avatar shows, audio continues
    if (t.source === "screen") return true;
    const on = t.pid === this.claims.sub ? this.media.cameraOn : t.person.camera_on;
    return Boolean(on) && video.srcObject.getVideoTracks().length > 0;
  }

  gapText(g) {
    return html`${iso(this.nameOf(g.viewer))} can't ${g.kind === "audio" ? "hear" : "see"} ${iso(this.nameOf(g.source))} — fixing`;
  }

  tileView(t, featured) {
    const p = t.person;
    const mine = t.pid === this.claims.sub;
    const video = this.tiles.get(t.key);
    const withVideo = this.hasVideo(t);
    const name = html`${iso(p.name)}${t.source === "screen" ? " (screen)" : mine ? " (you)" : ""}`;
    const lost = this.stalled.has(t.pid) || p.status === "reconnecting";
    const gaps = t.source === "camera" && this.clinician ? this.gaps.filter((g) => g.viewer === t.pid) : [];
    const paused = !mine && this.media.videoPaused(t.key);
    const classes = ["tile", t.source, t.key === featured ? "featured" : "",
      withVideo ? "" : "no-video", paused ? "video-paused" : "",
      t.pid === this.speaker && t.source === "camera" ? "speaking" : ""].filter(Boolean).join(" ");
    const received = mine ? null : this.media.received(t.key);
    return html`<figure class=${classes} data-key=${t.key} data-participant=${t.pid}
      title=${received ? `Receiving ${received.width}×${received.height}` : nothing}
      data-received-height=${received ? received.height : nothing}>
      ${video || nothing}
      ${withVideo ? nothing : html`<div class="avatar" aria-hidden="true">${initials(p.name)}</div>`}
      ${p.hand_raised && t.source === "camera" ? html`<span class="tile-hand" aria-hidden="true">Hand up</span>` : nothing}
      <figcaption class="tile-name">
        <span class="tile-label">${name}</span>
        ${p.hand_raised && t.source === "camera" ? html`<span class="sr-only">hand raised</span>` : nothing}
        ${t.source === "camera" ? html`<span class="tile-role">${roleText(p.role)}</span>` : nothing}
        ${t.source === "camera" && !(mine ? this.media.micOn : p.mic_on) ? html`<span class="tile-mic">muted</span>` : nothing}
      </figcaption>
      ${lost ? html`<p class="tile-status">Connection lost</p>` : nothing}
      ${paused && !lost ? html`<p class="tile-paused" role="note">Video paused: your connection is slow</p>` : nothing}
      ${lost || mine || !withVideo ? nothing : this.whyView(t)}
      ${gaps.map((g) => html`<p class="tile-gap">${this.gapText(g)}</p>`)}
    </figure>`;
  }

  // Poor video on a remote tile says whose connection it is: this page's downlink
  // ("Your connection") or the publisher's uplink, as they report it ("Maria's connection").
  whyView(t) {
    const why = this.media.why(t.key);
    if (!why) return nothing;
    const yours = why.who === "you";
    const name = yours ? null : this.nameOf(why.who);
    const label = `Video is poor because of ${yours ? "your connection" : `${name}'s connection`}`;
    return html`<p class="tile-why" role="note" aria-label=${label} title=${why.detail ? `${label}: ${why.detail}` : label}
      data-who=${yours ? "you" : why.who}>${yours ? "Your connection" : html`${iso(name)}'s connection`}</p>`;
  }

  // ---- render -----------------------------------------------------------------
  nameOf(pid) {
    if (pid === this.claims.sub) return (this.state && this.state.me.name) || this.claims.name || "You";
    const p = this.state && this.state.participants.find((x) => x.id === pid);
    return p ? p.name : "Participant";
  }

  roomName(roomId) {
    if (!roomId) return "the main room";
    if (privateRoomName(roomId)) return privateRoomName(roomId);
    const r = this.state && this.state.breakouts.rooms.find((x) => x.id === roomId);
    return r ? r.name : "a breakout room";
  }

  refusal(key) {
    const text = this.refusals[key];
    return text ? html`<p class="refusal" role="alert" data-for=${key}>${text}</p>` : nothing;
  }

  timerText() {
    const st = this.state;
    const b = st.breakouts;
    const deadline = b.phase === "closing" ? b.closing_deadline : b.phase === "open" ? b.deadline : null;
    if (!deadline) return null;
    const left = deadline - (Date.now() / 1000 + (st.server_time_offset || 0));
    return b.phase === "closing" ? `Back to main room in ${mmss(left)}` : `Time left ${mmss(left)}`;
  }

  tick() {
    if (!this.state) return;
    const timer = `${this.timerText()}|${phaseClock(this.state)}`;
    if (timer !== this.lastTimer) { this.lastTimer = timer; this.render(); }
  }

  attentionCount() {
    if (!this.clinician) return 0;
    const st = this.state;
    const hands = st.participants.filter((p) => p.hand_raised && p.id !== this.claims.sub).length;
    return st.lobby.length + hands + this.helps.length;
  }

  render() {
    const root = $("screen-session");
    if (!root || !this.state || this.ended) return;
    const st = this.state;
    const me = st.me;
    const where = me.visiting ? `Visiting ${this.roomName(me.visiting)}` : me.room ? this.roomName(me.room) : "Main room";
    const timer = this.timerText();
    const { tiles, featured } = this.tileList();
    const layout = featured ? "speaker" : "grid";
    const strip = featured ? tiles.length - 1 : 0;
    const cols = layout === "grid" ? Math.ceil(Math.sqrt(tiles.length * (this.isPhone() ? 0.5 : 1.5))) : Math.max(1, strip);
    const gridCols = Math.max(1, Math.min(tiles.length, cols));
    const rows = layout === "grid" ? Math.max(1, Math.ceil(tiles.length / gridCols)) : 1;
    const threads = this.threadList();
    const current = this.currentThread();
    const currentEntry = current ? this.threads.get(current.scope) : null;
    const totalUnread = threads.reduce((n, t) => n + ((this.threads.get(t.scope) || {}).unread || 0), 0);
    const attention = this.attentionCount();
    const tab = (id, label, badge) => html`<button type="button" role="tab" id=${`tab-${id}`}
      aria-controls=${`panel-${id}`} aria-selected=${String(this.panel === id)}
      tabindex=${this.panel === id ? 0 : -1} @click=${() => this.showPanel(id)}>${label}${badge
        ? html` <span class="badge" aria-label=${`(${badge} new)`}>${badge}</span>` : nothing}</button>`;
    render(html`
      <header class="bar">
        <h1 id="room-title"><bdi>${st.session.title}</bdi></h1>
        <span id="room-label" class="pill">${st.session.locked ? `${where} · locked` : where}</span>
        <span id="room-timer" class="pill" role="timer" aria-live="off" ?hidden=${!timer}>${timer || ""}</span>
        <span id="quality" class="pill" data-quality=${this.media.quality} title=${this.media.description}
          aria-describedby="quality-why">Connection: ${this.media.quality}</span>
        <span id="quality-why" class="sr-only">${this.media.description}</span>
      </header>
      <main id="session-main" class=${`layout ${this.sheetOpen ? "sheet-open" : ""}`} aria-labelledby="room-title">
        <div class="messages">
          <div id="banner" class="banner" role="alert" ?hidden=${!this.bannerText}>${this.bannerText || ""}</div>
          <div id="flash" class="flash" role="status" ?hidden=${!this.flashText}>${this.flashText || ""}</div>
          ${privateRoomsView(this)}${planView(this)}
        </div>
        <section id="stage" class=${`stage ${layout}${strip === 0 && featured ? " solo" : ""}`} tabindex="0"
          aria-label=${`Video: ${tiles.filter((t) => t.source === "camera").length} people in ${where.toLowerCase()}`}
          data-cols=${gridCols} data-rows=${rows} data-strip=${strip}>
          ${repeat(tiles, (t) => t.key, (t) => this.tileView(t, featured))}
        </section>
        <aside class="panel" aria-label="Chat and people">
          <div role="tablist" class="tabs" aria-label="Panels">
            ${tab("chat", "Chat", this.panel === "chat" && (this.sheetOpen || !this.isPhone()) ? 0 : totalUnread)}
            ${tab("people", "People", attention)}
            ${this.clinician ? tab("breakouts", "Breakouts", this.helps.length) : nothing}
            ${this.clinician ? tab("notes", "Notes", 0) : nothing}
            ${this.clinician ? tab("safety", "Safety", this.safety.cues.length) : nothing}
            <button type="button" class="sheet-close" aria-label="Close panel" ?hidden=${!this.sheetOpen}
              @click=${() => { this.sheetOpen = false; this.render(); }}>Close</button>
          </div>
          <div id="panel-chat" role="tabpanel" aria-labelledby="tab-chat" ?hidden=${this.panel !== "chat"}>
            ${this.chatView(threads, current, currentEntry)}
          </div>
          <div id="panel-people" role="tabpanel" aria-labelledby="tab-people" ?hidden=${this.panel !== "people"}>
            ${this.peopleView()}
          </div>
          ${this.clinician ? html`<div id="panel-breakouts" role="tabpanel" aria-labelledby="tab-breakouts" ?hidden=${this.panel !== "breakouts"}>
            ${this.breakoutsView()}</div>` : nothing}
          ${this.clinician ? html`<div id="panel-notes" role="tabpanel" aria-labelledby="tab-notes" ?hidden=${this.panel !== "notes"}>
            ${this.panel === "notes" ? this.notes.view() : nothing}</div>
          <div id="panel-safety" role="tabpanel" aria-labelledby="tab-safety" ?hidden=${this.panel !== "safety"}>
            ${this.panel === "safety" ? this.safety.view() : this.safety.cueView()}</div>` : nothing}
        </aside>
        <nav class="controls" aria-label="Your controls">
          <button type="button" id="btn-mic" aria-pressed="false" aria-keyshortcuts="Alt+M" @click=${() => this.toggleMic()}>Mute</button>
          <button type="button" id="btn-cam" aria-pressed="false" aria-keyshortcuts="Alt+V" @click=${() => this.toggleCamera()}>Camera off</button>
          <button type="button" id="btn-share" ?hidden=${!me.may_share_screen} @click=${() => this.toggleShare()}>Share screen</button>
          <button type="button" id="btn-hand" aria-pressed=${String(me.hand_raised)} aria-keyshortcuts="Alt+H"
            ?hidden=${me.role === "observer"} @click=${() => this.toggleHand()}>${me.hand_raised ? "Lower hand" : "Raise hand"}</button>
          ${this.refusal("hand")}
          <button type="button" id="btn-layout" ?hidden=${me.child_safe} @click=${() => this.toggleLayout()}>${this.layout === "speaker" ? "Grid view" : "Speaker view"}</button>
          <button type="button" id="btn-help" ?hidden=${!(me.room && !this.clinician)} @click=${() => this.askHelp()}>Ask for help</button>
          ${this.refusal("help")}
          <button type="button" id="btn-shortcuts" aria-keyshortcuts="Alt+K" ?hidden=${me.child_safe} @click=${() => this.showShortcuts()}>Shortcuts</button>
          ${!this.clinician && me.role !== "observer" ? this.safety.moreView() : nothing}
          <button type="button" id="btn-leave" class="danger" @click=${() => this.leave()}>Leave</button>
        </nav>
        <div id="toasts" class="toasts" role="status" aria-live="polite">
          ${repeat(this.toasts, (t) => t.id, (t) => html`<div class="toast">
            <span>${t.view}</span>
            ${t.action ? html`<button type="button" @click=${() => { this.toasts = this.toasts.filter((x) => x.id !== t.id); t.action.run(); this.render(); }}>${t.action.label}</button>` : nothing}
            <button type="button" class="link" aria-label="Dismiss" @click=${() => { this.toasts = this.toasts.filter((x) => x.id !== t.id); this.render(); }}>Dismiss</button>
          </div>`)}
        </div>
        <dialog id="shortcuts" aria-labelledby="shortcuts-title">
          <h2 id="shortcuts-title">Keyboard shortcuts</h2>
          <dl>${SHORTCUTS.map(([keys, what]) => html`<dt><kbd>${keys}</kbd></dt><dd>${what}</dd>`)}</dl>
          <form method="dialog"><button type="submit" id="shortcuts-close">Close</button></form>
        </dialog>
      </main>`, root);
    document.documentElement.classList.toggle("child-safe", Boolean(me.child_safe)); // larger text, fewer controls
    const stage = $("stage");
    stage.style.setProperty("--cols", String(gridCols));
    stage.style.setProperty("--rows", String(rows));
    stage.style.setProperty("--strip", String(Math.max(1, strip)));
    this.syncMediaButtons();
  }

  chatView(threads, current, entry) {
    if (!current) return html`<p class="muted">Chat is not available to you here.</p>`;
    const messages = entry ? entry.messages : [];
    const count = this.chatCount || 0;
    const over = count > MAX_CHAT;
    return html`
      <div class="threads" role="group" aria-label="Chat threads">
        ${threads.map((t) => {
          const unread = (this.threads.get(t.scope) || {}).unread || 0;
          return html`<button type="button" id=${t.id} data-thread=${t.scope} class="thread"
            aria-pressed=${String(t.key === current.key)} @click=${() => this.openThread(t.key)}>${t.view || t.label}${unread
              ? html` <span class="badge" aria-label=${`(${unread} unread)`}>${unread}</span>` : nothing}</button>`;
        })}
      </div>
      <p id="chat-to" class="chat-to">${current.readers}</p>
      ${entry && entry.start ? html`<button type="button" id="chat-earlier" class="link" @click=${() => this.loadEarlier()}>Load earlier messages</button>` : nothing}
      ${this.refusal("chat-earlier")}
      <ol id="chat-log" class="chat-log" tabindex="-1" aria-live="polite" aria-label=${current.label}>
        ${repeat(messages, (m) => m.id, (m) => html`<li data-id=${m.id} class=${m.kind === "broadcast" ? "broadcast" : m.sender === this.claims.sub ? "mine" : ""}>
          ${m.kind === "broadcast" ? html`<span class="marker">Message to all rooms</span> ` : nothing}
          <strong>${m.sender === this.claims.sub ? "You" : iso(m.sender_name)}</strong> <span class="text" dir="auto">${m.text}</span></li>`)}
      </ol>
      <form id="chat-form" @submit=${(e) => this.sendChat(e)}>
        <label for="chat-input" class="sr-only">${`Message to ${current.label}`}</label>
        <input id="chat-input" autocomplete="off" dir="auto" aria-describedby="chat-count"
          aria-invalid=${String(over)} @input=${(e) => this.chatInput(e)} @paste=${(e) => this.chatPaste(e)}
          placeholder=${`Message ${current.key === "room" ? "everyone here" : current.label}`}>
        <button type="submit">Send</button>
      </form>
      <p id="chat-count" class=${over ? "chat-count over" : "chat-count"} aria-live="polite"
        ?hidden=${count < MAX_CHAT - 200}>${over ? `message too long (${count} / ${MAX_CHAT})` : `${count} / ${MAX_CHAT}`}</p>
      ${this.pasteWarning ? html`<p id="chat-paste" class="refusal" role="alert">${this.pasteWarning}</p>` : nothing}
      ${this.refusal("chat")}`;
  }

  // The role in the session now (the host can be handed over), else the link's.
  get myRole() {
    return (this.state && this.state.me && this.state.me.role) || this.claims.role;
  }

  personMenu(p) {
    const st = this.state;
    const open = this.openMenu === p.id;
    const clinicianTarget = CLINICIANS.has(p.role);
    const owner = p.role === "therapist";
    const rooms = st.breakouts.phase === "open" ? st.breakouts.rooms.filter((r) => r.id !== p.room) : [];
    const items = [];
    const item = (label, run, danger = false) => items.push(html`<button type="button" role="menuitem" tabindex="-1"
      class=${danger ? "danger" : ""} @click=${run}>${label}</button>`);
    const target = { participant_id: p.id };
    if (!clinicianTarget) {
      if (p.mic_on) item("Mute", () => this.menuAction(p.id, "mute_request", target));
      else item("Ask to unmute", () => this.menuAction(p.id, "unmute_request", target));
      if (p.camera_on) item("Turn camera off", () => this.menuAction(p.id, "camera_off_request", target));
      item("Private message", () => this.messagePerson(p.id));
      childSafeItem(this, p, item);
      for (const r of rooms) item(html`Move to ${iso(r.name)}`, () => this.menuAction(p.id, "breakouts_move", { participant_id: p.id, room_id: r.id }));
      privateRoomItems(this, p, item);
    }
    if (this.myRole === "therapist" && p.role === "co_therapist" && p.status === "connected") {
      item("Make host", () => {
        if (confirm(`Make ${p.name} the host? They can then end the session, and you become a co-therapist.`)) {
          this.menuAction(p.id, "hand_over_host", target);
        }
      });
    }
    if (!owner && (!clinicianTarget || this.myRole === "therapist")) {
      item("Send to lobby", () => this.menuAction(p.id, "send_to_lobby", target));
      item("Remove from session", () => { if (confirm(`Remove ${p.name} from the session?`)) this.menuAction(p.id, "remove", target); }, true);
    }
    if (!items.length) return nothing;
    return html`<div class="person-menu" data-participant=${p.id}>
      <button type="button" aria-haspopup="menu" aria-expanded=${String(open)} aria-controls=${`menu-${p.id}`}
        @click=${() => this.toggleMenu(p.id)}>Options<span class="sr-only"> for ${iso(p.name)}</span></button>
      <div id=${`menu-${p.id}`} role="menu" class="menu" aria-label=${`Options for ${p.name}`} ?hidden=${!open}
        @keydown=${(e) => this.menuKey(e)}>${items}</div>
    </div>`;
  }

  peopleView() {
    const st = this.state;
    const me = this.claims.sub;
    const clin = this.clinician;
    const people = st.participants.filter((p) => PRESENT.has(p.status));
    return html`
      ${clin ? html`
        <h2>Waiting (${st.lobby.length})</h2>
        ${st.lobby.length ? html`<button type="button" id="admit-all" @click=${() => this.act("admit_all", {}, "admit-all").catch(() => null)}>Admit everyone</button>` : nothing}
        ${this.refusal("admit-all")}
        <ul class="plain" id="lobby-list">
          ${repeat(st.lobby, (p) => p.id, (p) => html`<li data-participant=${p.id}>
            <span>${iso(p.name)} <span class="role">(${roleText(p.role)})</span></span>
            <button type="button" @click=${() => this.act("admit", { participant_id: p.id }, `lobby:${p.id}`).catch(() => null)}>Admit ${iso(p.name)}</button>
            <button type="button" class="secondary" @click=${() => this.act("deny", { participant_id: p.id }, `lobby:${p.id}`).catch(() => null)}>Deny</button>
            <button type="button" class="secondary" id=${`lobby-msg-${p.id}`} aria-expanded=${String(this.lobbyMessaging === p.id)}
              aria-controls=${`lobby-form-${p.id}`} @click=${() => this.openLobbyMessage(p.id)}>Message<span class="sr-only"> ${iso(p.name)}</span></button>
            ${this.lobbyMessaging === p.id ? html`<form class="inline lobby-form" id=${`lobby-form-${p.id}`}
              @submit=${(e) => this.sendLobbyMessage(e, p.id)} @keydown=${(e) => { if (e.key === "Escape") this.closeLobbyMessage(p.id); }}>
              <label for=${`lobby-text-${p.id}`}>Message to ${iso(p.name)} (shown in the waiting room)</label>
              <input id=${`lobby-text-${p.id}`} name="text" maxlength="500" dir="auto" required>
              <button type="submit">Send</button>
              <button type="button" class="secondary" @click=${() => this.closeLobbyMessage(p.id)}>Cancel</button>
            </form>` : nothing}
            ${this.refusal(`lobby:${p.id}`)}
          </li>`)}
        </ul>
        <div class="actions">
          <button type="button" id="btn-lock" @click=${() => this.act("lock", { locked: !st.session.locked }, "lock").catch(() => null)}>${st.session.locked ? "Unlock room" : "Lock room"}</button>
          <button type="button" id="btn-share-policy" aria-pressed=${st.session.screen_share_relatives ? "true" : "false"}
            @click=${() => this.act("screen_share_policy", { relatives: !st.session.screen_share_relatives }, "share-policy").catch(() => null)}>Family may share screens: ${st.session.screen_share_relatives ? "on" : "off"}</button>
          <button type="button" id="mute-all" @click=${() => this.muteAll()}>Mute everyone</button>
          ${this.myRole === "therapist" ? html`<button type="button" class="danger" id="btn-end"
            @click=${() => { if (confirm("End the session for everyone?")) this.act("end_session", {}, "end").catch(() => null); }}>End for all</button>` : nothing}
        </div>
        ${this.refusal("lock")}${this.refusal("share-policy")}${this.refusal("mute-all")}${this.refusal("end")}` : nothing}
      <h2>In the session</h2>
      <ul class="plain" id="people-list">
        ${repeat(people, (p) => p.id, (p) => html`<li data-participant=${p.id} tabindex="-1">
          <span class="who">
            <span class="person">${iso(p.name)}${p.id === me ? " (you)" : ""}</span>
            ${p.hand_raised ? html`<span class="hand">Hand up</span>` : nothing}
            ${clin ? childSafeBadge(p) : nothing}
            <span class="role">${[roleText(p.role), p.mic_on ? "" : "muted", p.camera_on ? "" : "camera off",
              p.status === "reconnecting" ? "reconnecting" : "", clin && p.room ? "\u2068" + this.roomName(p.room) + "\u2069" : ""].filter(Boolean).join(" · ")}</span>
          </span>
          ${clin && p.id !== me ? this.personMenu(p) : nothing}
          ${this.refusal(`person:${p.id}`)}
        </li>`)}
      </ul>`;
  }

  breakoutsView() {
    const st = this.state;
    const b = st.breakouts;
    const movable = st.participants.filter((p) => !CLINICIANS.has(p.role) && p.role !== "observer" && PRESENT.has(p.status));
    const draft = b.phase === "none" || b.phase === "closed" || b.phase === "draft";
    const live = b.phase === "open" || b.phase === "closing";
    const roomRow = (r) => html`<li data-room=${r.id}>
      ${this.renaming === r.id ? html`<form class="inline" @submit=${(e) => {
        e.preventDefault();
        const name = e.target.elements.name.value.trim();
        if (name) this.act("breakouts_rename", { room_id: r.id, name }, `room:${r.id}`).then(() => { this.renaming = null; this.render(); }).catch(() => null);
      }}>
        <label for=${`rename-${r.id}`} class="sr-only">New name for ${iso(r.name)}</label>
        <input id=${`rename-${r.id}`} name="name" maxlength="40" dir="auto" value=${r.name}>
        <button type="submit">Save</button>
        <button type="button" class="secondary" @click=${() => { this.renaming = null; this.render(); }}>Cancel</button>
      </form>` : html`<strong>${iso(r.name)}</strong>`}
      <span> · ${r.members.length ? isoList(r.members.map((id) => this.nameOf(id))) : "empty"}</span>
      ${draft && this.renaming !== r.id ? html`
        <button type="button" class="secondary" @click=${() => { this.renaming = r.id; this.render(); const i = $(`rename-${r.id}`); if (i) i.focus(); }}>Rename<span class="sr-only"> ${iso(r.name)}</span></button>
        <button type="button" class="secondary" @click=${() => this.act("breakouts_delete", { room_id: r.id }, `room:${r.id}`).then(() => {
          // The button is gone with its room: focus goes to adding rooms, not to the page.
          const next = $("bo-count");
          if (next) next.focus();
        }).catch(() => null)}>Delete<span class="sr-only"> ${iso(r.name)}</span></button>` : nothing}
      ${live ? html`<button type="button" @click=${() => this.act("breakouts_visit", { room_id: r.id }, `room:${r.id}`).catch(() => null)}>Visit ${iso(r.name)}</button>` : nothing}
      ${this.refusal(`room:${r.id}`)}
    </li>`;
    return html`
      <h2 id="bo-title" tabindex="-1">Breakout rooms · ${b.phase}</h2>
      ${draft ? html`<form id="bo-create" @submit=${(e) => {
        e.preventDefault();
        const n = Number(e.target.elements.count.value);
        const names = Array.from({ length: n }, (_, i) => `Room ${b.rooms.length + i + 1}`);
        this.act("breakouts_create", { names }, "bo-create").catch(() => null);
      }}>
        <label for="bo-count">Rooms to add</label>
        <input id="bo-count" name="count" type="number" min="1" max="20" value="2">
        <button type="submit">Add rooms</button>
        ${this.refusal("bo-create")}
      </form>` : nothing}
      <ul class="plain rooms">${repeat(b.rooms, (r) => r.id, roomRow)}</ul>
      ${!live ? html`<div class="actions">
        <button type="button" id="bo-by-role" @click=${() => this.act("breakouts_by_role", { plan: "each_client_with_clinician" }, "bo-by-role").catch(() => null)}>Each partner with a clinician</button>
        ${b.rooms.length ? html`<button type="button" id="bo-auto" @click=${() => this.act("breakouts_auto", {}, "bo-auto").catch(() => null)}>Assign automatically</button>` : nothing}
      </div>${this.refusal("bo-by-role")}${this.refusal("bo-auto")}` : nothing}
      ${b.rooms.length && !live ? html`
        <h3>Assign</h3>
        <div class="assign">${repeat(movable, (p) => p.id, (p) => {
          const current = (b.rooms.find((r) => r.members.includes(p.id)) || {}).id || "";
          return html`<label>${iso(p.name)}
            <select aria-label=${`Room for ${p.name}`} data-assign=${p.id}
              @change=${(e) => this.act("breakouts_assign", { participant_id: p.id, room_id: e.target.value || null }, `assign:${p.id}`).catch(() => null)}>
              <option value="" ?selected=${current === ""}>Main room</option>
              ${b.rooms.map((r) => html`<option value=${r.id} ?selected=${r.id === current}>${r.name}</option>`)}
            </select></label>${this.refusal(`assign:${p.id}`)}`;
        })}</div>
        <form id="bo-open" @submit=${(e) => {
          e.preventDefault();
          const minutes = Number(e.target.elements.minutes.value) || null;
          this.act("breakouts_open", { minutes }, "bo-open").catch(() => null);
        }}>
          <label for="bo-minutes">Minutes (blank for no timer)</label>
          <input id="bo-minutes" name="minutes" type="number" min="1" max="240" value="15">
          <button type="submit">Open breakout rooms</button>
          ${this.refusal("bo-open")}
        </form>` : nothing}
      ${live ? html`
        <div class="actions">
          ${st.me.visiting ? html`<button type="button" @click=${() => this.act("breakouts_visit", { room_id: null }, "bo-return").catch(() => null)}>Return to main room</button>` : nothing}
        </div>
        <form id="bo-extend" class="inline" @submit=${(e) => {
          e.preventDefault();
          const minutes = Number(e.target.elements.minutes.value);
          if (minutes > 0) this.act("breakouts_extend", { minutes }, "bo-extend").catch(() => null);
        }}>
          <label for="bo-extend-minutes">Add minutes</label>
          <input id="bo-extend-minutes" name="minutes" type="number" min="1" max="120" value="5">
          <button type="submit">Add time</button>
          ${this.refusal("bo-extend")}
        </form>
        <div class="actions">
          ${b.phase === "open" ? html`<label for="bo-grace">Countdown (seconds)</label>
          <input id="bo-grace" type="number" min="0" max="600" value="60">` : html`<span class="muted">Rooms are closing.</span>`}
          <button type="button" id="bo-close" @click=${() => this.closeRooms(b.phase === "open" ? Number($("bo-grace").value) || 0 : 0, "bo-close")}>${b.phase === "open" ? "Close all rooms" : "Close now"}</button>
          ${this.refusal("bo-close")}
        </div>
        <form id="bo-broadcast" @submit=${(e) => {
          e.preventDefault();
          const text = e.target.elements.text.value.trim();
          if (text) this.act("breakouts_broadcast", { text }, "bo-broadcast").then(() => e.target.reset()).catch(() => null);
        }}>
          <label for="bo-text">Message to all rooms</label>
          <input id="bo-text" name="text" maxlength="500">
          <button type="submit">Broadcast</button>
          ${this.refusal("bo-broadcast")}
        </form>` : nothing}
      <h3>Help requests</h3>
      <ul id="help-list" class="plain">
        ${this.helps.map((h) => html`<li>${iso(h.name)} asked for help in ${iso(this.roomName(h.room))}
          <button type="button" @click=${() => this.act("breakouts_visit", { room_id: h.room }, "bo-return").catch(() => null)}>Go there</button></li>`)}
      </ul>`;
  }
}

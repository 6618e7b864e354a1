// Participant flow: pre-join → lobby → session, driven by the server's state snapshots.
//
// The personal link (…/join#<token>) is traded once for an HttpOnly, SameSite=Strict
// cookie scoped to its session (POST /api/join/exchange); the token then leaves the
// address bar and is never kept in any storage, and the link is spent: reopened from
// the browser's history on another browser, it no longer works. Reloads and
// reconnects present the cookie (auth: {session}). Leaving or the end of the session
// clears the cookie.
import { connect } from "/static/signal.js";
import { setupPrejoin } from "/static/prejoin.js";
import { Room } from "/static/room.js";
import { SCHEDULE_ENDINGS, SCHEDULE_CODES, showNextStart } from "/static/schedule.js";

const $ = (id) => document.getElementById(id);
const LEGACY_KEY = "hearth-token";

function screen(name) {
  for (const id of ["prejoin", "lobby", "notice", "session"]) $(`screen-${id}`).hidden = id !== name;
  const heading = $(`screen-${name}`).querySelector("h1");
  if (heading) { heading.tabIndex = -1; heading.focus(); }
}

const ENDINGS = {
  session_ended: ["The session has ended", "Thank you for joining. You can close this page."],
  denied: ["You were not let in", "Your therapist could not admit you to this session."],
  removed: ["You have left the session", "Your therapist ended your participation."],
  superseded: ["Opened elsewhere", "This link was opened in another window, so this one stopped."],
  expired: ["This link has expired", "Ask your therapist for a new link."],
  not_yet_valid: ["Too early", "This link opens 15 minutes before your session starts."],
  revoked: ["This link no longer works", "Your therapist replaced or withdrew it. Ask them for a new link."],
  link_used: ["This link was already used", "It was opened in another browser or device. Use that one, or ask your therapist for a new link."],
  no_link: ["Open your personal link again", "This page no longer holds your link. Open the link your therapist sent you."],
  invalid_token: ["This link is not valid", "Check that you opened the whole link, or ask for a new one."],
  forbidden: ["You cannot join this session", "Ask your therapist for a new link."],
  unavailable: ["Hearth is not reachable right now", "Please try again in a minute."],
  ...SCHEDULE_ENDINGS,
};
const FINAL = new Set(Object.keys(ENDINGS).filter((k) => k !== "unavailable"));
// Endings after which this browser keeps its cookie (another tab holds the place, or
// the server could not be reached); every other ending forgets it.
// Leaving on purpose keeps it too, so the person can rejoin from their link while the
// session is open; the session's end, a removal or a revoked link clears it.
const KEEP = new Set([ENDINGS.superseded[0], ENDINGS.unavailable[0], "You left the session"]);

let sessionId = null;

// Drop any token an older version of this page kept, in every storage.
function scrub() {
  for (const store of [sessionStorage, localStorage]) {
    try { store.removeItem(LEGACY_KEY); } catch { /* storage disabled */ }
  }
}

// The session cookie is HttpOnly: only the server can clear it.
function forget() {
  scrub();
  if (!sessionId) return;
  fetch(`/api/join/${encodeURIComponent(sessionId)}/leave`, { method: "POST", keepalive: true,
    credentials: "same-origin" }).catch(() => null);
}

export function notice(title, text) {
  $("notice-title").textContent = title;
  $("notice-text").textContent = text;
  screen("notice");
  if (!KEEP.has(title)) forget();
}

function refuse(code) { notice(...(ENDINGS[code] || ENDINGS.invalid_token)); }

async function identity() {
  const token = decodeURIComponent(location.hash.slice(1));
  const asked = new URLSearchParams(location.search).get("s");
  let res;
  if (token) {
    // The address keeps the token until the exchange answers, so a reload meanwhile
    // still finds it (the history entry holds it already); then it goes.
    res = await fetch("/api/join/exchange", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
    }).finally(() => history.replaceState(null, "", "/join"));
  } else if (asked) {
    res = await fetch(`/api/join/${encodeURIComponent(asked)}`, { credentials: "same-origin" });
  } else {
    return { error: "no_link" };
  }
  const body = await res.json().catch(() => ({ error: { code: "unavailable" } }));
  if (!res.ok) return { error: body.error ? body.error.code : "unavailable", token };
  const me = body.ok;
  history.replaceState(null, "", `/join?s=${encodeURIComponent(me.session_id)}`);
  return me;
}

async function start() {
  scrub();
  let me;
  try { me = await identity(); } catch { me = { error: "unavailable" }; }
  if (me.error) {
    refuse(me.error);
    // Outside a session's window: say when it (or the next one) starts, in local time.
    if (me.token && SCHEDULE_CODES.has(me.error)) showNextStart(me.token, notice, ENDINGS[me.error]);
    return;
  }
  sessionId = me.session_id;
  // The room reads the same fields a link's claims used to carry, now from the server.
  const claims = { sid: me.session_id, sub: me.participant_id, role: me.role, name: me.display_name };
  let room = null;
  let joined = false;
  setupPrejoin(me.display_name, async (choice) => {
    joined = true;
    const socket = connect({ session: me.session_id });
    room = new Room({ socket, me: claims, media: choice, notice, screen, endings: ENDINGS });
    socket.on("notice", (n) => {
      if (n.kind === "revoked") { room.finish(...ENDINGS.revoked); }
    });
    socket.on("connect_error", (err) => {
      if (err.message === "rate_limited") {
        const wait = (err.data && err.data.retry_after) || 5;
        room.banner(`Too many attempts from this connection. Trying again in ${wait} s…`);
        socket.io.reconnectionDelay(wait * 1000);
        return;
      }
      if (FINAL.has(err.message)) { socket.disconnect(); room.finish(...ENDINGS[err.message]); }
    });
  });
  screen("prejoin");
  window.addEventListener("beforeunload", () => { if (joined && room) room.leave(true); });
}

start();

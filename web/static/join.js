// Participant flow: pre-join → lobby → session, driven by the server's state snapshots.
import { connect } from "/static/signal.js";
import { setupPrejoin } from "/static/prejoin.js";
import { Room } from "/static/room.js";
import { SCHEDULE_ENDINGS, SCHEDULE_CODES, showNextStart } from "/static/schedule.js";

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.hash.slice(1));
// Keep the token out of the address bar (screenshots, shoulder-surfing), but in this tab.
if (token) { sessionStorage.setItem("hearth-token", token); history.replaceState(null, "", "/join"); }
const savedToken = token || sessionStorage.getItem("hearth-token");

function claims(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch { return null; }
}

function screen(name) {
  for (const id of ["prejoin", "lobby", "notice", "session"]) $(`screen-${id}`).hidden = id !== name;
  const heading = $(`screen-${name}`).querySelector("h1");
  if (heading) { heading.tabIndex = -1; heading.focus(); }
}

export function notice(title, text) {
  $("notice-title").textContent = title;
  $("notice-text").textContent = text;
  screen("notice");
}

const ENDINGS = {
  session_ended: ["The session has ended", "Thank you for joining. You can close this page."],
  denied: ["You were not let in", "Your therapist could not admit you to this session."],
  removed: ["You have left the session", "Your therapist ended your participation."],
  superseded: ["Opened elsewhere", "This link was opened in another window, so this one stopped."],
  expired: ["This link has expired", "Ask your therapist for a new link."],
  not_yet_valid: ["Too early", "This link opens 15 minutes before your session starts."],
  revoked: ["This link no longer works", "Ask your therapist for a new link."],
  invalid_token: ["This link is not valid", "Check that you opened the whole link, or ask for a new one."],
  ...SCHEDULE_ENDINGS,
};

function start() {
  const c = savedToken ? claims(savedToken) : null;
  if (!c) { notice(...ENDINGS.invalid_token); return; }
  let room = null;
  let joined = false;
  let media = null;
  setupPrejoin(c.name, async (choice) => {
    media = choice;
    joined = true;
    if (c.role === "therapist" || c.role === "co_therapist") {
      // Clinicians skip the lobby; the server admits them by role.
    }
    const socket = connect(savedToken);
    room = new Room({ socket, me: c, media, notice, screen, endings: ENDINGS });
    socket.on("connect_error", (err) => {
      const ending = ENDINGS[err.message];
      if (ending) { socket.disconnect(); room.stop(); notice(...ending); }
      if (ending && SCHEDULE_CODES.has(err.message)) showNextStart(savedToken, notice, ending);
    });
  });
  screen("prejoin");
  window.addEventListener("beforeunload", () => { if (joined && room) room.leave(true); });
}

start();

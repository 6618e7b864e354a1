// Therapist console: sign in, sessions, participants and their personal links.
import { api, ApiError, el } from "/static/api.js";
import { mountProgramRecords, mountRecords } from "/static/attendance.js";

const $ = (id) => document.getElementById(id);
const screens = ["signin", "sessions", "detail"];
let current = null; // the session shown in the detail screen

function show(name) {
  for (const s of screens) $(s).hidden = s !== name;
  $("logout").hidden = name === "signin";
  const heading = $(name).querySelector("h2");
  if (heading) { heading.tabIndex = -1; heading.focus(); }
}

function fmt(ts) {
  return ts ? new Date(ts * 1000).toLocaleString() : "unscheduled";
}

async function guard(fn, statusId) {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { show("signin"); return null; }
    if (statusId) $(statusId).textContent = err.message;
    throw err;
  }
}

async function loadSessions() {
  const list = await guard(() => api("GET", "/api/sessions"));
  if (!list) return;
  const ul = $("session-list");
  ul.replaceChildren(...list.map((s) => el("li", {},
    el("button", { type: "button", class: "link", onclick: () => openDetail(s.id),
                   "data-session": s.id }, s.title),
    el("span", { class: "muted" }, ` · ${fmt(s.starts_at)} · ${s.phase}`))));
  if (!list.length) ul.append(el("li", { class: "muted" }, "No sessions yet."));
  show("sessions");
  mountProgramRecords();
}

async function copy(text, label) {
  try {
    await navigator.clipboard.writeText(text);
    $("detail-status").textContent = `${label}: link copied.`;
  } catch {
    $("detail-status").textContent = `${label}: copy failed; select the link text instead.`;
  }
}

const links = new Map(); // participant id -> last link shown in this tab

function renderParticipants(session) {
  const tbody = $("participants").querySelector("tbody");
  tbody.replaceChildren(...session.participants.map((p) => {
    const link = links.get(p.id);
    const cell = el("td", {});
    if (p.role !== "therapist") {
      if (link) {
        cell.append(el("input", { readonly: true, value: link, "aria-label": `Link for ${p.display_name}`,
                                  class: "link-text", "data-link-for": p.display_name }));
        cell.append(el("button", { type: "button", onclick: () => copy(link, p.display_name) }, "Copy"));
      }
      cell.append(el("button", { type: "button", onclick: () => reissue(p) }, link ? "New link" : "Show new link"));
      if (session.starts_at) {
        cell.append(el("a", { href: `/api/sessions/${session.id}/participants/${p.id}/invite.ics`,
                              download: "session.ics" }, "Invite (.ics)"));
      }
    }
    return el("tr", { "data-participant": p.id },
      el("td", {}, p.display_name), el("td", {}, p.role.replace("_", "-")),
      el("td", {}, p.status), cell);
  }));
  const guardians = session.participants.filter((p) => !["child", "observer", "therapist"].includes(p.role));
  $("ap-guardian").replaceChildren(...guardians.map((p) => el("option", { value: p.id }, p.display_name)));
}

async function openDetail(id) {
  const session = await guard(() => api("GET", `/api/sessions/${id}`));
  if (!session) return;
  current = session;
  $("detail-title").textContent = session.title;
  $("detail-when").textContent = `${fmt(session.starts_at)} · ${session.phase}`;
  $("end-session").disabled = session.phase === "ended";
  $("open-room").disabled = session.phase === "ended";
  renderParticipants(session);
  show("detail");
  mountRecords(session);
}

async function reissue(p) {
  const res = await guard(() => api("POST", `/api/sessions/${current.id}/participants/${p.id}/link`), "detail-status");
  links.set(p.id, res.link);
  await openDetail(current.id);
}

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  try {
    await api("POST", "/api/login", { username: f.username.value.trim(), password: f.password.value });
    f.reset();
    const me = await api("GET", "/api/me");
    idleLimit = me.idle_seconds || idleLimit;
    lastActivity = Date.now();
    $("signin-status").textContent = "";
    await loadSessions();
  } catch (err) {
    $("signin-status").textContent = err.message;
  }
});

$("logout").addEventListener("click", async () => {
  await api("POST", "/api/logout").catch(() => null);
  show("signin");
});

$("new-session").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const body = { title: f.title.value.trim() };
  if (f.start.value && f.end.value) {
    body.starts_at = new Date(f.start.value).getTime() / 1000;
    body.ends_at = new Date(f.end.value).getTime() / 1000;
  }
  const s = await guard(() => api("POST", "/api/sessions", body));
  if (s) { f.reset(); await openDetail(s.id); }
});

$("ap-role").addEventListener("change", (e) => { $("guardian-box").hidden = e.target.value !== "child"; });

$("add-participant").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const body = { display_name: f.display_name.value.trim(), role: f.role.value };
  if (body.role === "child") body.guardian_of = [...f.guardian.selectedOptions].map((o) => o.value);
  const res = await guard(() => api("POST", `/api/sessions/${current.id}/participants`, body), "detail-status");
  links.set(res.participant_id, res.link);
  f.reset();
  $("guardian-box").hidden = true;
  await openDetail(current.id);
  $("detail-status").textContent = `${body.display_name} added. Send them their personal link.`;
});

$("back").addEventListener("click", loadSessions);

$("open-room").addEventListener("click", async () => {
  const res = await guard(() => api("POST", `/api/sessions/${current.id}/join`), "detail-status");
  window.open(res.link, "_blank", "noopener");
});

$("end-session").addEventListener("click", async () => {
  if (!confirm("End this session for everyone? Every link will stop working.")) return;
  await guard(() => api("POST", `/api/sessions/${current.id}/end`), "detail-status");
  await openDetail(current.id);
});

// Idle sign-out: the server expires an idle login; the page also signs itself out
// after the same idle time, so a console left open on a shared screen closes itself.
let idleLimit = 30 * 60;
let lastActivity = Date.now();
for (const ev of ["keydown", "pointerdown", "pointermove", "wheel"]) {
  window.addEventListener(ev, () => { lastActivity = Date.now(); }, { passive: true });
}
setInterval(async () => {
  if ($("signin").hidden && Date.now() - lastActivity > idleLimit * 1000) {
    await api("POST", "/api/logout").catch(() => null);
    show("signin");
    $("signin-status").textContent = "You were signed out after a period of inactivity.";
  }
}, 5000);

(async () => {
  try {
    const me = await api("GET", "/api/me");
    idleLimit = me.idle_seconds || idleLimit;
    await loadSessions();
  } catch { show("signin"); }
})();

// Clinic console: sign in, one-off sessions with their participants' links, and the
// program pages (households, series, clinic and staff) from program.js.
import { api, ApiError, el } from "/static/api.js";
import { setupProgram, loadProgram, loadClinic, fmtWhen } from "/static/program.js";
import { mountProgramRecords, mountRecords } from "/static/attendance.js";
import { attachPlan, fillPlans } from "/static/plan-choice.js";

const $ = (id) => document.getElementById(id);
const screens = ["signin", "sessions", "detail", "program", "household", "series", "clinic", "account"];
const navOf = { sessions: "sessions", detail: "sessions", program: "program", household: "program",
                series: "program", clinic: "clinic", account: "account" };
let current = null; // the session shown in the detail screen
export const ctx = { role: null, clinic: null };

export function show(name) {
  for (const s of screens) $(s).hidden = s !== name;
  $("logout").hidden = name === "signin";
  $("nav").hidden = name === "signin";
  for (const b of $("nav").querySelectorAll("button")) {
    if (b.dataset.go === navOf[name]) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  const heading = $(name).querySelector("h2");
  if (heading) { heading.tabIndex = -1; heading.focus(); }
}

const localZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
function fmt(ts) {
  return ts ? fmtWhen(ts, localZone) : "unscheduled";
}

export async function guard(fn, statusId) {
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
  $("new-session").hidden = ctx.role === "co_therapist";
  show("sessions");
  // The household choice fills in without holding up the list.
  if (ctx.role !== "co_therapist") {
    api("GET", "/api/households").then((homes) => {
      const keep = $("ns-household").value;
      $("ns-household").replaceChildren(el("option", { value: "" }, "None: add people by hand"),
        ...homes.map((h) => el("option", { value: h.id }, h.label)));
      $("ns-household").value = keep;
    }).catch(() => null);
    fillPlans($("ns-plan"));
  }
  mountProgramRecords();
}

export async function copy(text, label, statusId) {
  try {
    await navigator.clipboard.writeText(text);
    $(statusId).textContent = `${label}: link copied.`;
  } catch {
    $(statusId).textContent = `${label}: copy failed; select the link text instead.`;
  }
}

// One cell: the current link (shown again whenever the page loads, never revoked by
// showing), Copy, and the explicit "Revoke and issue a new link" after a confirmation.
export function linkCell({ label, link, onReissue, extra = [], statusId }) {
  const cell = el("td", {});
  if (link) {
    cell.append(el("input", { readonly: true, value: link, "aria-label": `Link for ${label}`,
                              class: "link-text", "data-link-for": label }));
    cell.append(el("button", { type: "button", onclick: () => copy(link, label, statusId) }, "Copy"));
  }
  cell.append(el("button", { type: "button", class: link ? "danger" : undefined,
    "data-reissue-for": label,
    onclick: () => {
      if (link && !confirm(`Revoke ${label}'s current link and issue a new one? The old link stops working at once.`)) return;
      onReissue();
    } }, link ? "Revoke and issue a new link" : "Issue link"));
  cell.append(...extra);
  return cell;
}

async function renderParticipants(session) {
  const tbody = $("participants").querySelector("tbody");
  // Every current link is fetched at once (shown again; nothing is revoked by showing).
  const shown = await Promise.all(session.participants.map((p) => p.role === "therapist" ? null
    : api("GET", `/api/sessions/${session.id}/participants/${p.id}/link`).catch(() => null)));
  const rows = session.participants.map((p, i) => {
    let cell = el("td", {});
    if (p.role !== "therapist") {
      const link = shown[i] && shown[i].link;
      const extra = session.starts_at && link ? [el("a", {
        href: `/api/sessions/${session.id}/participants/${p.id}/invite.ics`, download: "session.ics",
      }, "Invite (.ics)")] : [];
      cell = linkCell({ label: p.display_name, link, onReissue: () => reissue(p), extra,
                        statusId: "detail-status" });
    }
    return el("tr", { "data-participant": p.id },
      el("td", {}, p.display_name), el("td", {}, p.role.replace("_", "-")),
      el("td", {}, p.status), cell);
  });
  tbody.replaceChildren(...rows);
  const guardians = session.participants.filter((p) => !["child", "observer", "therapist", "co_therapist"].includes(p.role));
  $("ap-guardian").replaceChildren(...guardians.map((p) => el("option", { value: p.id }, p.display_name)));
}

async function openDetail(id) {
  const session = await guard(() => api("GET", `/api/sessions/${id}`));
  if (!session) return;
  current = session;
  $("detail-title").textContent = session.title;
  const when = session.starts_at ? `${fmt(session.starts_at)} – ${fmt(session.ends_at)}` : "unscheduled";
  $("detail-when").textContent = `${when} · ${session.phase}`;
  $("end-session").disabled = session.phase === "ended";
  $("open-room").disabled = session.phase === "ended";
  await renderParticipants(session);
  show("detail");
  mountRecords(session);
}

async function reissue(p) {
  await guard(() => api("POST", `/api/sessions/${current.id}/participants/${p.id}/link`), "detail-status");
  await openDetail(current.id);
  $("detail-status").replaceChildren(el("bdi", {}, p.display_name), ": the old link is revoked; the new one is shown.");
}

async function afterSignIn() {
  const [me, clinicOrError] = await Promise.all([
    api("GET", "/api/me"), api("GET", "/api/clinic").catch((err) => err)]);
  idleLimit = me.idle_seconds || idleLimit;
  try {
    if (clinicOrError instanceof Error) throw clinicOrError;
    const clinic = clinicOrError;
    ctx.role = clinic.role;
    ctx.clinic = clinic;
  } catch (err) {
    if (err instanceof ApiError && err.code === "deactivated") {
      await api("POST", "/api/logout").catch(() => null);
      show("signin");
      $("signin-status").textContent = err.message;
      return false;
    }
    throw err;
  }
  $("nav-clinic").hidden = ctx.role !== "admin";
  $("whoami").textContent = `${me.username} · ${ctx.role.replace("_", "-")} · ${ctx.clinic.name}`;
  $("ns-end-hint").textContent = `Without an end, a session lasts the clinic's default of ${ctx.clinic.default_duration_minutes} minutes. Times are in ${localZone}.`;
  return true;
}

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  try {
    const body = { username: f.username.value.trim(), password: f.password.value };
    if (!$("si-otp-row").hidden && f.otp.value.trim()) body.otp = f.otp.value.trim();
    await api("POST", "/api/login", body);
    f.reset();
    $("si-otp-row").hidden = true;
    lastActivity = Date.now();
    $("signin-status").textContent = "";
    if (await afterSignIn()) await loadSessions();
  } catch (err) {
    $("signin-status").textContent = err.message;
    if (err instanceof ApiError && (err.code === "otp_required" || err.code === "bad_otp")) {
      $("si-otp-row").hidden = false;
      f.otp.value = "";
      f.otp.focus();
    }
  }
});

// ---- your account: display name and two-step sign-in ------------------------------
async function loadAccount() {
  const me = await guard(() => api("GET", "/api/me"), "account-name-status");
  if (!me) return;
  $("acct-name").value = me.display_name;
  $("totp-state").textContent = me.totp
    ? "Two-step sign-in is on: signing in asks for a code from your authenticator app."
    : "Two-step sign-in is off: a password alone signs in.";
  $("totp-begin").textContent = me.totp ? "Move two-step sign-in to a new app" : "Set up two-step sign-in";
  $("totp-setup").hidden = true;
  show("account");
}

$("account-name-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const saved = await guard(() => api("PATCH", "/api/me", { display_name: $("acct-name").value.trim() }),
    "account-name-status").catch(() => null);
  if (saved) $("account-name-status").textContent = "Saved. New sessions show this name.";
});

$("totp-begin").addEventListener("click", async () => {
  const offer = await guard(() => api("POST", "/api/me/totp"), "totp-status").catch(() => null);
  if (!offer) return;
  $("totp-uri").href = offer.uri;
  $("totp-secret").textContent = offer.secret;
  $("totp-setup").hidden = false;
  $("totp-status").textContent = "";
  $("totp-code").focus();
});

$("totp-confirm-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const done = await guard(() => api("POST", "/api/me/totp/confirm", { otp: $("totp-code").value.trim() }),
    "totp-status").catch(() => null);
  $("totp-code").value = "";
  if (!done) { $("totp-code").focus(); return; }
  await loadAccount();
  $("totp-status").textContent = "Two-step sign-in is on. Keep the app: you need a code each time you sign in.";
});

$("logout").addEventListener("click", async () => {
  await api("POST", "/api/logout").catch(() => null);
  show("signin");
});

for (const b of document.querySelectorAll("[data-go]")) {
  b.addEventListener("click", () => {
    if (b.dataset.go === "sessions") loadSessions();
    else if (b.dataset.go === "program") loadProgram();
    else if (b.dataset.go === "clinic") loadClinic();
    else if (b.dataset.go === "account") loadAccount();
  });
}

$("new-session").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const body = { title: f.title.value.trim() };
  if (f.household.value) body.household_id = f.household.value;
  if (f.end.value && !f.start.value) {
    $("new-status").textContent = "Give a start time too, or leave the end empty.";
    f.start.focus();
    return;
  }
  if (f.start.value) body.starts_at = new Date(f.start.value).getTime() / 1000;
  if (f.end.value) body.ends_at = new Date(f.end.value).getTime() / 1000;
  const s = await guard(() => api("POST", "/api/sessions", body), "new-status").catch(() => null);
  if (!s) return;
  await guard(() => attachPlan("sessions", s.id, f.plan.value), "new-status").catch(() => null);
  f.reset();
  await openDetail(s.id);
  if (s.default_duration_minutes) {
    $("detail-status").textContent = `No end was given: the session ends at ${fmt(s.ends_at)} (${s.default_duration_minutes} minutes).`;
  }
});

$("ap-role").addEventListener("change", async (e) => {
  $("guardian-box").hidden = e.target.value !== "child";
  $("co-box").hidden = e.target.value !== "co_therapist";
  if (e.target.value === "co_therapist") {
    const staff = await api("GET", "/api/staff").catch(() => []);
    $("ap-account").replaceChildren(el("option", { value: "" }, "None (link only)"),
      ...staff.filter((s) => s.active && s.role !== "admin" && s.account_id !== ctx.clinic.account_id)
        .map((s) => el("option", { value: s.account_id }, s.username)));
  }
});

$("add-participant").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const body = { display_name: f.display_name.value.trim(), role: f.role.value };
  if (body.role === "child") body.guardian_of = [...f.guardian.selectedOptions].map((o) => o.value);
  if (body.role === "co_therapist" && f.account.value) body.account_id = f.account.value;
  const res = await guard(() => api("POST", `/api/sessions/${current.id}/participants`, body), "detail-status");
  if (!res) return;
  f.reset();
  $("guardian-box").hidden = true;
  $("co-box").hidden = true;
  await openDetail(current.id);
  $("detail-status").replaceChildren(el("bdi", {}, body.display_name), " added. Send them their personal link.");
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

setupProgram({ ctx, show, guard, linkCell });

(async () => {
  try {
    if (await afterSignIn()) await loadSessions();
  } catch { show("signin"); }
})();

// Program pages of the console: households, weekly series with each person's link,
// and (for the clinic admin) clinic settings and staff. Times always carry their zone.
import { api, ApiError, el } from "/static/api.js";
import { mountHouseholdRecords } from "/static/attendance.js";
import { attachPlan, fillPlans, mountPlans } from "/static/plan-choice.js";

const $ = (id) => document.getElementById(id);
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const ROLES = [["client", "Client"], ["partner", "Partner"], ["parent", "Parent"],
               ["child", "Child"], ["other_family", "Other family"]];
let deps = null; // { ctx, show, guard, linkCell } from console.js
let household = null;
let series = null;

export function fmtWhen(ts, zone) {
  return new Intl.DateTimeFormat(undefined, {
    timeZone: zone, weekday: "short", day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  }).format(new Date(ts * 1000));
}

function roleName(role) {
  return (ROLES.find(([v]) => v === role) || [role, role])[1];
}

// --- households ------------------------------------------------------------------
function memberRow(index) {
  const id = (name) => `hm-${name}-${index}`;
  const guardian = el("select", { id: id("guardian"), name: "guardian" }, el("option", { value: "" }, "None"));
  const role = el("select", { id: id("role"), name: "role" },
    ...ROLES.map(([v, label]) => el("option", { value: v }, label)));
  const guardianBox = el("div", { hidden: true }, el("label", { for: id("guardian") }, "Guardian"), guardian);
  role.addEventListener("change", () => {
    guardianBox.hidden = role.value !== "child";
    refreshGuardians();
  });
  return el("div", { class: "member-row", "data-member-row": index },
    el("div", { class: "row" },
      el("div", {}, el("label", { for: id("name") }, `Person ${index + 1}: name`),
        el("input", { id: id("name"), name: "name", required: true, maxlength: 80 })),
      el("div", {}, el("label", { for: id("role") }, "Role"), role),
      el("div", {}, el("label", { for: id("email") }, "Email (for invitations, optional)"),
        el("input", { id: id("email"), name: "email", type: "email", maxlength: 254 }))),
    el("div", { class: "row" },
      el("div", {}, el("label", { for: id("dob") }, "Date of birth (optional)"),
        el("input", { id: id("dob"), name: "dob", type: "date" })),
      el("div", {}, el("label", { for: id("emergency") }, "Emergency contact (optional)"),
        el("input", { id: id("emergency"), name: "emergency", maxlength: 200 })),
      guardianBox));
}

function rows() { return [...$("hh-members").querySelectorAll("[data-member-row]")]; }

function refreshGuardians() {
  const all = rows();
  for (const row of all) {
    const select = row.querySelector("select[name=guardian]");
    const keep = select.value;
    const options = all.filter((r) => r !== row && r.querySelector("select[name=role]").value !== "child")
      .map((r) => el("option", { value: r.dataset.memberRow },
        r.querySelector("input[name=name]").value || `Person ${Number(r.dataset.memberRow) + 1}`));
    select.replaceChildren(el("option", { value: "" }, "None"), ...options);
    select.value = keep;
  }
}

function resetHouseholdForm() {
  $("new-household").reset();
  $("hh-members").replaceChildren(el("legend", {}, "People"), memberRow(0));
}

export async function loadProgram() {
  const { guard, show } = deps;
  const [homes, all] = await Promise.all([
    guard(() => api("GET", "/api/households")), guard(() => api("GET", "/api/series"))]);
  if (!homes || !all) return;
  const names = new Map(homes.map((h) => [h.id, h.label]));
  $("household-list").replaceChildren(...homes.map((h) => el("li", {},
    el("button", { type: "button", class: "link", "data-household": h.id, onclick: () => openHousehold(h.id) }, h.label),
    el("span", { class: "muted" }, ` · ${h.members.length} ${h.members.length === 1 ? "person" : "people"}`))));
  if (!homes.length) $("household-list").append(el("li", { class: "muted" }, "No households yet."));
  $("series-list").replaceChildren(...all.map((s) => el("li", {},
    el("button", { type: "button", class: "link", "data-series": s.id, onclick: () => openSeries(s.id) },
      `${names.get(s.household_id) || "Household"}: ${s.weekdays.map((d) => DAYS[d]).join(", ")} ${s.start_time}`),
    el("span", { class: "tz" }, ` (${s.timezone}) · ${s.occurrences.length} sessions`))));
  if (!all.length) $("series-list").append(el("li", { class: "muted" }, "No series yet."));
  $("new-household").hidden = deps.ctx.role === "co_therapist";
  if (!rows().length) resetHouseholdForm();
  mountPlans(deps.ctx.role !== "co_therapist");
  show("program");
}

async function openHousehold(id) {
  const { guard, show, ctx } = deps;
  const h = await guard(() => api("GET", `/api/households/${id}`));
  if (!h) return;
  household = h;
  $("household-title").textContent = h.label;
  $("household-members").querySelector("tbody").replaceChildren(...h.members.map((m) => el("tr", { "data-member": m.id },
    el("td", {}, m.name), el("td", {}, roleName(m.role)), el("td", {}, m.minor ? "yes" : "no"),
    el("td", {}, m.email || "—"),
    el("td", {}, el("button", { type: "button", class: "link", "data-edit": m.id,
      "aria-label": `Edit ${m.name}`, onclick: () => editMember(m) }, "Edit"), " ",
    h.members.length > 1 ? el("button", { type: "button", class: "link", onclick: async () => {
      if (!confirm(`Remove ${m.name} from ${h.label}? Their series links stop working.`)) return;
      const done = await guard(() => api("DELETE", `/api/households/${h.id}/members/${m.id}`), "household-status").catch(() => null);
      if (done) { await openHousehold(h.id); $("household-status").textContent = `${m.name} removed.`; }
    } }, "Remove") : ""))));
  $("sr-tz").value = ctx.clinic.timezone;
  $("sr-duration").placeholder = String(ctx.clinic.default_duration_minutes);
  if (!$("sr-first").value) $("sr-first").value = new Date().toISOString().slice(0, 10);
  const staff = await api("GET", "/api/staff").catch(() => []);
  $("sr-co").replaceChildren(el("option", { value: "" }, "None"),
    ...staff.filter((s) => s.role === "co_therapist" && s.active)
      .map((s) => el("option", { value: s.account_id }, s.username)));
  await fillPlans($("sr-plan"));
  $("household-status").textContent = "";
  stopEditing();
  show("household");
  await mountHouseholdRecords(h, $("household"));
}

// The add-person form doubles as the editor of one person (same id: their links,
// consent and attendance stay theirs).
let editing = null;

function editMember(m) {
  const f = $("add-member");
  editing = m;
  f.name.value = m.name;
  f.role.value = m.role;
  f.email.value = m.email || "";
  f.dob.value = m.date_of_birth || "";
  f.emergency.value = m.emergency_contact || "";
  $("am-title").textContent = `Edit ${m.name}`;
  $("am-submit").textContent = "Save changes";
  $("am-cancel").hidden = false;
  f.name.focus();
}

function stopEditing() {
  editing = null;
  $("add-member").reset();
  $("am-title").textContent = "Add a person";
  $("am-submit").textContent = "Add person";
  $("am-cancel").hidden = true;
}

// --- series ------------------------------------------------------------------------
async function openSeries(id) {
  const { guard, show, linkCell, ctx } = deps;
  const s = await guard(() => api("GET", `/api/series/${id}`));
  if (!s) return;
  series = s;
  const writer = ctx.role !== "co_therapist";
  const home = writer ? await api("GET", `/api/households/${s.household_id}`).catch(() => null) : null;
  $("series-title").textContent = home ? `${home.label}: weekly series` : "Weekly series";
  const duration = `${s.duration_minutes} minutes`;
  const ends = s.count ? `${s.count} sessions` : `until ${s.until}`;
  $("series-when").textContent = `${s.weekdays.map((d) => DAYS[d]).join(", ")} at ${s.start_time}, ${duration}, ${ends}. Time zone: ${s.timezone}.`;
  const members = home ? home.members : [];
  const shownAll = await Promise.all(members.map((m) =>
    api("GET", `/api/series/${s.id}/members/${m.id}/link`).catch(() => null)));
  const people = [];
  for (const [i, m] of members.entries()) {
    const link = shownAll[i] && shownAll[i].link;
    const extra = link ? [
      el("a", { href: `/api/series/${s.id}/members/${m.id}/invite.ics`, download: "sessions.ics",
                "data-ics-for": m.name }, "Calendar (.ics)"),
      m.email ? el("button", { type: "button", class: "link", onclick: () => emailInvite(m) }, "Email invitation") : null,
    ] : [];
    people.push(el("tr", { "data-member": m.id }, el("td", {}, m.name), el("td", {}, roleName(m.role)),
      linkCell({ label: m.name, link, extra, statusId: "series-status", onReissue: () => reissueSeriesLink(m) })));
  }
  $("series-members").querySelector("tbody").replaceChildren(...people);
  $("series-members").hidden = !people.length;
  const now = Date.now() / 1000;
  $("occurrences").querySelector("tbody").replaceChildren(...s.occurrences.map((o) => {
    const status = o.cancelled ? "cancelled" : o.moved ? "moved" : o.ends_at < now ? "past" : "scheduled";
    const actions = el("td", {});
    if (!o.cancelled && o.ends_at + 1800 > now) {
      actions.append(el("button", { type: "button", "data-open": o.index, onclick: () => openRoom(o) }, "Open room"));
    }
    if (writer && o.starts_at > now) {
      actions.append(el("button", { type: "button", class: "link", onclick: () => changeOcc(o, { cancelled: !o.cancelled }) },
        o.cancelled ? "Restore" : "Cancel"));
      if (!o.cancelled) {
        const input = el("input", { type: "datetime-local", "aria-label": `New time for session ${o.index + 1} (${s.timezone})`, class: "link-text" });
        actions.append(input, el("button", { type: "button", class: "link", onclick: () => {
          if (input.value) changeOcc(o, { move_to: input.value });
        } }, "Move"));
      }
    }
    if (writer && !o.cancelled && o.starts_at > now && members.length) {
      const who = el("select", { "aria-label": `Person for session ${o.index + 1}`, class: "link-text" },
        ...members.map((m) => el("option", { value: m.id }, `${m.name}${o.absent.includes(m.id) ? " (not attending)" : ""}`)));
      actions.append(who, el("button", { type: "button", class: "link", onclick: () => {
        const away = o.absent.includes(who.value);
        changeOcc(o, { absent: { member_id: who.value, absent: !away } });
      } }, "Mark not attending / attending"));
    }
    const names = new Map(members.map((m) => [m.id, m.name]));
    const absent = o.absent.length ? ` · not attending: ${o.absent.map((id) => names.get(id) || "removed").join(", ")}` : "";
    return el("tr", { class: o.cancelled ? "cancelled" : undefined, "data-occurrence": o.index },
      el("td", {}, String(o.index + 1)), el("td", {}, fmtWhen(o.starts_at, s.timezone)),
      el("td", {}, status + absent), actions);
  }));
  show("series");
}

async function reissueSeriesLink(m) {
  await deps.guard(() => api("POST", `/api/series/${series.id}/members/${m.id}/link`), "series-status");
  await openSeries(series.id);
  $("series-status").textContent = `${m.name}: a new link is shown; any earlier one no longer works.`;
}

async function emailInvite(m) {
  try {
    await api("POST", `/api/series/${series.id}/members/${m.id}/email`);
    $("series-status").textContent = `Invitation sent to ${m.name}'s email address.`;
  } catch (err) {
    $("series-status").textContent = err.code === "no_smtp" ? "Email is not set up on this server: copy the link and send it yourself." : err.message;
  }
}

async function changeOcc(o, body) {
  if (body.cancelled && !confirm(`Cancel session ${o.index + 1}? Links will not open for it.`)) return;
  await deps.guard(() => api("POST", `/api/series/${series.id}/occurrences/${o.index}`, body), "series-status").catch(() => null);
  const note = $("series-status").textContent;
  await openSeries(series.id);
  $("series-status").textContent = note;
}

async function openRoom(o) {
  const res = await deps.guard(() => api("POST", `/api/series/${series.id}/occurrences/${o.index}/join`), "series-status").catch(() => null);
  if (res) window.open(res.link, "_blank", "noopener");
}

// --- clinic and staff ----------------------------------------------------------------
export async function loadClinic() {
  const { guard, show, ctx } = deps;
  const clinic = await guard(() => api("GET", "/api/clinic"));
  if (!clinic) return;
  ctx.clinic = clinic;
  const f = $("clinic-form");
  f.name.value = clinic.name;
  f.timezone.value = clinic.timezone;
  f.duration.value = clinic.default_duration_minutes;
  f.crisis.value = clinic.crisis_lines.map((c) => `${c.label}: ${c.phone}`).join("\n");
  const staff = await guard(() => api("GET", "/api/staff"), "clinic-status");
  $("staff").querySelector("tbody").replaceChildren(...(staff || []).map((s) => el("tr", { "data-staff": s.username },
    el("td", {}, s.username), el("td", {}, s.role.replace("_", "-")), el("td", {}, s.active ? "active" : "deactivated"),
    el("td", {}, s.account_id === clinic.account_id ? "you" : el("button", { type: "button", class: s.active ? "danger" : undefined,
      onclick: async () => {
        if (s.active && !confirm(`Deactivate ${s.username}? They can no longer sign in; their sessions stay readable to you.`)) return;
        await guard(() => api("POST", `/api/staff/${s.account_id}/${s.active ? "deactivate" : "activate"}`), "clinic-status");
        await loadClinic();
      } }, s.active ? "Deactivate" : "Reactivate")))));
  show("clinic");
}

export function setupProgram(d) {
  deps = d;
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  $("tz-list").replaceChildren(...zones.map((z) => el("option", { value: z })));
  $("sr-days").replaceChildren(...DAYS.map((d, i) => el("label", { class: "check" },
    el("input", { type: "checkbox", name: "day", value: i }), d)));
  $("hh-add-member").addEventListener("click", () => {
    $("hh-members").append(memberRow(rows().length));
    refreshGuardians();
    rows().at(-1).querySelector("input").focus();
  });
  $("hh-members").addEventListener("input", (e) => { if (e.target.name === "name") refreshGuardians(); });

  $("new-household").addEventListener("submit", async (e) => {
    e.preventDefault();
    const members = rows().map((r) => {
      const v = (n) => r.querySelector(`[name=${n}]`).value.trim();
      const m = { name: v("name"), role: v("role"), guardian_of: [] };
      if (v("email")) m.email = v("email");
      if (v("dob")) m.date_of_birth = v("dob");
      if (v("emergency")) m.emergency_contact = v("emergency");
      return m;
    });
    rows().forEach((r, i) => {
      const g = r.querySelector("[name=guardian]").value;
      if (members[i].role === "child" && g !== "") members[Number(g)].guardian_of.push(`#${i}`);
    });
    const made = await deps.guard(() => api("POST", "/api/households", { label: $("hh-label").value.trim(), members }),
      "program-status").catch(() => null);
    if (!made) return;
    resetHouseholdForm();
    await openHousehold(made.id);
    $("household-status").textContent = `${made.label} created. Now plan their sessions.`;
  });

  $("new-series").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    const weekdays = [...f.querySelectorAll("[name=day]:checked")].map((c) => Number(c.value));
    if (!weekdays.length) { $("household-status").textContent = "Choose at least one day."; return; }
    const body = { household_id: household.id, weekdays, start_time: f.start_time.value,
                   first_date: f.first_date.value, timezone: f.timezone.value.trim() };
    if (f.duration.value) body.duration_minutes = Number(f.duration.value);
    if (f.until.value) body.until = f.until.value; else body.count = Number(f.count.value);
    if (f.co_therapist.value) body.co_therapist = f.co_therapist.value;
    const made = await deps.guard(() => api("POST", "/api/series", body), "household-status").catch(() => null);
    if (!made) return;
    await deps.guard(() => attachPlan("series", made.id, f.plan.value), "household-status").catch(() => null);
    await openSeries(made.id);
    $("series-status").textContent = `Series created with ${made.occurrences.length} sessions. Issue each person's link below.`;
  });

  $("am-cancel").addEventListener("click", () => {
    const who = editing;
    stopEditing();
    if (who) document.querySelector(`[data-edit="${who.id}"]`)?.focus();
  });
  $("add-member").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    if (editing) {
      const who = editing;
      const change = { name: f.name.value.trim(), role: f.role.value,
                       email: f.email.value.trim() || null, date_of_birth: f.dob.value || null,
                       emergency_contact: f.emergency.value.trim() || null };
      const done = await deps.guard(() => api("PATCH", `/api/households/${household.id}/members/${who.id}`, change),
        "household-status").catch(() => null);
      if (!done) return;
      await openHousehold(household.id);
      $("household-status").textContent = `${change.name} saved.`;
      document.querySelector(`[data-edit="${who.id}"]`)?.focus();
      return;
    }
    const body = { name: f.name.value.trim(), role: f.role.value };
    if (f.email.value.trim()) body.email = f.email.value.trim();
    if (f.dob.value) body.date_of_birth = f.dob.value;
    if (f.emergency.value.trim()) body.emergency_contact = f.emergency.value.trim();
    const done = await deps.guard(() => api("POST", `/api/households/${household.id}/members`, body), "household-status").catch(() => null);
    if (!done) return;
    f.reset();
    await openHousehold(household.id);
    $("household-status").textContent = `${body.name} added.`;
  });

  $("clinic-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    const crisis = f.crisis.value.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
      const at = l.lastIndexOf(":");
      return at > 0 ? { label: l.slice(0, at).trim(), phone: l.slice(at + 1).trim() } : { label: l, phone: l };
    });
    const saved = await deps.guard(() => api("PUT", "/api/clinic", {
      name: f.name.value.trim(), timezone: f.timezone.value.trim(),
      default_duration_minutes: Number(f.duration.value), crisis_lines: crisis }), "clinic-status").catch(() => null);
    if (saved) { Object.assign(deps.ctx.clinic, saved); $("clinic-status").textContent = "Clinic settings saved."; }
  });

  $("invite-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const res = await deps.guard(() => api("POST", "/api/staff/invites", { role: $("inv-role").value }), "clinic-status").catch(() => null);
    if (!res) return;
    $("inv-link").value = res.link;
    $("inv-link").hidden = false;
    $("inv-link").select();
    $("clinic-status").textContent = "Send this one-time link to the new staff member; it works once, for 7 days.";
  });
}

export { ApiError };

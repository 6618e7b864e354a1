// Console records: attendance and consent for one session, and program-wide reports
// (attendance for a date range against each household's weekly target, the consent
// ledger, consent documents). Every export is audited on the server.
import { api, el } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const mins = (s) => (s / 60).toFixed(1);
const hours = (s) => (s / 3600).toFixed(2);

function section(id, parent, title) {
  let box = $(id);
  if (!box) {
    box = el("section", { id, class: "card wide records", "aria-labelledby": `${id}-title` });
    parent.append(box);
  }
  box.replaceChildren(el("h2", { id: `${id}-title` }, title));
  return box;
}

function status(box) {
  const p = el("p", { role: "status", "aria-live": "polite", class: "records-status" });
  box.append(p);
  return p;
}

function now(p) {
  const last = p.intervals[p.intervals.length - 1];
  if (!last || last.end !== null) return "";
  return last.kind === "lobby" ? " (waiting in the lobby)" : " (in the session now)";
}

const STATES = { accepted: "accepted", missing: "not given", withdrawn: "withdrawn", outdated: "older version" };

// One session: each person's consent standing and attendance, with exports.
export async function mountRecords(session) {
  const host = $("detail");
  const box = section("records-session", host, "Consent and attendance");
  const say = status(box);
  let consent, attendance;
  try {
    [consent, attendance] = await Promise.all([
      api("GET", `/api/records/sessions/${session.id}/consent`),
      api("GET", `/api/records/sessions/${session.id}/attendance`),
    ]);
  } catch (err) { say.textContent = err.message; return; }
  box.append(el("h3", {}, "Consent"), el("table", { id: "consent-status" },
    el("thead", {}, el("tr", {}, ["Name", "Role", "Consent", ""].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, consent.people.filter((p) => p.needs_consent).map((p) => el("tr", { "data-participant": p.participant_id },
      el("td", {}, p.name), el("td", {}, p.role),
      el("td", {}, p.documents.map((d) => `${d.kind}: ${STATES[d.state] || d.state}${d.by_guardian ? " (by guardian)" : ""}`).join("; "),
        p.hold ? el("div", { class: "muted" }, p.hold) : null),
      el("td", {}, p.documents.some((d) => d.state === "accepted") ? el("button", { type: "button", onclick: async () => {
        if (!confirm(`Record that ${p.name} withdrew their telehealth consent? If they are in the session they go back to the lobby, and they cannot join again until they accept it.`)) return;
        try {
          await api("POST", `/api/records/sessions/${session.id}/participants/${p.participant_id}/consent/withdraw`, { kind: "telehealth" });
          await mountRecords(session);
        } catch (err) { say.textContent = err.message; }
      } }, "Record withdrawal") : null))))));
  box.append(el("h3", {}, "Attendance"), el("table", { id: "attendance-session" },
    el("thead", {}, el("tr", {}, ["Name", "Role", "Lobby (min)", "Attended (min)", "Rooms", "Drops"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, attendance.people.map((p) => el("tr", { "data-participant": p.participant_id },
      el("td", {}, p.name), el("td", {}, p.role), el("td", {}, mins(p.lobby_seconds)),
      el("td", { "data-seconds": p.attended_seconds }, mins(p.attended_seconds) + now(p)),
      el("td", {}, Object.entries(p.by_room_seconds).map(([room, s]) => `${room} ${mins(s)}`).join(", ")),
      el("td", {}, String(p.drops.length)))))));
  if (!attendance.people.length) box.append(el("p", { class: "muted" }, "Nobody has joined yet."));
  box.append(el("p", { class: "actions" },
    el("a", { href: `/api/records/sessions/${session.id}/attendance?format=csv`, download: "attendance.csv" }, "Export attendance (CSV)"),
    " ", el("a", { href: `/api/records/sessions/${session.id}/attendance`, download: "attendance.json" }, "Export attendance (JSON)")));
}

// One household: its weekly target and each person's hours over the last four weeks
// (weeks run Monday to Monday in the viewer's zone), with the same CSV export.
export async function mountHouseholdRecords(household, host) {
  const box = section("records-household", host, "Attendance");
  const say = status(box);
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const to = new Date().toISOString().slice(0, 10);
  const from = new Date(Date.now() - 27 * 86400000).toISOString().slice(0, 10);
  const q = new URLSearchParams({ from, to, tz, household_id: household.id });
  let target, report;
  try {
    [target, report] = await Promise.all([
      api("GET", `/api/records/households/${household.id}/target`),
      api("GET", `/api/records/attendance?${q}`)]);
  } catch (err) { say.textContent = err.message; return; }
  const form = el("form", { id: "household-target", class: "row" },
    el("div", {}, el("label", { for: "ht-hours" }, "Weekly target (hours per person)"),
      el("input", { id: "ht-hours", name: "hours", type: "number", min: "0.25", max: "80", step: "0.25",
        required: true, value: String(target.hours) })),
    el("button", { type: "submit" }, "Save target"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("PUT", `/api/records/households/${household.id}/target`, { hours: Number(form.hours.value) });
      await mountHouseholdRecords(household, host);
      $("records-household").querySelector(".records-status").textContent = "Target saved.";
      $("ht-hours").focus();
    } catch (err) { say.textContent = err.message; }
  });
  const weeks = [...new Set(report.people.flatMap((p) => p.weeks.map((w) => w.week)))].sort();
  const byPerson = report.people.map((p) => el("tr", { "data-member": p.member_id || "" },
    el("th", { scope: "row" }, p.name),
    ...weeks.map((wk) => {
      const w = p.weeks.find((x) => x.week === wk);
      return el("td", {}, w ? `${hours(w.attended_seconds)} h${w.met ? "" : " (below target)"}` : "—");
    }),
    el("td", {}, `${hours(p.total_seconds)} h`)));
  q.set("format", "csv");
  box.append(form,
    report.people.length
      ? el("table", { id: "household-attendance" },
        el("caption", {}, `Last four weeks (${tz})`),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Name"),
          ...weeks.map((wk) => el("th", { scope: "col" }, `Week of ${wk}`)), el("th", { scope: "col" }, "Total"))),
        el("tbody", {}, byPerson))
      : el("p", { class: "muted" }, "No attendance in the last four weeks."),
    el("p", {}, el("a", { href: `/api/records/attendance?${q}`, download: "attendance.csv" }, "Export (CSV)")));
}

function rangeForm(box, say) {
  const today = new Date().toISOString().slice(0, 10);
  const monthAgo = new Date(Date.now() - 28 * 86400000).toISOString().slice(0, 10);
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const out = el("div", { id: "attendance-report" });
  const form = el("form", { id: "attendance-range" },
    el("div", { class: "row" },
      el("div", {}, el("label", { for: "ar-from" }, "From"), el("input", { id: "ar-from", name: "from", type: "date", value: monthAgo, required: true })),
      el("div", {}, el("label", { for: "ar-to" }, "To"), el("input", { id: "ar-to", name: "to", type: "date", value: today, required: true })),
      el("div", {}, el("label", { for: "ar-household" }, "Household"), el("select", { id: "ar-household", name: "household" },
        el("option", { value: "" }, "All households")))),
    el("button", { type: "submit" }, "Show attendance"));
  const query = () => {
    const q = new URLSearchParams({ from: form.from.value, to: form.to.value, tz });
    if (form.household.value.trim()) q.set("household_id", form.household.value.trim());
    return q;
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const report = await api("GET", `/api/records/attendance?${query()}`);
      const q = query();
      q.set("format", "csv");
      out.replaceChildren(
        el("table", {}, el("thead", {}, el("tr", {}, ["Name", "Week", "Hours", "Weekly target", ""].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, report.people.flatMap((p) => p.weeks.map((w) => el("tr", {},
            el("td", {}, p.name), el("td", {}, w.week), el("td", {}, hours(w.attended_seconds)),
            el("td", {}, hours(w.target_seconds)), el("td", {}, w.met ? "met" : "below target")))))),
        report.people.length ? null : el("p", { class: "muted" }, "No attendance in this range."),
        el("p", {}, el("a", { href: `/api/records/attendance?${q}`, download: "attendance.csv" }, "Export this range (CSV)")));
    } catch (err) { say.textContent = err.message; }
  });
  box.append(form, out);
  api("GET", "/api/households").then((homes) => form.household.append(
    ...homes.map((h) => el("option", { value: h.id }, h.label)))).catch(() => null);
}

function documents(box, say, docs) {
  box.append(el("h3", {}, "Consent documents"), el("ul", { class: "plain", id: "consent-docs" }, docs.map((d) => el("li", {},
    d.current ? `${d.current.title}: version ${d.current.version}${d.current.required ? " (required)" : " (optional)"} · fingerprint ${d.current.hash.slice(0, 12)}`
      : `${d.default_title}: none published`))));
  const form = el("form", { id: "consent-publish" },
    el("div", { class: "row" },
      el("div", {}, el("label", { for: "cp-kind" }, "Document"), el("select", { id: "cp-kind", name: "kind" },
        docs.map((d) => el("option", { value: d.kind }, d.default_title)))),
      el("div", {}, el("label", { for: "cp-title" }, "Title"), el("input", { id: "cp-title", name: "title", required: true, maxlength: 120 }))),
    el("label", { for: "cp-text" }, "Text"), el("textarea", { id: "cp-text", name: "text", required: true, minlength: 20, maxlength: 20000, rows: 5 }),
    el("label", { class: "check" }, el("input", { type: "checkbox", name: "required" }), " Required to join"),
    el("button", { type: "submit" }, "Publish new version"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!confirm("Publish a new version? Everyone accepts it again before their next join.")) return;
    try {
      const doc = await api("POST", "/api/records/consent/documents", {
        kind: form.kind.value, title: form.title.value.trim(), text: form.text.value.trim(), required: form.required.checked });
      say.textContent = `${doc.title} version ${doc.version} published.`;
      form.reset();
    } catch (err) { say.textContent = err.message; }
  });
  box.append(form);
}

// Program-wide: attendance for a date range, the ledger, consent documents.
export async function mountProgramRecords() {
  const box = section("records-program", $("sessions"), "Records");
  const say = status(box);
  box.append(el("h3", {}, "Attendance"));
  rangeForm(box, say);
  box.append(el("h3", {}, "Consent ledger"), el("p", { class: "actions" },
    el("a", { href: "/api/records/consent/ledger?format=csv", download: "consent-ledger.csv" }, "Export ledger (CSV)"),
    " ", el("a", { href: "/api/records/consent/ledger", download: "consent-ledger.json" }, "Export ledger (JSON)")));
  try {
    documents(box, say, await api("GET", "/api/records/consent/documents"));
  } catch (err) { say.textContent = err.message; }
}

// Console: choose a session plan when creating a session or a series. The plan is
// attached once the session or series exists (PUT .../plan); a refusal is shown in the
// form's status line like any other.
import { api, el } from "/static/api.js";

export async function fillPlans(select) {
  const plans = await api("GET", "/api/plans").catch(() => []);
  const keep = select.value;
  select.replaceChildren(el("option", { value: "" }, "No plan"),
    ...plans.map((p) => el("option", { value: p.id },
      `${p.name} (${p.phases.map((x) => `${x.name} ${x.minutes}`).join(" → ")})`)));
  select.value = keep;
}

export function attachPlan(kind, id, planId) {
  if (!planId) return Promise.resolve(null);
  return api("PUT", `/api/${kind}/${id}/plan`, { plan_id: planId });
}

// ---- the clinic's plans (program page): list, create, edit, restore a default --------
const $ = (id) => document.getElementById(id);
const LAYOUTS = [["together", "Everyone together"], ["each_client_with_clinician", "Each partner alone with a clinician"],
  ["parents_and_children", "Parents with the therapist, children with the co-therapist"],
  ["households", "Each household alone"], ["custom", "Custom rooms"]];
const ROLES = ["therapist", "co_therapist", "client", "partner", "parent", "family", "child"];

function roomsText(rooms) {
  return (rooms || []).map((r) => `${r.name}: ${r.roles.join(", ")}`).join("; ");
}

// "Adults: partner, therapist; Kids: child, co-therapist" -> [{name, roles}]. A word
// that is not a role is refused with the list of roles, never dropped: a room that
// silently lost "kid" would leave the children in the main room.
export function parseRooms(text) {
  const rooms = text.split(";").map((part) => part.trim()).filter(Boolean).map((part) => {
    const at = part.indexOf(":");
    const name = (at < 0 ? part : part.slice(0, at)).trim();
    const roles = at < 0 ? [] : part.slice(at + 1).split(",").map((r) => r.trim()).filter(Boolean)
      .map((r) => r.toLowerCase().replace(/[\s-]+/g, "_"));
    const unknown = roles.filter((r) => !ROLES.includes(r));
    if (!name) throw new Error(`A room needs a name before its roles ("Adults: partner, therapist").`);
    if (unknown.length) throw new Error(`${name}: "${unknown.join('", "')}" is not a role. Roles: ${ROLES.join(", ")}.`);
    if (!roles.length) throw new Error(`${name}: say which roles go to this room ("${name}: partner, therapist").`);
    return { name, roles };
  });
  if (!rooms.length) throw new Error("Custom rooms: give at least one room (name: roles; …).");
  return rooms;
}

function phaseRow(phase, index) {
  const id = (what) => `pp-${what}-${index}`;
  const layout = el("select", { id: id("layout"), name: "layout" },
    ...LAYOUTS.map(([value, label]) => el("option", { value }, label)));
  layout.value = phase.layout || "together";
  const rooms = el("input", { id: id("rooms"), name: "rooms", maxlength: "400", value: roomsText(phase.rooms),
    placeholder: "Adults: partner, therapist; Kids: child, co_therapist" });
  const roomsBox = el("div", { hidden: layout.value !== "custom" },
    el("label", { for: id("rooms") }, "Rooms (name: roles; …)"), rooms);
  layout.addEventListener("change", () => { roomsBox.hidden = layout.value !== "custom"; });
  const row = el("div", { class: "row", "data-phase-row": String(index) },
    el("div", {}, el("label", { for: id("name") }, `Phase ${index + 1}`),
      el("input", { id: id("name"), name: "name", required: true, maxlength: "40", value: phase.name || "" })),
    el("div", {}, el("label", { for: id("minutes") }, "Minutes"),
      el("input", { id: id("minutes"), name: "minutes", type: "number", min: "1", max: "240", required: true,
        value: String(phase.minutes || 15) })),
    el("div", {}, el("label", { for: id("layout") }, "Layout"), layout),
    roomsBox,
    el("button", { type: "button", class: "link", onclick: () => row.remove() }, `Remove phase ${index + 1}`));
  return row;
}

// A refusal names the phase and leaves focus on the field to fix.
class FieldError extends Error {
  constructor(message, field) { super(message); this.field = field; }
}

function planBody(form) {
  const phases = [...form.querySelectorAll("[data-phase-row]")].map((row, i) => {
    const layout = row.querySelector("[name=layout]").value;
    const phase = { name: row.querySelector("[name=name]").value.trim(),
      minutes: Number(row.querySelector("[name=minutes]").value), layout };
    if (layout === "custom") {
      const field = row.querySelector("[name=rooms]");
      try {
        phase.rooms = parseRooms(field.value);
      } catch (err) {
        throw new FieldError(`Phase ${i + 1}: ${err.message}`, field);
      }
    }
    return phase;
  });
  return { name: form.querySelector("[name=plan_name]").value.trim(), phases };
}

function editPlan(plan, writer, reload) {
  const form = $("plan-form");
  let count = 0;
  const phases = el("fieldset", { id: "plan-phases" }, el("legend", {}, "Phases"),
    ...plan.phases.map((p) => phaseRow(p, count++)));
  form.replaceChildren(
    el("h3", {}, plan.id ? `Edit: ${plan.name}` : "New plan"),
    el("label", { for: "pp-plan-name" }, "Plan name"),
    el("input", { id: "pp-plan-name", name: "plan_name", required: true, maxlength: "80", value: plan.name }),
    phases,
    el("button", { type: "button", class: "link", id: "plan-add-phase",
      onclick: () => phases.append(phaseRow({ name: "", minutes: 15 }, count++)) }, "Add a phase"),
    el("button", { type: "submit", id: "plan-save" }, "Save plan"),
    el("button", { type: "button", class: "secondary", onclick: () => { form.hidden = true; } }, "Cancel"));
  form.onsubmit = async (e) => {
    e.preventDefault();
    form.querySelectorAll("[aria-invalid]").forEach((f) => f.removeAttribute("aria-invalid"));
    try {
      await api(plan.id ? "PUT" : "POST", plan.id ? `/api/plans/${plan.id}` : "/api/plans", planBody(form));
      form.hidden = true;
      $("plans-status").textContent = "Plan saved.";
      await reload();
    } catch (err) {
      $("plans-status").textContent = err.message;
      if (err.field) {
        err.field.setAttribute("aria-invalid", "true");
        err.field.setAttribute("aria-describedby", "plans-status");
        err.field.focus();
      }
    }
  };
  form.hidden = !writer;
  $("pp-plan-name").focus();
}

export async function mountPlans(writer) {
  const reload = () => mountPlans(writer);
  const plans = await api("GET", "/api/plans").catch((err) => { $("plans-status").textContent = err.message; return null; });
  if (!plans) return;
  $("plan-list").replaceChildren(...plans.map((p) => el("li", { "data-plan": p.id },
    el("strong", {}, p.name), " ",
    el("span", { class: "muted" }, p.phases.map((x) => `${x.name} ${x.minutes}`).join(" → ")),
    writer ? el("button", { type: "button", class: "link", onclick: () => editPlan(p, writer, reload) },
      el("span", {}, "Edit"), el("span", { class: "sr-only" }, ` ${p.name}`)) : "",
    writer && p.owner && p.default ? el("button", { type: "button", class: "link", onclick: async () => {
      await api("DELETE", `/api/plans/${p.id}`).catch((err) => { $("plans-status").textContent = err.message; });
      await reload();
    } }, "Restore as shipped") : "",
    writer && !p.default ? el("button", { type: "button", class: "link", onclick: async () => {
      if (!confirm(`Delete the plan ${p.name}?`)) return;
      await api("DELETE", `/api/plans/${p.id}`).catch((err) => { $("plans-status").textContent = err.message; });
      await reload();
    } }, "Delete") : "")));
  $("plan-new").hidden = !writer;
  $("plan-new").onclick = () => editPlan({ name: "", phases: [{ name: "Together", minutes: 20, layout: "together" }] }, writer, reload);
}

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

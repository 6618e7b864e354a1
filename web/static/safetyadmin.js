// Console: the clinic's safety settings (admin): whether clients are asked where they
// are at each pre-join, and the crisis-line table by region the safety panel reads.
import { api } from "/static/api.js";

const $ = (id) => document.getElementById(id);

function parse(text) {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).map((line) => {
    const [region, label, phone] = line.split("|").map((p) => (p || "").trim());
    return { region, label, phone };
  });
}

async function load() {
  const form = $("safety-form");
  try {
    const s = await api("GET", "/api/clinical/settings");
    form.location.checked = s.location_at_join;
    form.lines.value = s.crisis_lines.map((c) => `${c.region} | ${c.label} | ${c.phone}`).join("\n");
    $("safety-status").textContent = "";
  } catch (err) {
    $("safety-status").textContent = `Safety settings could not be loaded: ${err.message}`;
  }
}

function setup() {
  const form = $("safety-form");
  if (!form) return;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("PUT", "/api/clinical/settings", {
        location_at_join: form.location.checked, crisis_lines: parse(form.lines.value) });
      $("safety-status").textContent = "Safety settings saved.";
    } catch (err) {
      $("safety-status").textContent = `Not saved: ${err.message}`;
    }
  });
  const nav = $("nav-clinic");
  if (nav) nav.addEventListener("click", load);
}

setup();

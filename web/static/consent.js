// Consent at pre-join: the current versioned documents from the server, the person's
// own acceptance, and a guardian's consent for their child. The server holds the rule
// (a knock without consent is refused; a child is not admitted without a guardian's
// consent); this page records what the person agrees to, from their own link.
import { el } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 3000;

// The join page holds the person's link as an HttpOnly cookie named for the session in
// the address (`/join?s=<id>`); the server reads it, so no token is ever in this script.
async function call(method, path, body) {
  const session = new URLSearchParams(location.search).get("s") || "";
  path += `${path.includes("?") ? "&" : "?"}s=${encodeURIComponent(session)}`;
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
  return data.ok;
}

function when(ts) {
  return new Date(ts * 1000).toLocaleString();
}

function render(state) {
  const main = state.documents.find((d) => d.kind === "telehealth") || state.documents[0];
  if (!main) return;
  $("consent-text").textContent = main.text;
  $("consent-version").textContent = `(version ${main.version})`;
  const box = $("pj-consent").closest("fieldset");
  box.dataset.consentHash = main.hash;
  const notes = [el("p", { class: "muted", id: "consent-hash" }, `Document fingerprint ${main.hash.slice(0, 12)}`)];
  if (state.role === "child") {
    notes.push(el("p", { id: "consent-child-note" },
      "A parent or guardian gives consent for you from their own link. Tick the box to say you have read this."));
  } else if (main.standing.state === "accepted") {
    notes.push(el("p", { id: "consent-on-file" }, `You accepted this version on ${when(main.standing.at)}.`));
    const check = $("pj-consent");
    check.checked = true;
    check.dispatchEvent(new Event("change"));
  } else if (main.standing.state === "withdrawn") {
    notes.push(el("p", { id: "consent-withdrawn" }, "You withdrew your consent. Accept it again to join."));
  } else if (main.standing.state === "outdated") {
    notes.push(el("p", { id: "consent-outdated" }, "The text has changed since you last accepted it. Please read it again."));
  }
  for (const doc of state.documents.filter((d) => !d.required && state.role !== "child")) {
    const accepted = doc.standing.state === "accepted";
    notes.push(el("fieldset", { class: "consent", "data-consent-doc": doc.kind },
      el("legend", {}, `${doc.title} (version ${doc.version}, optional)`),
      el("p", {}, doc.text),
      el("label", { class: "check" },
        el("input", { type: "checkbox", "data-consent-kind": doc.kind, checked: accepted, disabled: accepted }),
        accepted ? " Accepted" : " I agree (optional)")));
  }
  for (const child of state.children) {
    const onFile = state.documents.every((d, i) => !d.required || child.documents[i].state === "accepted");
    const input = el("input", { type: "checkbox", "data-consent-child": child.participant_id, checked: onFile, disabled: onFile });
    const said = el("p", { role: "status", class: "muted" });
    // A guardian who is not joining themselves can give the consent without joining.
    const save = onFile ? null : el("button", { type: "button", "data-consent-save": child.participant_id, onclick: async () => {
      if (!input.checked) { said.textContent = `Tick the box to give consent for ${child.name}.`; return; }
      try {
        await consentFor(state, child.participant_id);
        input.disabled = true;
        save.remove();
        said.textContent = `Your consent for ${child.name} is on file.`;
      } catch (err) { said.textContent = `Your consent could not be saved: ${err.message}`; }
    } }, `Give consent for ${child.name} now`);
    notes.push(el("fieldset", { class: "consent", "data-consent-for": child.name },
      el("legend", {}, `Consent for ${child.name}`),
      el("label", { class: "check" }, input,
        onFile ? ` Your consent for ${child.name} is on file.`
          : ` I am ${child.name}'s parent or guardian, and I consent for ${child.name} to take part by video.`),
      save, said));
  }
  box.append(...notes);
}

async function record(state) {
  const required = state.documents.filter((d) => d.required);
  if (state.needs_consent && state.role !== "child") {
    for (const doc of required) {
      if (doc.standing.state !== "accepted") await call("POST", "/api/consent/accept", { kind: doc.kind, hash: doc.hash });
    }
    for (const input of document.querySelectorAll("input[data-consent-kind]:checked:not(:disabled)")) {
      const doc = state.documents.find((d) => d.kind === input.dataset.consentKind);
      await call("POST", "/api/consent/accept", { kind: doc.kind, hash: doc.hash });
    }
  }
  for (const input of document.querySelectorAll("input[data-consent-child]:checked:not(:disabled)")) {
    await consentFor(state, input.dataset.consentChild);
  }
}

async function consentFor(state, childId) {
  for (const doc of state.documents.filter((d) => d.required)) {
    await call("POST", "/api/consent/accept", { kind: doc.kind, hash: doc.hash, for_participant: childId });
  }
}

function watchHold() {
  const lobby = $("screen-lobby");
  let note = $("consent-hold");
  if (!note) {
    note = el("p", { id: "consent-hold", role: "status", class: "message", hidden: true });
    lobby.append(note);
  }
  const check = async () => {
    if (lobby.hidden && note.dataset.seen) return; // admitted (or the page moved on): stop
    const state = await call("GET", "/api/consent").catch(() => null);
    if (state && state.hold) {
      note.dataset.seen = "1";
      note.hidden = false;
      note.textContent = "We're waiting for your parent or guardian to give consent for you to join. " +
        "Once they have, your therapist can let you in.";
    } else if (state) {
      note.textContent = note.dataset.seen ? "Your guardian's consent is on file. Your therapist will let you in shortly." : "";
      note.hidden = !note.dataset.seen;
      return;
    }
    setTimeout(check, POLL_MS);
  };
  check();
}

// The one hook prejoin.js calls: wraps its Join callback so consent is recorded first.
export function withConsent(onJoin) {
  const ready = call("GET", "/api/consent").then((state) => { render(state); return state; }).catch(() => null);
  return async (choice) => {
    const state = await ready;
    if (state) {
      try {
        await record(state);
      } catch (err) {
        $("pj-help").textContent = `Your consent could not be saved: ${err.message}`;
        return;
      }
      const main = state.documents.find((d) => d.kind === "telehealth");
      if (main) choice = { ...choice, consentVersion: `v${main.version}` };
    }
    onJoin(choice);
    if (state && state.role === "child") watchHold();
  };
}

// The session plan's timeline (clinicians) and private rooms, drawn inside the session
// screen by room.js. Every action is a socket event through room.act, so a refusal
// (say "Partners apart: Room 2 has no clinician") shows next to the control that
// caused it. The "Next phase" button stays in place whatever the state, so keyboard
// focus is kept after a click.
import { html, nothing } from "/lit/lit-html.js";

const offsets = new WeakMap(); // state snapshot -> server clock minus ours, in seconds

function serverNow(st) {
  if (!offsets.has(st)) offsets.set(st, st.now - Date.now() / 1000);
  return Date.now() / 1000 + offsets.get(st);
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

const LAYOUT = {
  together: "everyone together",
  each_client_with_clinician: "each partner with a clinician",
  parents_and_children: "parents with the therapist, children with the co-therapist",
  households: "each household alone",
  custom: "custom rooms",
};

// "Time left 12:30" for the current phase, "Over by 1:05" once it has run out.
export function phaseClock(st) {
  const plan = st && st.plan;
  if (!plan || plan.status !== "running" || plan.started_at == null) return null;
  const phase = plan.phases[plan.index];
  const left = plan.started_at + phase.minutes * 60 - serverNow(st);
  return left >= 0 ? `Time left ${clock(left)}` : `Over by ${clock(-left)}`;
}

export function planView(room) {
  const st = room.state;
  const plan = st.plan;
  if (!room.clinician || !plan) return nothing;
  const running = plan.status === "running";
  const last = running && plan.index >= plan.phases.length - 1;
  const label = plan.status === "ready" ? "Start plan" : "Next phase";
  const next = running && !last ? plan.phases[plan.index + 1] : plan.status === "ready" ? plan.phases[0] : null;
  const closing = st.breakouts.phase === "closing";
  const pending = running && plan.pending != null ? plan.phases[plan.pending] : null;
  return html`<section id="plan" class="plan" aria-labelledby="plan-title">
    <h2 id="plan-title" class="plan-title">${plan.name}</h2>
    <ol class="plan-phases">
      ${plan.phases.map((p, i) => html`<li class=${i === plan.index && running ? "current" : i < plan.index ? "done" : ""}
        aria-current=${i === plan.index && running ? "step" : "false"}>
        <span class="plan-phase-name">${p.name}</span> <span class="muted">${p.minutes} min · ${LAYOUT[p.layout] || p.layout}</span></li>`)}
    </ol>
    <p class="plan-now">
      <span id="plan-current">${running ? `Now: ${plan.phases[plan.index].name}` : plan.status === "ready" ? "Not started" : "Plan finished"}</span>
      <span id="plan-clock" class="pill" role="timer" aria-live="off" ?hidden=${!phaseClock(st)}>${phaseClock(st) || ""}</span>
      ${closing ? html`<span id="plan-closing" class="muted">${pending
          ? `Rooms change to ${pending.name} after the countdown.` : "Rooms close after the countdown."}</span>
        <button type="button" id="plan-close-now" class="secondary"
          @click=${() => room.closeRooms(0, "plan-close-now", "plan-next")}>${pending ? "Change now" : "Close now"}</button>
        ${room.refusal("plan-close-now")}` : nothing}
    </p>
    <button type="button" id="plan-next" aria-describedby="plan-next-what"
      aria-disabled=${String(!next)}
      @click=${() => room.act("plan_next", {}, "plan-next").catch(() => null)}>${label}</button>
    <span id="plan-next-what" class="muted">${next ? `Next: ${next.name} (${LAYOUT[next.layout] || next.layout})` : "This is the last phase."}</span>
    ${room.refusal("plan-next")}
    <button type="button" id="plan-end" class="secondary" aria-describedby="plan-end-what"
      aria-disabled=${String(!running)}
      @click=${() => room.act("plan_end", {}, "plan-end").catch(() => null)}>End plan</button>
    <span id="plan-end-what" class="muted">${running ? "Stops the timeline; nobody is moved." : ""}</span>
    ${room.refusal("plan-end")}
  </section>`;
}

// Private rooms: the clinician's own (with "Bring back"), the guest's, and the
// neutral line others see only when the clinician chose to say so.
export function privateRoomsView(room) {
  const st = room.state;
  const me = st.me.id;
  const rooms = st.private_rooms || [];
  if (!rooms.length) return nothing;
  return html`<div id="private-rooms" class="private-rooms" role="status">
    ${rooms.map((r) => {
      if (room.clinician) {
        const mine = r.clinician === me;
        return html`<p data-private=${r.guest}>${mine ? `You are in a private room with ${r.guest_name}.` : `${r.clinician_name} is in a private room with ${r.guest_name}.`}
          <button type="button" id=${`private-end-${r.guest}`}
            @click=${() => room.act("private_room_end", { participant_id: r.guest }, `private:${r.guest}`).catch(() => null)}>Bring ${r.guest_name} back</button>
          ${room.refusal(`private:${r.guest}`)}</p>`;
      }
      if (r.guest === me) return html`<p>You are in a private room with ${r.clinician_name}.</p>`;
      return html`<p>${r.clinician_name} stepped out with ${r.guest_name}.</p>`;
    })}
  </div>`;
}

// Items for a person's options menu (clinicians, on a client): take them aside.
export function privateRoomItems(room, p, item) {
  const st = room.state;
  if ((st.private_rooms || []).some((r) => r.guest === p.id)) return;
  item("Move to a private room with me", () => room.menuAction(p.id, "private_room", { participant_id: p.id }));
  item("Move to a private room with me (tell the others)",
    () => room.menuAction(p.id, "private_room", { participant_id: p.id, announce: true }));
}

// From a discreet check-in cue: take that person aside at once (nobody is told).
export const checkinPrivateRoom = {
  label: "Move to a private room with me",
  run: (pid, room) => room.act("private_room", { participant_id: pid }, `person:${pid}`)
    .then(() => true, () => false),
};

export function privateRoomName(roomId) {
  return roomId && roomId.startsWith("aside-") ? "a private room" : null;
}

// The safety panel (clinicians), the discreet check-in (clients) and child-safe mode.
// The panel's data comes over REST with the page's own link, only for clinicians. The
// check-in is one socket event whose only echo is a quiet cue on the clinicians' pages:
// the client's page shows a neutral "Check-in" item in its "More" menu and nothing else.
import { html, nothing } from "/lit/lit-html.js";
import { repeat } from "/lit/directives/repeat.js";
import { api } from "/static/api.js";

// What a clinician may do from a check-in cue, besides opening the safety panel. Other
// modules add entries here ({ label, run(participantId, room) } returning a promise that
// resolves truthy on success, which also clears the cue); each becomes a button.
export const checkinActions = [];

export class Safety {
  constructor(room) {
    this.room = room;
    this.panel = null;
    this.said = "";
    this.cues = []; // {participant_id, name, at}
    this.moreOpen = false;
    this.checkedIn = "";
  }

  // ---- clinicians -----------------------------------------------------------
  async load() {
    if (this.loading) return;
    this.loading = true;
    const sid = encodeURIComponent(this.room.state.session.id);
    try {
      this.panel = await api("GET", `/api/clinical/sessions/${sid}/safety?s=${sid}`);
      this.said = "";
    } catch (err) {
      this.said = `The safety panel could not be loaded: ${err.message}`;
    }
    this.loading = false;
    this.room.render();
  }

  onCheckin(cue) {
    this.cues = [...this.cues.filter((c) => c.participant_id !== cue.participant_id), cue];
    this.room.say(`${cue.name} checked in.`);
    this.room.render(); // a quiet cue: a badge on the Safety tab and a line in it, no sound
  }

  cueView() {
    if (!this.cues.length) return nothing;
    return html`<ul id="checkin-cues" class="plain cues" aria-label="Check-ins">
      ${repeat(this.cues, (c) => c.participant_id, (c) => html`<li data-participant=${c.participant_id}>
        <span><strong><bdi>${c.name}</bdi></strong> would like a private word.</span>
        ${checkinActions.map((a) => html`<button type="button" @click=${async () => {
          if (await a.run(c.participant_id, this.room)) { this.cues = this.cues.filter((x) => x !== c); this.room.render(); }
        }}>${a.label}</button>`)}
        <button type="button" class="link" @click=${() => { this.cues = this.cues.filter((x) => x !== c); this.room.render(); }}>Dismiss</button>
      </li>`)}
    </ul>`;
  }

  view() {
    if (!this.panel && !this.said && !this.loading) this.load();
    const people = this.panel ? this.panel.people : [];
    return html`
      ${this.cueView()}
      <h2 id="safety-title">Safety</h2>
      <button type="button" id="safety-refresh" class="secondary" @click=${() => this.load()}>Refresh</button>
      <p role="status" class="muted">${this.said}</p>
      <ul id="safety-list" class="plain safety" aria-labelledby="safety-title">
        ${repeat(people, (p) => p.participant_id, (p) => html`<li data-participant=${p.participant_id}>
          <strong>${p.name}</strong>
          <dl>
            <dt>Here now</dt><dd class="location">${p.location ? `${p.location.place}, ${p.location.region}` : "Not confirmed"}</dd>
            <dt>Emergency contact</dt><dd>${p.emergency_contact || "None on file"}</dd>
            <dt>Crisis line</dt><dd class="crisis">${p.crisis_lines.length
              ? p.crisis_lines.map((c) => `${c.label}: ${c.phone}`).join("; ") : "None for this region"}</dd>
            <dt>Safety plan</dt><dd>${p.safety_plan_url
              ? html`<a href=${p.safety_plan_url} target="_blank" rel="noopener noreferrer">Open safety plan</a>` : "None on file"}</dd>
          </dl>
        </li>`)}
      </ul>`;
  }

  // ---- clients: the "More" menu with a plain Check-in item --------------------
  async checkIn() {
    this.moreOpen = false;
    try {
      await this.room.socket.call("checkin", {});
      this.checkedIn = "Checked in.";
    } catch (err) {
      this.checkedIn = err.code === "too_soon" ? "Checked in." : err.message;
    }
    this.room.render();
    setTimeout(() => { this.checkedIn = ""; this.room.render(); }, 4000);
    const more = document.getElementById("btn-more");
    if (more) more.focus();
  }

  moreView() {
    return html`<div class="more-menu">
      <button type="button" id="btn-more" aria-haspopup="menu" aria-expanded=${String(this.moreOpen)}
        aria-controls="more-menu" @click=${() => { this.moreOpen = !this.moreOpen; this.room.render(); }}>More</button>
      <div id="more-menu" role="menu" class="menu" aria-label="More" ?hidden=${!this.moreOpen}>
        <button type="button" role="menuitem" id="more-checkin" @click=${() => this.checkIn()}>Check-in</button>
        <button type="button" role="menuitem" id="more-shortcuts" @click=${() => { this.moreOpen = false; this.room.showShortcuts(); }}>Shortcuts</button>
      </div>
      <span id="more-status" class="muted" role="status">${this.checkedIn}</span>
    </div>`;
  }
}

// Child-safe mode: a badge for clinicians, and a menu item that switches it.
export function childSafeBadge(p) {
  return p.child_safe ? html`<span class="pill child-safe" title="Child-safe mode: chat with clinicians only, no screen share, no renaming">Child-safe</span>` : nothing;
}

export function childSafeItem(room, p, item) {
  if (p.role === "observer") return;
  item(p.child_safe ? "Turn child-safe mode off" : "Turn child-safe mode on",
    () => room.menuAction(p.id, "child_safe", { participant_id: p.id, on: !p.child_safe }));
}

// Private notes for clinicians. Read and written over REST with the session page's own
// link (the HttpOnly cookie named by ?s=<session>), never over the socket, so no other
// participant's connection ever carries them. Typing autosaves after a short pause.
import { html, nothing } from "/lit/lit-html.js";
import { repeat } from "/lit/directives/repeat.js";
import { api } from "/static/api.js";

const SAVE_AFTER_MS = 800;

function when(ts) {
  return new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export class Notes {
  constructor(room) {
    this.room = room;
    this.notes = [];
    this.current = null; // id of the note being written
    this.saving = null; // timer
    this.said = "";
    this.loaded = false;
  }

  sid() { return this.room.state.session.id; }

  path(tail = "") {
    const sid = encodeURIComponent(this.sid());
    return `/api/clinical/sessions/${sid}/notes${tail}?s=${sid}`;
  }

  async load() {
    if (this.loading) return;
    this.loading = true;
    try {
      this.notes = await api("GET", this.path());
      this.loaded = true;
    } catch (err) {
      this.said = `Notes could not be loaded: ${err.message}`;
      this.loaded = true;
    }
    this.loading = false;
    this.room.render();
  }

  mine(id) { return this.notes.find((n) => n.id === id && n.mine); }

  async start() {
    try {
      const note = await api("POST", this.path(), { text: "" });
      this.notes = [...this.notes, note];
      this.current = note.id;
      this.said = "";
    } catch (err) {
      this.said = `A note could not be started: ${err.message}`;
    }
    this.room.render();
    const box = document.getElementById("note-text");
    if (box) box.focus();
  }

  typed(e) {
    const note = this.mine(this.current);
    if (!note) return;
    note.text = e.target.value;
    this.said = "Editing…";
    clearTimeout(this.saving);
    this.saving = setTimeout(() => this.save(note), SAVE_AFTER_MS);
    this.room.render();
  }

  async save(note, change = { text: note.text }) {
    try {
      const saved = await api("PUT", this.path(`/${encodeURIComponent(note.id)}`), change);
      Object.assign(note, saved);
      this.said = `Saved at ${when(saved.updated)}`;
    } catch (err) {
      this.said = `Not saved: ${err.message}`;
    }
    this.room.render();
  }

  share(note, shared) { return this.save(note, { shared }); }

  view() {
    if (!this.loaded) {
      this.load();
      return html`<p class="muted">Loading notes…</p>`;
    }
    const current = this.mine(this.current);
    const exportHref = this.path("/export");
    return html`
      <h2 id="notes-title">Private notes</h2>
      <p class="muted">Only you see your notes, unless you share one with the co-therapist.</p>
      <div class="actions">
        <button type="button" id="note-new" @click=${() => this.start()}>New note</button>
        <a id="note-export" class="button secondary" href=${exportHref} download>Export progress note</a>
        <a id="note-print" class="button secondary" href=${`${exportHref}&format=html`} target="_blank"
          rel="noopener">Print or save as PDF<span class="sr-only"> (opens a new tab)</span></a>
      </div>
      ${current ? html`
        <label for="note-text">Note (${current.phase ? `${current.phase} · ` : ""}${current.room_name}, ${when(current.created)})</label>
        <textarea id="note-text" rows="6" maxlength="20000" .value=${current.text} @input=${(e) => this.typed(e)}></textarea>
        <label class="check"><input type="checkbox" id="note-share" .checked=${current.shared}
          @change=${(e) => this.share(current, e.target.checked)}> Share with the co-therapist</label>` : nothing}
      <p id="note-status" role="status" class="muted">${this.said}</p>
      <ol id="notes-list" class="plain notes" aria-labelledby="notes-title">
        ${repeat([...this.notes].reverse(), (n) => n.id, (n) => html`<li data-note=${n.id}>
          <span class="muted">${when(n.created)} · ${n.phase ? `${n.phase} · ` : ""}${n.room_name}${n.mine ? "" : ` · ${n.author_name}`}${n.shared ? " · shared" : ""}</span>
          <span class="text">${n.text || "(empty)"}</span>
          ${n.mine && n.id !== this.current ? html`<button type="button" class="link" @click=${() => { this.current = n.id; this.room.render(); }}>Edit</button>` : nothing}
        </li>`)}
      </ol>`;
  }
}

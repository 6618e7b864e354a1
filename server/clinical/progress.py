"""A draft progress note: date, duration, attendees with minutes, phases, and the notes
per phase (then per room). A draft for the clinician to edit; it is produced on request
and never stored. One list of blocks renders as Markdown (to paste into a record) or as
a printable page (the browser's "Save as PDF" makes the PDF a clinic files)."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Literal

from rooms.model import Session
from server.clinical.notes import Note
from server.records.attendance import Track, person_summary

ROLE_NAMES = {"therapist": "Therapist", "co_therapist": "Co-therapist", "client": "Client",
              "partner": "Partner", "parent": "Parent", "family": "Family", "child": "Child",
              "observer": "Observer"}

Kind = Literal["h1", "h2", "h3", "li", "p"]
Block = tuple[Kind, str]  # plain text; each renderer escapes for its own format


def _utc(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def note_blocks(title: str, session: Session, tracks: Sequence[Track],
                notes: Sequence[Note], now: float) -> list[Block]:
    starts = [s.start for t in tracks for s in t.segments if s.attended]
    ends = [s.end if s.end is not None else now for t in tracks for s in t.segments
            if s.attended]
    began = min(starts) if starts else session.created
    ended = max(ends) if ends else now
    out: list[Block] = [("h1", f"Progress note (draft): {title}"),
                        ("li", f"Date: {_utc(began)}"),
                        ("li", f"Duration: {max(0, round((ended - began) / 60))} minutes"),
                        ("h2", "Attendees")]
    if not tracks:
        out.append(("li", "No attendance recorded."))
    for t in tracks:
        summary = person_summary(t, now)
        out.append(("li", f"{t.name} ({ROLE_NAMES.get(t.role, t.role)}): "
                          f"{round(summary['attended_seconds'] / 60)} min"))
    phases: list[str] = []
    for n in notes:
        if n.phase and n.phase not in phases:
            phases.append(n.phase)
    out.append(("h2", "Phases"))
    out += [("li", p) for p in phases] or [("li", "No session plan was followed.")]
    out.append(("h2", "Notes"))
    if not notes:
        out.append(("p", "No notes were written."))
    groups: dict[str, list[Note]] = {}
    for n in notes:
        heading = f"Phase: {n.phase}" if n.phase else f"Room: {n.room_name}"
        groups.setdefault(heading, []).append(n)
    for heading, items in groups.items():
        out.append(("h3", heading))
        out += [("li", f"{_utc(n.created)[11:]}, {n.author_name}, {n.room_name}: {n.text}")
                for n in items]
    return out


_MD_PREFIX = {"h1": "# ", "h2": "## ", "h3": "### ", "li": "- ", "p": ""}


def markdown(blocks: Sequence[Block]) -> str:
    """One line per block: no heading or list can be injected by a name or a note."""
    out: list[str] = []
    previous: Kind | None = None
    for kind, text in blocks:
        if out and out[-1] and not (kind == "li" and previous == "li"):
            out.append("")  # a blank line between blocks, none inside a list
        out.append(_MD_PREFIX[kind] + _one_line(text).replace("#", "\\#"))
        if kind.startswith("h"):
            out.append("")
        previous = kind
    return "\n".join(out).rstrip() + "\n"


def progress_note(title: str, session: Session, tracks: Sequence[Track],
                  notes: Sequence[Note], now: float) -> str:
    return markdown(note_blocks(title, session, tracks, notes, now))


def printable(blocks: Sequence[Block]) -> str:
    """A page of its own under the strict CSP (no inline script or style): every text
    escaped, line breaks in a note kept."""
    title = next((text for kind, text in blocks if kind == "h1"), "Progress note")
    body: list[str] = []
    in_list = False
    for kind, text in blocks:
        if kind == "li" and not in_list:
            body.append("<ul>")
        elif kind != "li" and in_list:
            body.append("</ul>")
        in_list = kind == "li"
        shown = "<br>".join(html.escape(line) for line in text.strip().splitlines())
        body.append(f"<{kind}>{shown}</{kind}>")
    if in_list:
        body.append("</ul>")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(_one_line(title))}</title>"
        "<link rel=\"stylesheet\" href=\"/static/print.css\"></head><body>"
        "<p class=\"no-print\"><button type=\"button\" id=\"print-note\">"
        "Print or save as PDF</button></p><main id=\"note\">" + "".join(body) +
        "</main><script type=\"module\" src=\"/static/print-note.js\"></script>"
        "</body></html>\n")

"""A draft progress note in Markdown: date, duration, attendees with minutes, phases,
and the notes per phase (then per room). A draft for the clinician to edit; it is
produced on request and never stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from rooms.model import Session
from server.clinical.notes import Note
from server.records.attendance import Track, person_summary

ROLE_NAMES = {"therapist": "Therapist", "co_therapist": "Co-therapist", "client": "Client",
              "partner": "Partner", "parent": "Parent", "family": "Family", "child": "Child",
              "observer": "Observer"}


def _utc(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _line(text: str) -> str:
    """One Markdown line: no heading or list can be injected by a name or a note."""
    return " ".join(text.split()).replace("#", "\\#")


def progress_note(title: str, session: Session, tracks: Sequence[Track],
                  notes: Sequence[Note], now: float) -> str:
    starts = [s.start for t in tracks for s in t.segments if s.attended]
    ends = [s.end if s.end is not None else now for t in tracks for s in t.segments
            if s.attended]
    began = min(starts) if starts else session.created
    ended = max(ends) if ends else now
    out = [f"# Progress note (draft): {_line(title)}", ""]
    out.append(f"- Date: {_utc(began)}")
    out.append(f"- Duration: {max(0, round((ended - began) / 60))} minutes")
    out += ["", "## Attendees", ""]
    if not tracks:
        out.append("- No attendance recorded.")
    for t in tracks:
        summary = person_summary(t, now)
        out.append(f"- {_line(t.name)} ({ROLE_NAMES.get(t.role, t.role)}): "
                   f"{round(summary['attended_seconds'] / 60)} min")
    phases: list[str] = []
    for n in notes:
        label = n.phase or ""
        if label and label not in phases:
            phases.append(label)
    out += ["", "## Phases", ""]
    out += [f"- {_line(p)}" for p in phases] or ["- No session plan was followed."]
    out += ["", "## Notes", ""]
    if not notes:
        out.append("No notes were written.")
    groups: dict[str, list[Note]] = {}
    for n in notes:
        heading = f"Phase: {n.phase}" if n.phase else f"Room: {n.room_name}"
        groups.setdefault(heading, []).append(n)
    for heading, items in groups.items():
        out += [f"### {_line(heading)}", ""]
        for n in items:
            out.append(f"- {_utc(n.created)[11:]}, {_line(n.author_name)}, "
                       f"{_line(n.room_name)}: {_line(n.text)}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"

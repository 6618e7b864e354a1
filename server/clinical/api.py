"""REST for notes and the safety panel. Nothing here is ever sent on a socket.

Two kinds of caller, both identified by the server:
- a clinician of the session: from the session page, the personal link (the HttpOnly
  cookie named by ``?s=<session id>``, or ``Authorization: Bearer``) whose participant
  is the therapist or a co-therapist; or, from the console, a signed-in staff member
  who may read the session (notes: their own if they are in it, and shared ones);
- a client with a personal link: confirms their own location before joining.

Every read and export of notes, every read of the safety panel and every location
confirmed is written to the audit log (opaque ids only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from rooms.model import CLINICIANS, ParticipantStatus, Session
from server.api_program import require_role, require_staff
from server.appkeys import DIRECTORY, KEYS, LIVE, PROGRAM, ROOMS, STORE
from server.clinical.notes import MAX_TEXT, NoteBook, NoteError
from server.clinical.progress import markdown, note_blocks, printable
from server.clinical.safety import ASKED, Location, LocationGate, SafetyBook, SafetySettings
from server.http import ApiError, parse_body
from server.records.api import RECORDS, _link_holder
from server.records.sealed import Sealer
from server.responses import (
    ClinicalNote,
    LocationSaved,
    MyLocation,
    NoteDeleted,
    ProgressNote,
    SafetyPanel,
    SafetySettingsView,
)

GONE = (ParticipantStatus.REMOVED, ParticipantStatus.DENIED)


@dataclass
class Clinical:
    notes: NoteBook
    safety: SafetyBook


CLINICAL = web.AppKey("clinical", Clinical)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewNote(Strict):
    text: str = Field(max_length=MAX_TEXT)


class NoteChange(Strict):
    text: str | None = Field(None, max_length=MAX_TEXT)
    shared: bool | None = None


@dataclass(frozen=True)
class Reader:
    session: Session
    title: str
    pid: str | None  # the clinician participant reading (None: staff not in it)
    actor: str  # for the audit log


def _has_link(request: web.Request) -> bool:
    return request.headers.get("Authorization", "").startswith("Bearer ") \
        or bool(request.query.get("s"))


async def clinician(request: web.Request) -> Reader:
    sid = request.match_info["session_id"]
    if _has_link(request):
        holder = await _link_holder(request)
        if holder.session.id != sid or holder.me.role not in CLINICIANS \
                or holder.me.status in GONE:
            raise ApiError(404, "not_found", "no such session")
        record = await request.app[DIRECTORY].get(sid)
        return Reader(holder.session, record.title if record else "", holder.me.id,
                      holder.me.id)
    viewer = await require_staff(request)
    record = await request.app[DIRECTORY].get(sid)
    session = await request.app[ROOMS].get(sid)
    if record is None or session is None \
            or not await request.app[PROGRAM].may_read_session(viewer, record):
        raise ApiError(404, "not_found", "no such session")
    me = session.participants.get(viewer.id)
    pid = viewer.id if me is not None and me.role in CLINICIANS else None
    return Reader(session, record.title, pid, viewer.id)


async def _audit(request: web.Request, action: str, reader: Reader, **fields: Any) -> None:
    await request.app[LIVE].audit(action, {"session": reader.session.id,
                                           "actor": reader.actor, **fields})


def _notes_error(exc: NoteError) -> ApiError:
    return ApiError(exc.status, exc.code, str(exc))


def _author(reader: Reader) -> tuple[str, str]:
    if reader.pid is None:
        raise ApiError(403, "forbidden", "only a clinician in the session writes notes")
    return reader.pid, reader.session.participants[reader.pid].display_name


# --- notes -----------------------------------------------------------------------------
async def list_notes(request: web.Request) -> web.Response:
    reader = await clinician(request)
    notes = await request.app[CLINICAL].notes.readable(reader.session.id, reader.pid)
    await _audit(request, "notes_read", reader)
    return web.json_response({"ok": [n.view(reader.pid or "") for n in notes]},
                             headers={"Cache-Control": "no-store"})


async def create_note(request: web.Request) -> web.Response:
    reader = await clinician(request)
    author, name = _author(reader)
    body = await parse_body(request, NewNote)
    try:
        note = await request.app[CLINICAL].notes.create(reader.session, author, name, body.text)
    except NoteError as exc:
        raise _notes_error(exc) from exc
    await _audit(request, "note_written", reader, subject=note.id)
    return web.json_response({"ok": note.view(author)}, status=201)


async def change_note(request: web.Request) -> web.Response:
    reader = await clinician(request)
    author, _ = _author(reader)
    body = await parse_body(request, NoteChange)
    try:
        note = await request.app[CLINICAL].notes.update(
            reader.session.id, author, request.match_info["note_id"], text=body.text,
            shared=body.shared)
    except NoteError as exc:
        raise _notes_error(exc) from exc
    if body.shared is not None:
        await _audit(request, "note_shared" if body.shared else "note_unshared", reader,
                     subject=note.id)
    return web.json_response({"ok": note.view(author)})


async def delete_note(request: web.Request) -> web.Response:
    reader = await clinician(request)
    author, _ = _author(reader)
    try:
        await request.app[CLINICAL].notes.delete(reader.session.id, author,
                                                 request.match_info["note_id"])
    except NoteError as exc:
        raise _notes_error(exc) from exc
    await _audit(request, "note_deleted", reader, subject=request.match_info["note_id"])
    return web.json_response({"ok": {"deleted": request.match_info["note_id"]}})


async def export_notes(request: web.Request) -> web.Response:
    reader = await clinician(request)
    fmt = request.query.get("format", "md")
    if fmt not in ("md", "json", "html"):
        raise ApiError(400, "invalid", "format: md, json or html")
    notes = await request.app[CLINICAL].notes.readable(reader.session.id, reader.pid)
    tracks = await request.app[RECORDS].attendance.session_tracks(reader.session.id)
    await _audit(request, "notes_export", reader)
    blocks = note_blocks(reader.title, reader.session, tracks, notes, time.time())
    if fmt == "html":  # printable: the browser's "Save as PDF" gives the clinic its PDF
        return web.Response(text=printable(blocks), content_type="text/html",
                            charset="utf-8", headers={"Cache-Control": "no-store"})
    text = markdown(blocks)
    if fmt == "json":
        return web.json_response({"ok": {"markdown": text}},
                                 headers={"Cache-Control": "no-store"})
    return web.Response(text=text, content_type="text/markdown", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="progress-note-{reader.session.id}.md"',
        "Cache-Control": "no-store"})


# --- safety panel ----------------------------------------------------------------------
async def safety_panel(request: web.Request) -> web.Response:
    reader = await clinician(request)
    book = request.app[CLINICAL].safety
    settings = await book.settings()
    program = request.app[PROGRAM]
    people = []
    for p in reader.session.participants.values():
        if p.role not in ASKED:
            continue
        where = await book.location(reader.session.id, p.id)
        member = await program.session_member(reader.session.id, p.id)
        region = where["region"] if where else None
        people.append({
            "participant_id": p.id, "name": p.display_name, "role": p.role.value,
            "status": p.status.value, "location": where,
            "emergency_contact": member.emergency_contact if member else None,
            "safety_plan_url": member.safety_plan_url if member else None,
            "crisis_lines": [c.model_dump() for c in settings.lines_for(region)],
        })
    await _audit(request, "safety_panel_read", reader)
    return web.json_response({"ok": {"session_id": reader.session.id,
                                     "location_at_join": settings.location_at_join,
                                     "people": people}},
                             headers={"Cache-Control": "no-store"})


async def get_settings(request: web.Request) -> web.Response:
    await require_staff(request)
    settings = await request.app[CLINICAL].safety.settings()
    return web.json_response({"ok": settings.model_dump()})


async def put_settings(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    require_role(viewer, "admin")
    body = await parse_body(request, SafetySettings)
    saved = await request.app[CLINICAL].safety.set_settings(body)
    await request.app[LIVE].audit("safety_settings_changed", {"actor": viewer.id})
    return web.json_response({"ok": saved.model_dump()})


# --- a client's own location -----------------------------------------------------------
async def my_location(request: web.Request) -> web.Response:
    holder = await _link_holder(request)
    book = request.app[CLINICAL].safety
    settings = await book.settings()
    where = await book.location(holder.session.id, holder.me.id)
    return web.json_response({"ok": {
        "asked": settings.location_at_join and holder.me.role in ASKED,
        "location": where}}, headers={"Cache-Control": "no-store"})


async def confirm_location(request: web.Request) -> web.Response:
    holder = await _link_holder(request)
    body = await parse_body(request, Location)
    if holder.me.role not in ASKED:
        raise ApiError(403, "forbidden", "clinicians do not confirm a location here")
    at = await request.app[CLINICAL].safety.confirm(holder.session.id, holder.me.id, body)
    await request.app[LIVE].audit("location_confirmed", {
        "session": holder.session.id, "actor": holder.me.id, "subject": holder.me.id})
    return web.json_response({"ok": {"at": at}})


SESSION = "/api/clinical/sessions/{session_id}"
ROUTES: list[dict[str, Any]] = [
    {"method": "get", "path": f"{SESSION}/notes",
     "summary": "Clinicians: the notes you may read (yours, and those shared with you)",
     "handler": list_notes, "response": ClinicalNote, "many": True},
    {"method": "post", "path": f"{SESSION}/notes",
     "summary": "Clinicians: start a note (filed under your room and the plan's phase)",
     "handler": create_note, "body": NewNote, "ok": 201, "response": ClinicalNote},
    {"method": "put", "path": f"{SESSION}/notes/{{note_id}}",
     "summary": "Clinicians: save your note's text, or share it with the co-therapist",
     "handler": change_note, "body": NoteChange, "response": ClinicalNote},
    {"method": "delete", "path": f"{SESSION}/notes/{{note_id}}",
     "summary": "Clinicians: delete your note", "handler": delete_note,
     "response": NoteDeleted},
    {"method": "get", "path": f"{SESSION}/notes/export",
     "summary": "Clinicians: a draft progress note (format=md|json; html: a page to print "
                "or save as PDF)", "handler": export_notes,
     "response": ProgressNote},
    {"method": "get", "path": f"{SESSION}/safety",
     "summary": "Clinicians: location, emergency contact, crisis line and safety plan "
                "of each person", "handler": safety_panel, "response": SafetyPanel},
    {"method": "get", "path": "/api/clinical/settings",
     "summary": "Location at join and the crisis-line table", "handler": get_settings,
     "response": SafetySettingsView},
    {"method": "put", "path": "/api/clinical/settings",
     "summary": "Admin: ask for locations at join; edit the crisis-line table",
     "handler": put_settings, "body": SafetySettings, "response": SafetySettingsView},
    {"method": "get", "path": "/api/clinical/location",
     "summary": "With a personal link: whether your location is asked, and the one given",
     "handler": my_location, "auth": False, "response": MyLocation},
    {"method": "put", "path": "/api/clinical/location",
     "summary": "With a personal link: confirm where you are right now",
     "handler": confirm_location, "body": Location, "auth": False,
     "response": LocationSaved},
]


def setup(app: web.Application) -> None:
    """Build the notebooks, wrap the admission gate, add the routes."""
    sealer = Sealer(app[KEYS].data)
    clinical = Clinical(NoteBook(app[STORE], sealer), SafetyBook(app[STORE], sealer))
    app[CLINICAL] = clinical
    signaling = app[LIVE].signaling
    signaling.gate = LocationGate(signaling.gate, clinical.safety)
    for route in ROUTES:
        app.router.add_route(route["method"].upper(), route["path"], route["handler"])

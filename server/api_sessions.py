"""REST for clinicians: sessions, participants, personal links, invites.

Thin handlers: authenticate (active staff with a role), validate with a schema
class, delegate to the directory, the rooms service and the link signer, answer.
A therapist reaches their own sessions, a co-therapist the sessions they are on
(read and join only), the clinic admin every session (read only unless theirs).
A session the caller may not see answers 404, so ids cannot be probed. A person's
current link is kept sealed so it can be shown again; only an explicit re-issue
or revoke changes it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rooms.commands import AddParticipant, EndSession, RestoreParticipant, RevokeLink
from rooms.machine import new_session
from rooms.model import ParticipantStatus, Role, Session, SessionPhase
from server.api_program import require_role, require_staff
from server.appkeys import DIRECTORY, LINKS, LIVE, LOGINS, PROGRAM, ROOMS, SETTINGS
from server.directory import IssuedLink, SessionRecord
from server.http import ApiError, client_address, parse_body
from server.invites import invite_ics
from server.program.service import ProgramError, Viewer

EARLY_JOIN = 15 * 60  # links open 15 minutes before a scheduled start
LATE_GRACE = 60 * 60  # and close an hour after its end
THERAPIST_LINK_HOURS = 12

ParticipantRole = Literal[
    "co_therapist", "client", "partner", "parent", "family", "child", "observer"
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreateSessionBody(Strict):
    title: str = Field(min_length=1, max_length=120)
    starts_at: float | None = Field(None, description="Unix time of the scheduled start")
    ends_at: float | None = Field(
        None, description="Unix time of the scheduled end (default: the clinic's duration)")
    household_id: str | None = Field(
        None, max_length=40, description="Seat this household's people as participants")

    @model_validator(mode="after")
    def _window(self) -> CreateSessionBody:
        if self.starts_at is None and self.ends_at is not None:
            raise ValueError("ends_at: give starts_at too")
        if self.starts_at is not None and self.ends_at is not None:
            if self.ends_at <= self.starts_at:
                raise ValueError("ends_at must be after starts_at")
            if self.ends_at - self.starts_at > 24 * 3600:
                raise ValueError("a session lasts at most 24 hours")
        return self


class AddParticipantBody(Strict):
    display_name: str = Field(min_length=1, max_length=60)
    role: ParticipantRole
    guardian_of: list[str] = Field(default_factory=list, max_length=10)
    account_id: str | None = Field(
        None, max_length=64, description="A co-therapist's staff account: they see the session "
        "in their console and join it from there")

    @model_validator(mode="after")
    def _staff(self) -> AddParticipantBody:
        if self.account_id is not None and self.role != "co_therapist":
            raise ValueError("account_id: only for the co_therapist role")
        return self


def _participant_id() -> str:
    return "p" + uuid.uuid4().hex[:15]


def link_window(record: SessionRecord, now: float, lifetime_hours: int) -> tuple[float, float]:
    if record.starts_at is not None and record.ends_at is not None:
        return record.starts_at - EARLY_JOIN, record.ends_at + LATE_GRACE
    return now - 60, now + lifetime_hours * 3600


async def visible(request: web.Request, viewer: Viewer) -> SessionRecord:
    """A session the viewer may read: own, on it as co-therapist, or any for the admin."""
    record = await request.app[DIRECTORY].get(request.match_info["session_id"])
    if record is None or not await request.app[PROGRAM].may_read_session(viewer, record):
        raise ApiError(404, "not_found", "no such session")
    return record


async def owned(request: web.Request, viewer: Viewer) -> SessionRecord:
    """A session the viewer may change: only its own therapist's."""
    record = await visible(request, viewer)
    if record.owner != viewer.id:
        raise ApiError(403, "forbidden", "only the session's therapist may change it")
    return record


def participant_view(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "id": p.id,
            "display_name": p.display_name,
            "role": p.role.value,
            "status": p.status.value,
            "guardian_of": list(p.guardian_of),
        }
        for p in session.participants.values()
    ]


def record_view(record: SessionRecord, session: Session | None) -> dict[str, Any]:
    return {
        "id": record.id,
        "title": record.title,
        "starts_at": record.starts_at,
        "ends_at": record.ends_at,
        "owner": record.owner,
        "created": record.created,
        "phase": session.phase.value if session else "unknown",
    }


async def issue_link(
    request: web.Request, record: SessionRecord, participant_id: str, role: str, name: str,
    *, window: tuple[float, float] | None = None,
) -> tuple[str, IssuedLink]:
    settings = request.app[SETTINGS]
    now = time.time()
    nbf, exp = window or link_window(record, now, settings.link_lifetime_hours)
    token, claims = request.app[LINKS].issue(
        session_id=record.id, participant_id=participant_id, not_before=nbf, expires=exp,
    )
    issued = IssuedLink(participant_id, claims.jti, claims.not_before, claims.expires)
    previous = await request.app[DIRECTORY].record_link(record.id, issued)
    if previous is not None:
        await request.app[LINKS].revoke(previous.jti, until=previous.expires)
        await announce_revocation(request, record, participant_id)
    await audit_rest(request, "link_issued", record.id, participant_id)
    url = f"{settings.public_url}/join#{token}"
    await request.app[PROGRAM].keep_session_link(record.id, participant_id, url, issued.jti,
                                                issued.expires)
    return url, issued


async def shown_link(request: web.Request, record: SessionRecord, pid: str
                     ) -> tuple[str, float] | None:
    """The participant's current link, if it still works; nothing is revoked."""
    current = await request.app[DIRECTORY].current_link(record.id, pid)
    if current is None or current.expires <= time.time():
        return None
    return await request.app[PROGRAM].session_link(record.id, pid, current.jti)


async def announce_revocation(request: web.Request, record: SessionRecord,
                              participant_id: str) -> None:
    """The deny-list is written; make it a versioned session change so the node serving
    the session closes sockets still holding the old link (at once, not at reconnect)."""
    session = await request.app[ROOMS].get(record.id)
    if session is None or session.phase is SessionPhase.ENDED:
        return  # an ended session's links and sockets are already closed
    await request.app[ROOMS].execute(record.id, RevokeLink(actor=record.owner,
                                                           target=participant_id))


async def audit_rest(request: web.Request, action: str, session_id: str,
                     subject: str | None, outcome: str = "ok") -> None:
    account = await request.app[LOGINS].account(request)
    await request.app[LIVE].audit(action, {
        "actor": account.id if account else None, "subject": subject,
        "session": session_id, "address": client_address(
            request, request.app[SETTINGS].trusted_proxies), "outcome": outcome})


async def create_session(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    require_role(viewer, "admin", "therapist")
    account = viewer.account
    body = await parse_body(request, CreateSessionBody)
    ends_at = body.ends_at
    default_minutes = None
    if body.starts_at is not None and ends_at is None:
        default_minutes = (await request.app[PROGRAM].clinic()).default_duration_minutes
        ends_at = body.starts_at + default_minutes * 60
    record = await request.app[DIRECTORY].create(
        account.id, body.title, body.starts_at, ends_at
    )
    settings = request.app[SETTINGS]
    session = new_session(
        record.id, owner_id=account.id, owner_name=account.shown_name, title=body.title,
        now=time.time(), max_participants=settings.max_participants,
        max_breakouts=settings.max_breakouts,
        reconnect_grace=float(settings.reconnect_grace_seconds),
    )
    await request.app[ROOMS].create(session)
    if body.household_id is not None:
        try:
            await request.app[PROGRAM].seat_household(viewer, record.id, body.household_id)
        except ProgramError as exc:
            await request.app[ROOMS].execute(record.id, EndSession(actor=account.id))
            raise ApiError(exc.status, exc.code, exc.message) from exc
    view = record_view(record, session)
    view["default_duration_minutes"] = default_minutes
    return web.json_response({"ok": view}, status=201)


async def list_sessions(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    out = []
    for record in await request.app[PROGRAM].sessions_for(viewer):
        out.append(record_view(record, await request.app[ROOMS].get(record.id)))
    return web.json_response({"ok": out})


async def get_session(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    record = await visible(request, viewer)
    session = await request.app[ROOMS].get(record.id)
    view = record_view(record, session)
    view["participants"] = participant_view(session) if session else []
    return web.json_response({"ok": view})


async def add_participant(request: web.Request) -> web.Response:
    account = await require_staff(request)
    record = await owned(request, account)
    body = await parse_body(request, AddParticipantBody)
    pid = _participant_id()
    if body.account_id is not None:
        staff = await request.app[PROGRAM].staff(body.account_id)
        if staff is None or not staff.active or staff.role == "admin":
            raise ApiError(400, "invalid", "account_id: no such active clinician")
        pid = body.account_id
    await request.app[ROOMS].execute(
        record.id,
        AddParticipant(
            actor=account.id, participant_id=pid, role=Role(body.role),
            display_name=body.display_name, guardian_of=tuple(body.guardian_of),
        ),
    )
    if body.account_id is not None:
        await request.app[PROGRAM].put_on_session(body.account_id, record.id)
    url, issued = await issue_link(request, record, pid, body.role, body.display_name)
    return web.json_response(
        {"ok": {"participant_id": pid, "link": url, "expires": issued.expires}}, status=201
    )


async def _participant(request: web.Request, record: SessionRecord) -> tuple[str, str, str]:
    session = await request.app[ROOMS].get(record.id)
    pid = request.match_info["participant_id"]
    if session is None or pid not in session.participants:
        raise ApiError(404, "not_found", "no such participant")
    p = session.participants[pid]
    return pid, p.role.value, p.display_name


async def show_link(request: web.Request) -> web.Response:
    """Show the participant's current link again, without revoking it."""
    viewer = await require_staff(request)
    record = await owned(request, viewer)
    pid, _, _ = await _participant(request, record)
    found = await shown_link(request, record, pid)
    if found is None:
        return web.json_response({"ok": {"participant_id": pid, "link": None}})
    return web.json_response({"ok": {"participant_id": pid, "link": found[0],
                                     "expires": found[1]}})
async def _linkable(request: web.Request, record: SessionRecord) -> tuple[str, str, str]:
    """A participant who may be given a link: never one removed or denied until the
    therapist restores them (a link they could not use would be a silent trap)."""
    pid, role, name = await _participant(request, record)
    session = await request.app[ROOMS].get(record.id)
    assert session is not None
    status = session.participants[pid].status
    if status in (ParticipantStatus.REMOVED, ParticipantStatus.DENIED):
        await audit_rest(request, "link_refused", record.id, pid, outcome=status.value)
        raise ApiError(409, status.value,
                       f"this person was {status.value}; restore them before sending a link")
    return pid, role, name


async def reissue_link(request: web.Request) -> web.Response:
    """Revoke the participant's link and issue a new one: only on explicit request."""
    account = await require_staff(request)
    record = await owned(request, account)
    pid, role, name = await _linkable(request, record)
    url, issued = await issue_link(request, record, pid, role, name)
    return web.json_response({"ok": {"participant_id": pid, "link": url,
                                     "expires": issued.expires}})


async def revoke_link(request: web.Request) -> web.Response:
    account = await require_staff(request)
    record = await owned(request, account)
    pid, _, _ = await _participant(request, record)
    current = await request.app[DIRECTORY].current_link(record.id, pid)
    if current is not None:
        await request.app[LINKS].revoke(current.jti, until=current.expires)
    await request.app[PROGRAM].forget_session_link(record.id, pid)
    if current is not None:
        await announce_revocation(request, record, pid)
        await audit_rest(request, "link_revoked", record.id, pid)
    return web.json_response({"ok": {"participant_id": pid, "revoked": current is not None}})


async def restore_participant(request: web.Request) -> web.Response:
    """Undo a removal (or a denial): the person may be sent a new link, and knocks again."""
    viewer = await require_staff(request)
    record = await owned(request, viewer)
    pid, _, _ = await _participant(request, record)
    session, _ = await request.app[ROOMS].execute(
        record.id, RestoreParticipant(actor=viewer.id, target=pid))
    await audit_rest(request, "restored", record.id, pid)
    return web.json_response({"ok": {"participant_id": pid,
                                     "status": session.participants[pid].status.value}})


async def invite(request: web.Request) -> web.Response:
    """The participant's .ics with their current link: it never revokes anything."""
    account = await require_staff(request)
    record = await owned(request, account)
    pid, _, _ = await _linkable(request, record)
    if record.starts_at is None or record.ends_at is None:
        raise ApiError(409, "conflict", "the session has no schedule to invite to")
    found = await shown_link(request, record, pid)
    if found is None:
        raise ApiError(409, "no_link", "issue this person's link first")
    body = invite_ics(uid=f"{record.id}-{pid}@hearth", title=record.title, url=found[0],
                      starts_at=record.starts_at, ends_at=record.ends_at,
                      stamp=record.created)
    return web.Response(
        body=body, content_type="text/calendar",
        headers={"Content-Disposition": 'attachment; filename="session.ics"'},
    )


async def therapist_join(request: web.Request) -> web.Response:
    """A clinician's own short-lived link into the live session (owner or co-therapist)."""
    viewer = await require_staff(request)
    record = await visible(request, viewer)
    session = await request.app[ROOMS].get(record.id)
    me = None if session is None else session.participants.get(viewer.id)
    if me is None or me.role not in (Role.THERAPIST, Role.CO_THERAPIST):
        raise ApiError(403, "forbidden", "only the session's clinicians join it")
    account = viewer.account
    now = time.time()
    url, issued = await issue_link(
        request, record, account.id, me.role.value, account.shown_name,
        window=(now - 60, now + THERAPIST_LINK_HOURS * 3600),
    )
    return web.json_response({"ok": {"link": url, "expires": issued.expires}})


async def end_session(request: web.Request) -> web.Response:
    account = await require_staff(request)
    record = await owned(request, account)
    await request.app[ROOMS].execute(record.id, EndSession(actor=account.id))
    return web.json_response({"ok": {"id": record.id, "phase": "ended"}})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/sessions", create_session)
    r.add_get("/api/sessions", list_sessions)
    r.add_get("/api/sessions/{session_id}", get_session)
    r.add_post("/api/sessions/{session_id}/participants", add_participant)
    r.add_get("/api/sessions/{session_id}/participants/{participant_id}/link", show_link)
    r.add_post("/api/sessions/{session_id}/participants/{participant_id}/link", reissue_link)
    r.add_delete("/api/sessions/{session_id}/participants/{participant_id}/link", revoke_link)
    r.add_get("/api/sessions/{session_id}/participants/{participant_id}/invite.ics", invite)
    r.add_post("/api/sessions/{session_id}/join", therapist_join)
    r.add_post("/api/sessions/{session_id}/end", end_session)
    r.add_post("/api/sessions/{session_id}/participants/{participant_id}/restore",
               restore_participant)

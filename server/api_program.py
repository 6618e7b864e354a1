"""REST for the program: clinic settings, staff, households, series and their links.

Thin handlers: the signed-in account becomes a Viewer (active staff with a role),
bodies are validated with pydantic, the Program service decides, errors carry a
code. Whatever a viewer may not see answers 404, so ids cannot be probed; what a
role may never do answers 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jwt
from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rooms.stores import StoreError
from server.api_auth import require_therapist
from server.appkeys import (
    ACCOUNTS,
    DIRECTORY,
    KEYS,
    LINKS,
    LIVE,
    PROGRAM,
    ROOMS,
    SETTINGS,
    STORE,
)
from server.http import ApiError, client_address, parse_body, validation_message
from server.program import recurrence
from server.program.ics import series_ics
from server.program.mail import Mailer, MailError, SmtpTarget
from server.program.models import (
    ClinicSettings,
    CrisisLine,
    HouseholdBody,
    Member,
    MemberRole,
    SeriesRecord,
    StaffRole,
)
from server.program.sealing import Sealer
from server.program.service import (
    Program,
    ProgramError,
    SessionDefaults,
    Viewer,
    _new_id,
    check_members,
)
from server.records import people
from signaling.tokens import LinkError

MAILER = web.AppKey("mailer", Mailer)
REMINDER_INTERVAL = 60.0
log = logging.getLogger("hearth.program")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # a directory, too long
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


class ClinicBody(Strict):
    name: str = Field(min_length=1, max_length=120)
    timezone: str = Field(min_length=1, max_length=64)
    default_duration_minutes: int = Field(ge=15, le=480)
    crisis_lines: list[CrisisLine] = Field(default_factory=list, max_length=10)

    _tz = field_validator("timezone")(_zone)


class InviteBody(Strict):
    role: Literal["therapist", "co_therapist", "admin"]


class MemberBody(Strict):
    name: str = Field(min_length=1, max_length=80)
    role: MemberRole
    minor: bool = False
    date_of_birth: dt.date | None = None
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    emergency_contact: str | None = Field(None, max_length=200)
    safety_plan_url: str | None = Field(None, max_length=500, pattern=r"^https://[^\s<>\"]+$")
    guardian_of: list[str] = Field(default_factory=list, max_length=10)
    timezone: str | None = Field(None, max_length=64)
    id: str | None = Field(None, pattern=r"^m[0-9a-f]{15}$")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else _zone(v)

    def member(self) -> Member:
        minor = self.minor or self.role == "child"
        if self.date_of_birth is not None:
            today = dt.date.today()
            born = self.date_of_birth
            age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            minor = minor or age < 18
        return Member(
            id=self.id or _new_id("m"), name=self.name, role=self.role, minor=minor,
            date_of_birth=None if self.date_of_birth is None else self.date_of_birth.isoformat(),
            email=None if self.email is None else str(self.email),
            emergency_contact=self.emergency_contact, safety_plan_url=self.safety_plan_url,
            guardian_of=self.guardian_of,
            timezone=self.timezone,
        )


class MemberEdit(Strict):
    """A change to one person: only the fields given change; null clears an optional
    one. Role or date of birth given without ``minor`` recomputes it."""

    name: str | None = Field(None, min_length=1, max_length=80)
    role: MemberRole | None = None
    minor: bool | None = None
    date_of_birth: dt.date | None = None
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    emergency_contact: str | None = Field(None, max_length=200)
    guardian_of: list[str] | None = Field(None, max_length=10)
    timezone: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _some(self) -> MemberEdit:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for required in ("name", "role", "minor", "guardian_of"):
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{required}: cannot be cleared")
        return self

    def apply(self, member: Member) -> Member:
        data = member.model_dump()
        given = self.model_dump(include=self.model_fields_set)
        if "minor" not in given and {"role", "date_of_birth"} & given.keys():
            data["minor"] = False  # recomputed from the role and date of birth
        return MemberBody.model_validate({**data, **given}).member()


class HouseholdBodyIn(Strict):
    label: str = Field(min_length=1, max_length=80)
    members: list[MemberBody] = Field(min_length=1, max_length=20)


class SeriesBody(Strict):
    household_id: str = Field(min_length=1, max_length=40)
    co_therapist: str | None = Field(None, max_length=64)
    timezone: str | None = Field(None, max_length=64)
    weekdays: list[int] = Field(min_length=1, max_length=7)
    start_time: str
    duration_minutes: int | None = Field(None, ge=15, le=480)
    first_date: dt.date
    count: int | None = Field(None, ge=1, le=recurrence.MAX_OCCURRENCES)
    until: dt.date | None = None

    @field_validator("weekdays")
    @classmethod
    def _days(cls, v: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in v) or len(set(v)) != len(v):
            raise ValueError("weekdays: distinct numbers 0 (Monday) to 6 (Sunday)")
        return sorted(v)

    @field_validator("start_time")
    @classmethod
    def _time(cls, v: str) -> str:
        if not TIME_RE.match(v):
            raise ValueError("start_time: HH:MM, 24-hour")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else _zone(v)

    @model_validator(mode="after")
    def _end(self) -> SeriesBody:
        if (self.count is None) == (self.until is None):
            raise ValueError("give either count or until")
        if self.until is not None and self.until < self.first_date:
            raise ValueError("until: before first_date")
        if self.until is not None and (self.until - self.first_date).days > 2 * 366:
            raise ValueError("until: a series lasts at most two years")
        return self


class AbsentBody(Strict):
    member_id: str = Field(min_length=1, max_length=40)
    absent: bool


class OccurrenceBody(Strict):
    cancelled: bool | None = None
    move_to: dt.datetime | None = Field(None, description="New local start (series' zone)")
    absent: AbsentBody | None = None

    @model_validator(mode="after")
    def _one(self) -> OccurrenceBody:
        if sum(x is not None for x in (self.cancelled, self.move_to, self.absent)) != 1:
            raise ValueError("give exactly one of cancelled, move_to, absent")
        if self.move_to is not None and self.move_to.tzinfo is not None:
            raise ValueError("move_to: a local time without offset")
        return self


class TokenBody(Strict):
    token: str = Field(min_length=10, max_length=4096)


# --- helpers ------------------------------------------------------------------------
def program_of(request: web.Request) -> Program:
    return request.app[PROGRAM]


async def require_staff(request: web.Request) -> Viewer:
    """The signed-in, active staff member (401 signed out, 403 deactivated)."""
    account = await require_therapist(request)
    viewer = await program_of(request).viewer(account)
    if viewer is None:
        raise ApiError(403, "deactivated", "this account has been deactivated")
    return viewer


def require_role(viewer: Viewer, *roles: StaffRole) -> None:
    if viewer.role not in roles:
        raise ApiError(403, "forbidden", "your role may not do this")


def _raise(exc: ProgramError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def household_view(hid: str, owner: str, body: HouseholdBody) -> dict[str, Any]:
    return {"id": hid, "owner": owner, "label": body.label,
            "members": [m.model_dump() for m in body.members]}


def occurrence_view(o: recurrence.Occurrence, absent: list[str]) -> dict[str, Any]:
    return {"index": o.index, "starts_at": o.starts_at, "ends_at": o.ends_at,
            "cancelled": o.cancelled, "moved": o.moved, "absent": absent}


def series_view(s: SeriesRecord) -> dict[str, Any]:
    items = recurrence.occurrences(s)
    return {
        "id": s.id, "household_id": s.household_id, "owner": s.owner,
        "co_therapist": s.co_therapist, "timezone": s.timezone, "weekdays": s.weekdays,
        "start_time": s.start_time, "duration_minutes": s.duration_minutes,
        "first_date": s.first_date, "count": s.count, "until": s.until,
        "occurrences": [occurrence_view(o, s.absent.get(str(o.index), [])) for o in items],
    }


# --- clinic and staff -----------------------------------------------------------------
async def _audit(request: web.Request, action: str, viewer: Viewer, *,
                 subject: str | None = None, session: str | None = None,
                 code: str | None = None) -> None:
    """Audit a staff or link action (``session`` holds the series id for series links)."""
    await request.app[LIVE].audit(action, {
        "actor": viewer.id, "subject": subject, "session": session, "code": code,
        "outcome": "ok",
        "address": client_address(request, request.app[SETTINGS].trusted_proxies)})


async def get_clinic(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    clinic = await program_of(request).clinic()
    return web.json_response({"ok": {**clinic.model_dump(), "role": viewer.role,
                                     "account_id": viewer.id}})


async def put_clinic(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    require_role(viewer, "admin")
    body = await parse_body(request, ClinicBody)
    saved = await program_of(request).set_clinic(ClinicSettings(**body.model_dump()))
    await _audit(request, "settings_change", viewer, code="clinic")
    return web.json_response({"ok": saved.model_dump()})


async def list_staff(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    require_role(viewer, "admin", "therapist")
    staff = await program_of(request).list_staff()
    return web.json_response({"ok": [
        {"account_id": r.account_id, "username": name, "role": r.role, "active": r.active}
        for r, name in staff if viewer.role == "admin" or r.active
    ]})


async def invite_staff(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    require_role(viewer, "admin")
    body = await parse_body(request, InviteBody)
    link = await program_of(request).invite_staff(body.role)
    await _audit(request, "staff_invited", viewer, code=body.role)
    return web.json_response({"ok": {"link": link, "role": body.role}}, status=201)


async def _set_active(request: web.Request, active: bool) -> web.Response:
    viewer = await require_staff(request)
    require_role(viewer, "admin")
    try:
        record = await program_of(request).set_active(
            viewer, request.match_info["account_id"], active)
    except ProgramError as exc:
        raise _raise(exc) from exc
    await _audit(request, "staff_activated" if active else "staff_deactivated", viewer,
                 subject=record.account_id)
    return web.json_response({"ok": {"account_id": record.account_id, "active": record.active}})


async def deactivate_staff(request: web.Request) -> web.Response:
    return await _set_active(request, False)


async def activate_staff(request: web.Request) -> web.Response:
    return await _set_active(request, True)


# --- households -----------------------------------------------------------------------
async def create_household(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    require_role(viewer, "admin", "therapist")
    body = await parse_body(request, HouseholdBodyIn)
    members = [m.member() for m in body.members]
    # Guardianship may name members of the same request by their position: "#0", "#1".
    by_pos = {f"#{i}": m.id for i, m in enumerate(members)}
    members = [m.model_copy(update={"guardian_of": [by_pos.get(g, g) for g in m.guardian_of]})
               for m in members]
    household = HouseholdBody(label=body.label, members=members)
    try:
        check_members(members)
        record = await program_of(request).create_household(viewer.id, household)
    except ProgramError as exc:
        raise _raise(exc) from exc
    return web.json_response({"ok": household_view(record.id, record.owner, household)},
                             status=201)


async def list_households(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    found = await program_of(request).households(viewer)
    return web.json_response({"ok": [household_view(r.id, r.owner, b) for r, b in found]})


async def get_household(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    try:
        record, body = await program_of(request).household(viewer, request.match_info["hid"])
    except ProgramError as exc:
        raise _raise(exc) from exc
    return web.json_response({"ok": household_view(record.id, record.owner, body)})


async def add_member(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    body = await parse_body(request, MemberBody)
    try:
        record, household = await program_of(request).add_member(
            viewer, request.match_info["hid"], body.member())
    except ProgramError as exc:
        raise _raise(exc) from exc
    return web.json_response({"ok": household_view(record.id, record.owner, household)},
                             status=201)


async def edit_member(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    body = await parse_body(request, MemberEdit)
    try:
        record, household = await program_of(request).edit_member(
            viewer, request.match_info["hid"], request.match_info["mid"], body.apply)
    except ProgramError as exc:
        raise _raise(exc) from exc
    except ValidationError as exc:
        raise ApiError(400, "invalid", validation_message(exc)) from exc
    await request.app[LIVE].audit("household_member_edited", {
        "actor": viewer.id, "subject": request.match_info["mid"]})
    return web.json_response({"ok": household_view(record.id, record.owner, household)})


async def remove_member(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    try:
        record, household = await program_of(request).remove_member(
            viewer, request.match_info["hid"], request.match_info["mid"])
    except ProgramError as exc:
        raise _raise(exc) from exc
    return web.json_response({"ok": household_view(record.id, record.owner, household)})


# --- series ---------------------------------------------------------------------------
async def create_series(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    require_role(viewer, "admin", "therapist")
    body = await parse_body(request, SeriesBody)
    program = program_of(request)
    clinic = await program.clinic()
    record = SeriesRecord(
        id=_new_id("s"), household_id=body.household_id, owner=viewer.id,
        co_therapist=body.co_therapist, timezone=body.timezone or clinic.timezone,
        weekdays=body.weekdays, start_time=body.start_time,
        duration_minutes=body.duration_minutes or clinic.default_duration_minutes,
        first_date=body.first_date.isoformat(), count=body.count,
        until=None if body.until is None else body.until.isoformat(), created=time.time(),
    )
    try:
        created = await program.create_series(viewer, record)
    except ProgramError as exc:
        raise _raise(exc) from exc
    return web.json_response({"ok": series_view(created)}, status=201)


async def list_series(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    found = await program_of(request).series_list(viewer)
    return web.json_response({"ok": [series_view(s) for s in found]})


async def get_series(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    try:
        record = await program_of(request).series(viewer, request.match_info["sid"])
    except ProgramError as exc:
        raise _raise(exc) from exc
    return web.json_response({"ok": series_view(record)})


def _index(request: web.Request) -> int:
    raw = request.match_info["index"]
    if not raw.isdigit() or len(raw) > 4:
        raise ApiError(404, "not_found", "no such occurrence")
    return int(raw)


async def change_occurrence(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    body = await parse_body(request, OccurrenceBody)
    program = program_of(request)
    sid = request.match_info["sid"]
    index = _index(request)
    try:
        record = await program.series(viewer, sid, write=True)
        move_to = None
        if body.move_to is not None:
            move_to = body.move_to.replace(tzinfo=ZoneInfo(record.timezone)).timestamp()
        updated = await program.change_occurrence(
            viewer, sid, index, cancelled=body.cancelled, move_to=move_to,
            absent=None if body.absent is None else (body.absent.member_id, body.absent.absent),
        )
    except ProgramError as exc:
        raise _raise(exc) from exc
    return web.json_response({"ok": series_view(updated)})


async def join_occurrence(request: web.Request) -> web.Response:
    """A clinician's own short-lived link into an occurrence (made a session if needed)."""
    viewer = await require_staff(request)
    program = program_of(request)
    index = _index(request)
    try:
        record = await program.series(viewer, request.match_info["sid"])
        items = recurrence.occurrences(record)
        if not 0 <= index < len(items):
            raise ProgramError(404, "not_found", "no such occurrence")
        if items[index].cancelled:
            raise ProgramError(409, "cancelled", "this occurrence was cancelled")
        if viewer.id not in (record.owner, record.co_therapist):
            raise ProgramError(403, "forbidden", "only the series' clinicians join it")
        occ = await program.materialize(record, items[index])
    except ProgramError as exc:
        raise _raise(exc) from exc
    now = time.time()
    token, claims = request.app[LINKS].issue(
        session_id=occ.session_id, participant_id=viewer.id, not_before=now - 60,
        expires=now + 12 * 3600)
    url = f"{request.app[SETTINGS].public_url}/join#{token}"
    return web.json_response({"ok": {"link": url, "session_id": occ.session_id,
                                     "expires": claims.expires}})


# --- personal series links ------------------------------------------------------------
def _member_ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["sid"], request.match_info["mid"]


async def show_link(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    sid, mid = _member_ids(request)
    try:
        found = await program_of(request).current_link(viewer, sid, mid)
    except ProgramError as exc:
        raise _raise(exc) from exc
    if found is None:
        return web.json_response({"ok": {"member_id": mid, "link": None}})
    return web.json_response({"ok": {"member_id": mid, "link": found[0], "expires": found[1]}})


async def reissue_link(request: web.Request) -> web.Response:
    """Revoke the person's link (if any) and issue a new one: an explicit act."""
    viewer = await require_staff(request)
    sid, mid = _member_ids(request)
    try:
        url, expires = await program_of(request).issue_link(viewer, sid, mid)
    except ProgramError as exc:
        raise _raise(exc) from exc
    await _audit(request, "series_link_issued", viewer, subject=mid, session=sid)
    return web.json_response({"ok": {"member_id": mid, "link": url, "expires": expires}},
                             status=201)


async def revoke_link(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    sid, mid = _member_ids(request)
    try:
        await program_of(request).current_link(viewer, sid, mid)  # 404s for others
        revoked = await program_of(request).revoke_link(viewer, sid, mid)
    except ProgramError as exc:
        raise _raise(exc) from exc
    if revoked:
        await _audit(request, "series_link_revoked", viewer, subject=mid, session=sid)
    return web.json_response({"ok": {"member_id": mid, "revoked": revoked}})


async def series_invite(request: web.Request) -> web.Response:
    """The person's .ics for the whole series: never issues or revokes a link."""
    viewer = await require_staff(request)
    sid, mid = _member_ids(request)
    program = program_of(request)
    try:
        found = await program.current_link(viewer, sid, mid)
        record = await program.series(viewer, sid, write=True)
    except ProgramError as exc:
        raise _raise(exc) from exc
    if found is None:
        raise ApiError(409, "no_link", "issue this person's link first")
    clinic = await program.clinic()
    body = series_ics(record, recurrence.occurrences(record), uid=f"{sid}-{mid}@hearth",
                      clinic=clinic.name, url=found[0])
    return web.Response(body=body, content_type="text/calendar", headers={
        "Content-Disposition": 'attachment; filename="sessions.ics"'})


async def email_invitation(request: web.Request) -> web.Response:
    """Email the person their link and session times (clinic name, times, link only)."""
    viewer = await require_staff(request)
    sid, mid = _member_ids(request)
    program = program_of(request)
    try:
        await program.series(viewer, sid, write=True)
        mailer = request.app.get(MAILER)
        if mailer is None:
            raise ProgramError(409, "no_smtp", "email is not set up: copy the link instead")
        await program.send_invitation(viewer, sid, mid, mailer)
    except ProgramError as exc:
        raise _raise(exc) from exc
    except MailError as exc:
        raise ApiError(502, "mail_failed", str(exc)) from exc
    return web.json_response({"ok": {"member_id": mid, "sent": True}})


async def reminders_ctx(app: web.Application) -> AsyncIterator[None]:
    """Send due reminders once a minute while the app runs (only with SMTP set)."""
    async def loop() -> None:
        while True:
            try:
                sent = await app[PROGRAM].send_due_reminders(app[MAILER])
                if sent:
                    log.info("reminders sent", extra={"count": sent})
            except (StoreError, MailError) as exc:
                log.warning("reminders postponed", extra={"reason": type(exc).__name__})
            await asyncio.sleep(REMINDER_INTERVAL)

    task = asyncio.get_running_loop().create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def join_status(request: web.Request) -> web.Response:
    """For the join page: is this link open now, and if not, when is the next start."""
    body = await parse_body(request, TokenBody)
    try:
        claims = await request.app[LINKS].verify(body.token)
        status = await program_of(request).link_status(claims)
    except LinkError as exc:
        start = None
        if exc.code == "not_yet_valid":
            start = await _scheduled_start(request, body.token)
        return web.json_response({"ok": {"open": False, "code": exc.code,
                                         "message": str(exc), "next_start": start}})
    return web.json_response({"ok": status})


async def _scheduled_start(request: web.Request, token: str) -> float | None:
    """The start of the session a genuine (signed) but not-yet-open link names."""
    ring = request.app[KEYS].ring
    try:
        key = ring.keys.get(str(jwt.get_unverified_header(token).get("kid")))
        if key is None:
            return None
        claims = jwt.decode(token, key, algorithms=["HS256"], audience="hearth-join",
                            issuer=request.app[SETTINGS].public_url,
                            options={"verify_nbf": False})
    except jwt.PyJWTError:
        return None
    record = await request.app[DIRECTORY].get(str(claims.get("sid")))
    return None if record is None else record.starts_at


class HouseholdMembers:
    """Records' view of the program: the household member behind a participant, so a
    consent holds across a series and attendance adds up per household."""

    def __init__(self, program: Program) -> None:
        self._program = program

    async def member_of(self, session_id: str, participant_id: str) -> people.Member:
        found = await self._program.household_member(session_id, participant_id)
        return people.NOBODY if found is None else people.Member(found[0], found[1])


def setup_routes(app: web.Application) -> None:
    settings = app[SETTINGS]
    program = Program(
        app[STORE], Sealer(app[KEYS].data), accounts=app[ACCOUNTS],
        directory=app[DIRECTORY], rooms=app[ROOMS], links=app[LINKS],
        public_url=settings.public_url,
        defaults=SessionDefaults(settings.max_participants, settings.max_breakouts,
                                 float(settings.reconnect_grace_seconds)),
    )
    app[PROGRAM] = program
    app[LIVE].namespace.resolve = program.resolve
    app[LIVE].records.use_resolver(HouseholdMembers(program))
    smtp = settings.secret("smtp_url")
    if smtp:
        app[MAILER] = Mailer(SmtpTarget.parse(smtp), settings.smtp_from)
        app.cleanup_ctx.append(reminders_ctx)
    r = app.router
    r.add_get("/api/clinic", get_clinic)
    r.add_put("/api/clinic", put_clinic)
    r.add_get("/api/staff", list_staff)
    r.add_post("/api/staff/invites", invite_staff)
    r.add_post("/api/staff/{account_id}/deactivate", deactivate_staff)
    r.add_post("/api/staff/{account_id}/activate", activate_staff)
    r.add_get("/api/households", list_households)
    r.add_post("/api/households", create_household)
    r.add_get("/api/households/{hid}", get_household)
    r.add_post("/api/households/{hid}/members", add_member)
    r.add_patch("/api/households/{hid}/members/{mid}", edit_member)
    r.add_delete("/api/households/{hid}/members/{mid}", remove_member)
    r.add_get("/api/series", list_series)
    r.add_post("/api/series", create_series)
    r.add_get("/api/series/{sid}", get_series)
    r.add_post("/api/series/{sid}/occurrences/{index}", change_occurrence)
    r.add_post("/api/series/{sid}/occurrences/{index}/join", join_occurrence)
    r.add_get("/api/series/{sid}/members/{mid}/link", show_link)
    r.add_post("/api/series/{sid}/members/{mid}/link", reissue_link)
    r.add_delete("/api/series/{sid}/members/{mid}/link", revoke_link)
    r.add_get("/api/series/{sid}/members/{mid}/invite.ics", series_invite)
    r.add_post("/api/series/{sid}/members/{mid}/email", email_invitation)
    r.add_post("/api/join/status", join_status)

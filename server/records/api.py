"""REST for records: attendance reports and exports, consent documents and the ledger.

Two kinds of caller:
- a signed-in therapist (cookie): reports, exports, documents, recorded withdrawals.
  A session that is not theirs answers 404, and range exports include only their own
  sessions. (Publishing consent documents and clinic-wide exports are admin duties once
  accounts carry roles; today any signed-in therapist may publish.)
- a person holding a personal link (``Authorization: Bearer <link token>``): reads the
  current documents and their own standing, accepts or withdraws, and a guardian does
  so for their child. The link is verified exactly as the socket does.

Every export and every change to consent is written to the audit log.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rooms.commands import SendBackToLobby
from rooms.model import Participant, Role, Session, SessionPhase
from server.api_program import require_role, require_staff
from server.appkeys import DIRECTORY, LINKS, LIVE, PROGRAM, ROOMS
from server.http import ApiError, parse_body
from server.identity import identify
from server.program.service import ProgramError, Viewer
from server.records.attendance import (
    csv_cell,
    intervals_csv,
    iso_utc,
    person_summary,
    range_report,
)
from server.records.consent import KINDS, TITLES, Document, Entry, needs_consent
from server.records.wiring import Records
from signaling.tokens import LinkError, cookie_name

RECORDS = web.AppKey("records", Records)

Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
Kind = Literal["telehealth", "recording", "group"]
Format = Literal["json", "csv"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FormatQuery(Strict):
    format: Format = "json"


class RangeQuery(Strict):
    from_: dt.date = Field(alias="from")
    to: dt.date
    tz: str = Field("UTC", max_length=64)
    household_id: str | None = Field(None, min_length=1, max_length=128,
                                     pattern=r"^[A-Za-z0-9_.:-]+$")
    member_id: str | None = Field(None, min_length=1, max_length=128,
                                  pattern=r"^[A-Za-z0-9_.:-]+$")
    format: Format = "json"

    @model_validator(mode="after")
    def _check(self) -> RangeQuery:
        if self.to < self.from_:
            raise ValueError("to is before from")
        if (self.to - self.from_).days > 366:
            raise ValueError("a range covers at most 366 days")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("tz is not a known time zone") from exc
        return self


class LedgerQuery(Strict):
    from_: dt.date | None = Field(None, alias="from")
    to: dt.date | None = None
    format: Format = "json"


class TargetBody(Strict):
    hours: float = Field(gt=0, le=80, description="Weekly attendance target in hours")


class PublishBody(Strict):
    kind: Kind
    title: str = Field(min_length=1, max_length=120)
    text: str = Field(min_length=20, max_length=20000)
    required: bool = False


class AcceptBody(Strict):
    kind: Kind
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="The content hash shown")
    for_participant: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
        description="A guardian's child, when consenting on their behalf")


class WithdrawBody(Strict):
    kind: Kind
    for_participant: str | None = Field(None, min_length=1, max_length=64,
                                        pattern=r"^[A-Za-z0-9_-]+$")


class ClinicianWithdrawBody(Strict):
    kind: Kind


def _query(request: web.Request, model: type[Strict]) -> Any:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "query"
        raise ApiError(400, "invalid", f"{where}: {err['msg']}") from exc


async def _audit(request: web.Request, event: str, fields: dict[str, Any]) -> None:
    await request.app[LIVE].audit(event, fields)


async def _owned_session(request: web.Request, viewer: Viewer) -> tuple[str, str, Session]:
    """A session the clinician may read (own, on it as co-therapist, or the admin's)."""
    sid = request.match_info["session_id"]
    record = await request.app[DIRECTORY].get(sid)
    session = await request.app[ROOMS].get(sid)
    if record is None or session is None \
            or not await request.app[PROGRAM].may_read_session(viewer, record):
        raise ApiError(404, "not_found", "no such session")
    return sid, record.title, session


def _csv(text: str, name: str) -> web.Response:
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


# --- attendance ---------------------------------------------------------------------
async def session_attendance(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    account = viewer.account
    q: FormatQuery = _query(request, FormatQuery)
    sid, title, _ = await _owned_session(request, viewer)
    tracks = await request.app[RECORDS].attendance.session_tracks(sid)
    now = time.time()
    await _audit(request, "records_export", {"what": "attendance_session", "session": sid,
                                             "account": account.id, "format": q.format})
    if q.format == "csv":
        return _csv(intervals_csv(tracks, {sid: title}, now), f"attendance-{sid}.csv")
    return web.json_response({"ok": {"session_id": sid, "title": title, "now": now,
                                     "people": [person_summary(t, now) for t in tracks]}})


async def range_attendance(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    account = viewer.account
    q: RangeQuery = _query(request, RangeQuery)
    tz = ZoneInfo(q.tz)
    lo = dt.datetime.combine(q.from_, dt.time(), tz).timestamp()
    hi = dt.datetime.combine(q.to + dt.timedelta(days=1), dt.time(), tz).timestamp()
    book = request.app[RECORDS].attendance
    directory = request.app[DIRECTORY]
    titles: dict[str, str] = {}
    tracks = []
    for sid in await book.sessions_between(q.from_, q.to):
        record = await directory.get(sid)
        if record is None or not await request.app[PROGRAM].may_read_session(viewer, record):
            continue
        titles[sid] = record.title
        for t in await book.session_tracks(sid):
            if q.household_id and t.household_id != q.household_id:
                continue
            if q.member_id and t.member_id != q.member_id:
                continue
            tracks.append(t)
    now = time.time()
    await _audit(request, "records_export", {"what": "attendance_range", "account": account.id,
                                             "from": q.from_.isoformat(), "to": q.to.isoformat(),
                                             "format": q.format})
    if q.format == "csv":
        return _csv(intervals_csv(tracks, titles, now, lo, hi),
                    f"attendance-{q.from_}-{q.to}.csv")
    targets: dict[str | None, int] = {}
    for hid in {t.household_id for t in tracks}:
        targets[hid] = await book.target(hid)
    report = range_report(tracks, lo, hi, tz, targets, titles, now)
    return web.json_response({"ok": {"from": q.from_.isoformat(), "to": q.to.isoformat(),
                                     "tz": q.tz, **report}})


async def _my_household(request: web.Request, viewer: Viewer) -> str:
    """A household the clinician may see (its therapist, or the admin); 404 otherwise."""
    hid = _household(request)
    try:
        await request.app[PROGRAM].household(viewer, hid)
    except ProgramError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    return hid


async def get_target(request: web.Request) -> web.Response:
    hid = await _my_household(request, await require_staff(request))
    seconds = await request.app[RECORDS].attendance.target(hid)
    return web.json_response({"ok": {"household_id": hid, "hours": seconds / 3600}})


async def set_target(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    account = viewer.account
    hid = await _my_household(request, viewer)
    body = await parse_body(request, TargetBody)
    await request.app[RECORDS].attendance.set_target(hid, round(body.hours * 3600))
    await _audit(request, "attendance_target_set", {"household": hid, "account": account.id})
    return web.json_response({"ok": {"household_id": hid, "hours": body.hours}})


def _household(request: web.Request) -> str:
    hid = request.match_info["household_id"]
    if not 0 < len(hid) <= 128 or not all(ch.isalnum() or ch in "_.:-" for ch in hid):
        raise ApiError(400, "invalid", "household_id: not an id")
    return hid


# --- consent: clinicians -------------------------------------------------------------
async def list_documents(request: web.Request) -> web.Response:
    await require_staff(request)
    ledger = request.app[RECORDS].consent
    out = []
    for kind in KINDS:
        history = await ledger.history(kind)
        out.append({"kind": kind, "default_title": TITLES[kind],
                    "current": history[-1].view() if history else None,
                    "versions": [{"version": d.version, "hash": d.hash,
                                  "published_at": d.published_at} for d in history]})
    return web.json_response({"ok": out})


async def publish_document(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    require_role(viewer, "admin")  # consent documents are the clinic's
    account = viewer.account
    body = await parse_body(request, PublishBody)
    doc = await request.app[RECORDS].consent.publish(body.kind, body.title, body.text,
                                                     body.required, account.id)
    await _audit(request, "consent_document_published", {
        "kind": doc.kind, "version": doc.version, "hash": doc.hash, "account": account.id})
    return web.json_response({"ok": doc.view()}, status=201)


async def session_consent(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    sid, _, session = await _owned_session(request, viewer)
    ledger = request.app[RECORDS].consent
    gate = request.app[RECORDS].gate
    people = []
    for p in session.participants.values():
        standing = await ledger.standing(sid, p.id)
        people.append({
            "participant_id": p.id, "name": p.display_name, "role": p.role.value,
            "needs_consent": needs_consent(p),
            "guardians": [q.id for q in session.participants.values() if p.id in q.guardian_of],
            "documents": [s.view() for s in standing.values()],
            "hold": await gate.hold_reason(session, p.id),
        })
    return web.json_response({"ok": {"session_id": sid, "people": people}})


async def clinician_withdraw(request: web.Request) -> web.Response:
    """A withdrawal stated to the clinician (in session, by phone) is recorded by them."""
    viewer = await require_staff(request)
    account = viewer.account
    sid, _, session = await _owned_session(request, viewer)
    body = await parse_body(request, ClinicianWithdrawBody)
    p = session.participants.get(request.match_info["participant_id"])
    if p is None:
        raise ApiError(404, "not_found", "no such participant")
    doc = await _current(request, body.kind)
    entry = await request.app[RECORDS].consent.record(
        "withdraw", doc, session_id=sid, participant=p, account_id=account.id, via="console")
    await _audit(request, "consent_withdrawn", {"session": sid, "participant": p.id,
                                                "kind": doc.kind, "account": account.id})
    await _hold_after_withdrawal(request, sid, p.id)
    return web.json_response({"ok": entry.view()}, status=201)


async def _hold_after_withdrawal(request: web.Request, sid: str, pid: str) -> None:
    """Consent withdrawn mid-session takes effect at once: a person who is in the room
    goes back to the lobby, where the consent gate holds them (the clinician sees why).
    The move is an ordinary versioned ``SendBackToLobby`` by the session's owner, so
    every node and every client sees it as they see a clinician's own."""
    record = await request.app[DIRECTORY].get(sid)
    session = await request.app[ROOMS].get(sid)
    if record is None or session is None or session.phase is SessionPhase.ENDED:
        return
    person = session.participants.get(pid)
    if person is None or not person.present:
        return
    await request.app[ROOMS].execute(sid, SendBackToLobby(actor=record.owner, target=pid))
    await _audit(request, "consent_hold", {"session": sid, "participant": pid})


LEDGER_COLUMNS = ("at_utc", "action", "kind", "version", "hash", "subject", "session_id",
                  "participant_id", "member_id", "subject_name", "on_behalf", "actor_name",
                  "actor_participant_id", "actor_member_id", "actor_account_id", "jti", "via",
                  "id")


def ledger_csv(entries: list[Entry]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(LEDGER_COLUMNS)
    for e in entries:
        v = e.view()
        v["at_utc"] = iso_utc(e.at)
        w.writerow([csv_cell(v[c]) for c in LEDGER_COLUMNS])
    return buf.getvalue()


async def export_ledger(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    account = viewer.account
    q: LedgerQuery = _query(request, LedgerQuery)
    directory = request.app[DIRECTORY]
    mine: dict[str, bool] = {}
    entries = []
    stored, unreadable = await request.app[RECORDS].consent.entries()
    for e in stored:
        if e.session_id not in mine:
            record = await directory.get(e.session_id)
            mine[e.session_id] = record is not None \
                and await request.app[PROGRAM].may_read_session(viewer, record)
        day = dt.datetime.fromtimestamp(e.at, dt.UTC).date()
        if mine[e.session_id] and (q.from_ is None or day >= q.from_) \
                and (q.to is None or day <= q.to):
            entries.append(e)
    await _audit(request, "records_export", {"what": "consent_ledger", "account": account.id,
                                             "format": q.format})
    if q.format == "csv":
        return _csv(ledger_csv(entries), "consent-ledger.csv")
    return web.json_response({"ok": {"entries": [e.view() for e in entries],
                                     "unreadable": unreadable}})


# --- consent: the person with a link ---------------------------------------------------
@dataclass(frozen=True)
class LinkHolder:
    session: Session
    me: Participant
    jti: str


async def _link_holder(request: web.Request) -> LinkHolder:
    """The person behind a personal link: the join page's HttpOnly session cookie (named by
    ``?s=<session id>``), or the link's token as a Bearer header for other clients."""
    header = request.headers.get("Authorization", "")
    token: str | None = header[7:].strip() if header.startswith("Bearer ") else None
    if token is None and request.query.get("s"):
        token = request.cookies.get(cookie_name(request.query["s"]))
    if not token:
        raise ApiError(401, "unauthenticated", "open this page from your personal link")
    try:
        claims = await request.app[PROGRAM].resolve(await request.app[LINKS].verify(token))
        me_id = await identify(request.app[ROOMS], claims)
    except LinkError as exc:
        await _audit(request, "link_refused", {"code": exc.code, "via": "consent"})
        raise ApiError(401, exc.code, "this link does not work any more") from exc
    session = await request.app[ROOMS].get(me_id.session_id)
    me = session.participants.get(me_id.participant_id) if session else None
    if session is None or me is None:
        raise ApiError(403, "forbidden", "this link does not belong to the session")
    return LinkHolder(session, me, claims.jti)


async def _current(request: web.Request, kind: str) -> Document:
    doc = await request.app[RECORDS].consent.current(kind)
    if doc is None:
        raise ApiError(404, "not_found", "no such consent document")
    return doc


def _child(holder: LinkHolder, pid: str | None) -> Participant:
    """The person a consent is about: the holder, or a child they are guardian of."""
    if pid is None or pid == holder.me.id:
        return holder.me
    child = holder.session.participants.get(pid)
    if child is None or pid not in holder.me.guardian_of or child.role is not Role.CHILD:
        raise ApiError(403, "forbidden", "you can give consent only for your own child")
    return child


async def my_consent(request: web.Request) -> web.Response:
    holder = await _link_holder(request)
    records = request.app[RECORDS]
    ledger = records.consent
    docs = await ledger.documents()
    standing = await ledger.standing(holder.session.id, holder.me.id)
    children = []
    for pid in holder.me.guardian_of:
        child = holder.session.participants.get(pid)
        if child is None:
            continue
        theirs = await ledger.standing(holder.session.id, pid)
        children.append({"participant_id": pid, "name": child.display_name,
                         "documents": [theirs[d.kind].view() for d in docs]})
    return web.json_response({"ok": {
        "participant_id": holder.me.id, "role": holder.me.role.value,
        "needs_consent": needs_consent(holder.me),
        "documents": [{**d.view(), "standing": standing[d.kind].view()} for d in docs],
        "children": children,
        "hold": await records.gate.hold_reason(holder.session, holder.me.id),
    }})


async def accept(request: web.Request) -> web.Response:
    holder = await _link_holder(request)
    body = await parse_body(request, AcceptBody)
    subject = _child(holder, body.for_participant)
    if subject.role is Role.CHILD and subject.id == holder.me.id:
        raise ApiError(403, "guardian_required",
                       "a parent or guardian gives consent for you from their own link")
    doc = await _current(request, body.kind)
    if body.hash != doc.hash:
        raise ApiError(409, "outdated", "the consent text has changed; read the new version")
    entry = await request.app[RECORDS].consent.record(
        "accept", doc, session_id=holder.session.id, participant=subject, actor=holder.me,
        jti=holder.jti)
    await _audit(request, "consent_accepted", {
        "session": holder.session.id, "participant": subject.id, "by": holder.me.id,
        "kind": doc.kind, "version": doc.version})
    return web.json_response({"ok": {"id": entry.id, "kind": entry.kind,
                                     "version": entry.version, "at": entry.at}}, status=201)


async def withdraw(request: web.Request) -> web.Response:
    holder = await _link_holder(request)
    body = await parse_body(request, WithdrawBody)
    subject = _child(holder, body.for_participant)
    doc = await _current(request, body.kind)
    entry = await request.app[RECORDS].consent.record(
        "withdraw", doc, session_id=holder.session.id, participant=subject, actor=holder.me,
        jti=holder.jti)
    await _audit(request, "consent_withdrawn", {
        "session": holder.session.id, "participant": subject.id, "by": holder.me.id,
        "kind": doc.kind})
    await _hold_after_withdrawal(request, holder.session.id, subject.id)
    return web.json_response({"ok": {"id": entry.id, "kind": entry.kind,
                                     "at": entry.at}}, status=201)


ROUTES: list[dict[str, Any]] = [
    {"method": "get", "path": "/api/records/sessions/{session_id}/attendance",
     "summary": "Attendance intervals and totals for one session (format=json|csv)",
     "handler": session_attendance},
    {"method": "get", "path": "/api/records/attendance",
     "summary": "Attendance for a date range: per occurrence, week and program "
                "(from, to, tz, household_id, member_id, format=json|csv)",
     "handler": range_attendance},
    {"method": "get", "path": "/api/records/households/{household_id}/target",
     "summary": "A household's weekly attendance target", "handler": get_target},
    {"method": "put", "path": "/api/records/households/{household_id}/target",
     "summary": "Set a household's weekly attendance target", "handler": set_target,
     "body": TargetBody},
    {"method": "get", "path": "/api/records/consent/documents",
     "summary": "Consent documents: current versions and history", "handler": list_documents},
    {"method": "post", "path": "/api/records/consent/documents",
     "summary": "Publish a new version of a consent document", "handler": publish_document,
     "body": PublishBody, "ok": 201},
    {"method": "get", "path": "/api/records/sessions/{session_id}/consent",
     "summary": "Each participant's consent standing", "handler": session_consent},
    {"method": "post",
     "path": "/api/records/sessions/{session_id}/participants/{participant_id}/consent/withdraw",
     "summary": "Record a withdrawal stated to the clinician", "handler": clinician_withdraw,
     "body": ClinicianWithdrawBody, "ok": 201},
    {"method": "get", "path": "/api/records/consent/ledger",
     "summary": "Export the consent ledger (from, to, format=json|csv)",
     "handler": export_ledger},
    {"method": "get", "path": "/api/consent",
     "summary": "With a personal link: current consent documents and your standing",
     "handler": my_consent, "auth": False},
    {"method": "post", "path": "/api/consent/accept",
     "summary": "With a personal link: accept a document (a guardian also for their child)",
     "handler": accept, "body": AcceptBody, "ok": 201, "auth": False},
    {"method": "post", "path": "/api/consent/withdraw",
     "summary": "With a personal link: withdraw a consent", "handler": withdraw,
     "body": WithdrawBody, "ok": 201, "auth": False},
]


def setup_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route["method"].upper(), route["path"], route["handler"])

"""The REST API's OpenAPI 3.1 document, built from the same schema classes the routes use.

Each operation is declared once here next to its request model; a test checks
that every ``/api`` route the app registers is documented, so they cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from server.api_auth import DisplayNameBody, LoginBody, OtpBody
from server.api_join import ExchangeBody
from server.api_program import (
    ClinicBody,
    HouseholdBodyIn,
    InviteBody,
    MemberBody,
    MemberEdit,
    OccurrenceBody,
    SeriesBody,
    TokenBody,
)
from server.api_sessions import AddParticipantBody, CreateSessionBody
from server.api_setup import SetupBody
from server.appkeys import SETTINGS
from server.clinical.api import ROUTES as CLINICAL_ROUTES
from server.clinical.plans_api import ROUTES as PLANS_ROUTES
from server.records.api import ROUTES as RECORDS_ROUTES
from server.responses import (
    Accepted,
    AccountCreated,
    AuditEntry,
    ClinicForViewer,
    ClinicView,
    ConsentDocument,
    DocumentHistory,
    HouseholdView,
    InvitationSent,
    JoinIdentity,
    Ledger,
    LedgerEntry,
    LinkRevoked,
    LinkStatus,
    Me,
    MemberLink,
    MemberLinkRevoked,
    MyConsent,
    OccurrenceLink,
    OwnLink,
    ParticipantLink,
    RangeAttendance,
    Restored,
    SeriesView,
    SessionAttendance,
    SessionConsent,
    SessionDetail,
    SessionEnded,
    SessionLinkShown,
    SessionSummary,
    SignedIn,
    StaffActive,
    StaffInvite,
    StaffMember,
    Target,
    TotpOffer,
    TotpOn,
    Withdrawn,
)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    body: type[BaseModel] | None = None
    auth: bool = True
    ok: int = 200
    content: str = "application/json"
    # The ``ok`` member of the success body; a list route answers a list of ``item``.
    response: type[BaseModel] | None = None
    many: bool = False
    logout: bool = False


# The records routes' success bodies (the routes themselves are listed in records/api.py).
RECORDS_RESPONSES: dict[tuple[str, str], tuple[type[BaseModel], bool]] = {
    ("get", "/api/records/sessions/{session_id}/attendance"): (SessionAttendance, False),
    ("get", "/api/records/attendance"): (RangeAttendance, False),
    ("get", "/api/records/households/{household_id}/target"): (Target, False),
    ("put", "/api/records/households/{household_id}/target"): (Target, False),
    ("get", "/api/records/consent/documents"): (DocumentHistory, True),
    ("post", "/api/records/consent/documents"): (ConsentDocument, False),
    ("get", "/api/records/sessions/{session_id}/consent"): (SessionConsent, False),
    ("post", "/api/records/sessions/{session_id}/participants/{participant_id}/consent/withdraw"):
        (LedgerEntry, False),
    ("get", "/api/records/consent/ledger"): (Ledger, False),
    ("get", "/api/consent"): (MyConsent, False),
    ("post", "/api/consent/accept"): (Accepted, False),
    ("post", "/api/consent/withdraw"): (Withdrawn, False),
}

OPERATIONS = [
    Operation("post", "/api/setup", "Create an account with a one-time setup link (admin or staff)",
              SetupBody, auth=False, ok=201, response=AccountCreated),
    Operation("post", "/api/login", "Sign in; sets the HttpOnly login cookie", LoginBody,
              auth=False, response=SignedIn),
    Operation("post", "/api/logout", "Sign out", auth=False, logout=True),
    Operation("get", "/api/me", "The signed-in therapist", response=Me),
    Operation("patch", "/api/me", "Set the display name people in sessions see",
              DisplayNameBody, response=SignedIn),
    Operation("post", "/api/me/totp", "Offer a TOTP second factor (secret and otpauth URI)",
              response=TotpOffer),
    Operation("post", "/api/me/totp/confirm", "Turn the second factor on with a current code",
              OtpBody, response=TotpOn),
    Operation("post", "/api/sessions", "Create a session", CreateSessionBody, ok=201,
              response=SessionSummary),
    Operation("get", "/api/sessions", "List your sessions", response=SessionSummary,
              many=True),
    Operation("get", "/api/sessions/{session_id}", "One session with its participants",
              response=SessionDetail),
    Operation("post", "/api/sessions/{session_id}/participants",
              "Add a participant; returns their personal link", AddParticipantBody, ok=201,
              response=ParticipantLink),
    Operation("post", "/api/sessions/{session_id}/participants/{participant_id}/link",
              "Issue a new personal link (the previous one is revoked)",
              response=ParticipantLink),
    Operation("delete", "/api/sessions/{session_id}/participants/{participant_id}/link",
              "Revoke a participant's link", response=LinkRevoked),
    Operation("get", "/api/sessions/{session_id}/participants/{participant_id}/invite.ics",
              "Calendar invite with the personal link", content="text/calendar"),
    Operation("post", "/api/sessions/{session_id}/join", "Your own link into the session",
              response=OwnLink),
    Operation("post", "/api/sessions/{session_id}/end", "End the session for everyone",
              response=SessionEnded),
    Operation("get", "/api/sessions/{session_id}/participants/{participant_id}/link",
              "Show the participant's current link again (revokes nothing)",
              response=SessionLinkShown),
    # The program: clinic, staff, households, series.
    Operation("get", "/api/clinic", "Clinic settings and your staff role",
              response=ClinicForViewer),
    Operation("put", "/api/clinic", "Change clinic settings (admin)", ClinicBody,
              response=ClinicView),
    Operation("get", "/api/staff", "Staff accounts", response=StaffMember, many=True),
    Operation("post", "/api/staff/invites", "A one-time setup link for a new staff member "
              "(admin)", InviteBody, ok=201, response=StaffInvite),
    Operation("post", "/api/staff/{account_id}/deactivate", "Deactivate a staff account "
              "(admin)", response=StaffActive),
    Operation("post", "/api/staff/{account_id}/activate", "Reactivate a staff account (admin)",
              response=StaffActive),
    Operation("get", "/api/households", "Households you may see", response=HouseholdView,
              many=True),
    Operation("post", "/api/households", "Create a household with its members",
              HouseholdBodyIn, ok=201, response=HouseholdView),
    Operation("get", "/api/households/{hid}", "One household", response=HouseholdView),
    Operation("post", "/api/households/{hid}/members", "Add a member", MemberBody, ok=201,
              response=HouseholdView),
    Operation("patch", "/api/households/{hid}/members/{mid}",
              "Edit a member in place (only the fields given; null clears)", MemberEdit,
              response=HouseholdView),
    Operation("delete", "/api/households/{hid}/members/{mid}",
              "Remove a member (their series links are revoked)", response=HouseholdView),
    Operation("get", "/api/series", "Series you may see", response=SeriesView, many=True),
    Operation("post", "/api/series", "Create a recurring series for a household", SeriesBody,
              ok=201, response=SeriesView),
    Operation("get", "/api/series/{sid}", "One series with its occurrences",
              response=SeriesView),
    Operation("post", "/api/series/{sid}/occurrences/{index}",
              "Cancel, move, or mark a member not attending one occurrence", OccurrenceBody,
              response=SeriesView),
    Operation("post", "/api/series/{sid}/occurrences/{index}/join",
              "Your own link into an occurrence", response=OccurrenceLink),
    Operation("get", "/api/series/{sid}/members/{mid}/link",
              "Show a member's current series link (revokes nothing)", response=MemberLink),
    Operation("post", "/api/series/{sid}/members/{mid}/link",
              "Revoke a member's series link and issue a new one", ok=201,
              response=MemberLink),
    Operation("delete", "/api/series/{sid}/members/{mid}/link", "Revoke a member's series link",
              response=MemberLinkRevoked),
    Operation("get", "/api/series/{sid}/members/{mid}/invite.ics",
              "Calendar file for the whole series with the member's link",
              content="text/calendar"),
    Operation("post", "/api/series/{sid}/members/{mid}/email",
              "Email a member their link and session times (needs HEARTH_SMTP_URL)",
              response=InvitationSent),
    Operation("post", "/api/join/status", "Whether a link opens now, else the next start",
              TokenBody, auth=False, response=LinkStatus),
    Operation("post", "/api/sessions/{session_id}/participants/{participant_id}/restore",
              "Undo a removal or denial, so the person can be sent a new link",
              response=Restored),
    Operation("get", "/api/sessions/{session_id}/audit", "The session's audit entries",
              response=AuditEntry, many=True),
    Operation("post", "/api/join/exchange",
              "Trade a join link's token for an HttpOnly cookie scoped to its session",
              ExchangeBody, auth=False, response=JoinIdentity),
    Operation("get", "/api/join/{session_id}", "Who the session's join cookie belongs to",
              auth=False, response=JoinIdentity),
    Operation("post", "/api/join/{session_id}/leave", "Forget the session's join cookie",
              auth=False, logout=True),
    *(Operation(r["method"], r["path"], r["summary"], r.get("body"), auth=r.get("auth", True),
                ok=r.get("ok", 200), response=RECORDS_RESPONSES[(r["method"], r["path"])][0],
                many=RECORDS_RESPONSES[(r["method"], r["path"])][1])
      for r in RECORDS_ROUTES),
    *(Operation(r["method"], r["path"], r["summary"], r.get("body"), ok=r.get("ok", 200),
                response=r["response"], many=r.get("many", False)) for r in PLANS_ROUTES),
    *(Operation(r["method"], r["path"], r["summary"], r.get("body"), auth=r.get("auth", True),
                ok=r.get("ok", 200), response=r.get("response"), many=r.get("many", False))
      for r in CLINICAL_ROUTES),
]


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def _component(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    """Add ``model`` (and what it refers to) to the components; return its $ref."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for sub_name, sub in schema.pop("$defs", {}).items():
        schemas[sub_name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def success_schema(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    """The success body: ``{"ok": <model>}`` (a list for list routes); text for .ics."""
    if op.content != "application/json":
        return {"type": "string"}
    if op.logout:
        ok: dict[str, Any] = {"const": True}
    elif op.response is None:
        raise ValueError(f"{op.method} {op.path} has no response model")
    else:
        ok = _component(op.response, schemas)
        if op.many:
            ok = {"type": "array", "items": ok}
    return {"type": "object", "required": ["ok"], "additionalProperties": False,
            "properties": {"ok": ok}}


def build_document(public_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for op in OPERATIONS:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method}_{op.path.strip('/').replace('/', '_')}",
            "responses": {
                str(op.ok): {"description": "success", "content": {
                    op.content: {"schema": success_schema(op, schemas)}}},
                "4XX": {"description": "refused with a code",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Error"}}}},
                "503": {"description": "storage unavailable; nothing changed"},
            },
        }
        params = [seg[1:-1] for seg in op.path.split("/") if seg.startswith("{")]
        if params:
            entry["parameters"] = [
                {"name": p, "in": "path", "required": True,
                 "schema": {"type": "string", "maxLength": 64}}
                for p in params
            ]
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _component(op.body, schemas)}},
            }
        if op.auth:
            entry["security"] = [{"login": []}]
            entry["responses"]["401"] = {"description": "not signed in"}
        paths.setdefault(op.path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hearth REST API", "version": "1"},
        "servers": [{"url": public_url}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "login": {"type": "apiKey", "in": "cookie", "name": "hearth_login"}
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_document(request.app[SETTINGS].public_url))

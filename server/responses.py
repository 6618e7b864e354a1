"""What each REST route answers on success, as pydantic models.

server/openapi.py documents every route's ``{"ok": ...}`` body from these models, and
a test calls every route and validates the real body against them with unknown
fields refused, so the document and the handlers cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from server.records import consent

Phase = Literal["scheduled", "open", "live", "ended", "unknown"]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


def closed_model(record: type[Any]) -> type[Closed]:
    """A closed model with the fields of the dataclass ``record``, for an answer that
    is that record as it is: each field is declared once, where the record is."""
    hints = get_type_hints(record)
    fields: dict[str, Any] = {f.name: (hints[f.name], ...) for f in dataclasses.fields(record)}
    return create_model(record.__name__, __base__=Closed, __module__=__name__, **fields)


class AccountCreated(Closed):
    account_id: str


class SignedIn(Closed):
    account_id: str
    username: str
    display_name: str = Field(description="the name people in sessions see")
    totp: bool = Field(description="whether a TOTP second factor is on")


class Me(SignedIn):
    idle_seconds: int = Field(description="sign-in expires after this much idle time")


class SessionSummary(Closed):
    id: str
    title: str
    starts_at: float | None
    ends_at: float | None
    owner: str = Field(description="the account id of the session's therapist")
    created: float
    phase: Phase
    default_duration_minutes: int | None = Field(
        None, description="on create: the clinic's default duration applied to a start "
        "without an end (null when an end was given)")


class ParticipantSummary(Closed):
    id: str
    display_name: str
    role: str
    status: str
    guardian_of: list[str]


class SessionDetail(SessionSummary):
    participants: list[ParticipantSummary]




class ParticipantLink(Closed):
    participant_id: str
    link: str = Field(description="the personal join link (secret: send it to this person)")
    expires: float


class LinkRevoked(Closed):
    participant_id: str
    revoked: bool


class OwnLink(Closed):
    link: str
    expires: float


class SessionEnded(Closed):
    id: str
    phase: Literal["ended"]


class SessionLinkShown(Closed):
    participant_id: str
    link: str | None = Field(description="the current link, or null when none is valid")
    expires: float | None = None


class Restored(Closed):
    participant_id: str
    status: str = Field(description="the participant's status after the restore")


class TotpOffer(Closed):
    secret: str
    uri: str = Field(description="otpauth:// URI for an authenticator app")


class TotpOn(Closed):
    totp: bool


class AuditEntry(BaseModel):
    """One entry of the hash-chained audit log (server/audit.py names the fields)."""

    model_config = ConfigDict(extra="allow")
    seq: int
    ts: float
    action: str
    hash: str


# --- the program: clinic, staff, households, series --------------------------------
class CrisisLineView(Closed):
    label: str
    phone: str


class ClinicView(Closed):
    v: int = Field(description="the stored record's schema version")
    name: str
    timezone: str
    default_duration_minutes: int
    crisis_lines: list[CrisisLineView]


class ClinicForViewer(ClinicView):
    role: str = Field(description="the caller's staff role")
    account_id: str


class StaffMember(Closed):
    account_id: str
    username: str
    role: str
    active: bool


class StaffInvite(Closed):
    link: str = Field(description="one-time setup link (secret: send it to the person)")
    role: str


class StaffActive(Closed):
    account_id: str
    active: bool


class MemberView(Closed):
    id: str
    name: str
    role: str
    minor: bool
    date_of_birth: str | None
    email: str | None
    emergency_contact: str | None
    guardian_of: list[str]
    timezone: str | None
    safety_plan_url: str | None = Field(None, description="Link to the person's safety plan")


class HouseholdView(Closed):
    id: str
    owner: str = Field(description="the account id of the household's therapist")
    label: str
    members: list[MemberView]


class OccurrenceView(Closed):
    index: int
    starts_at: float
    ends_at: float
    cancelled: bool
    moved: bool
    absent: list[str] = Field(description="member ids marked not attending")


class SeriesView(Closed):
    id: str
    household_id: str
    owner: str
    co_therapist: str | None
    timezone: str
    weekdays: list[int]
    start_time: str = Field(description="HH:MM, local to the series' timezone")
    duration_minutes: int
    first_date: str
    count: int | None
    until: str | None
    occurrences: list[OccurrenceView]


class OccurrenceLink(Closed):
    link: str
    session_id: str
    expires: float


class MemberLink(Closed):
    member_id: str
    link: str | None = Field(description="the current link, or null when none is valid")
    expires: float | None = None


class MemberLinkRevoked(Closed):
    member_id: str
    revoked: bool


class InvitationSent(Closed):
    member_id: str
    sent: bool


class LinkStatus(Closed):
    open: bool
    code: str = Field(description="`open`, or why the link does not open now")
    message: str
    starts_at: float | None = None
    next_start: float | None = Field(None, description="when the link opens next, if known")


# --- joining with a link --------------------------------------------------------------
class JoinIdentity(Closed):
    session_id: str
    participant_id: str
    role: str
    display_name: str


# --- records: attendance and consent --------------------------------------------------
class Drop(Closed):
    at: float
    back: float | None


class Interval(Closed):
    kind: Literal["session", "lobby"]
    room: str | None
    room_name: str | None
    media: str | None
    phase: str | None = Field(None, description="The plan phase the interval fell in")
    start: float
    end: float | None
    seconds: float


class PersonAttendance(Closed):
    session_id: str
    participant_id: str
    member_id: str | None
    household_id: str | None
    name: str
    role: str
    admitted_at: float | None
    left_at: float | None
    left_reason: str | None
    in_progress: bool
    lobby_seconds: float
    attended_seconds: float
    attended_minutes: float
    by_room_seconds: dict[str, float]
    by_media_seconds: dict[str, float]
    by_phase_minutes: dict[str, float] = Field(
        default_factory=dict, description="Minutes per plan phase")
    drops: list[Drop]
    intervals: list[Interval]


class SessionAttendance(Closed):
    session_id: str
    title: str
    now: float
    people: list[PersonAttendance]


class OccurrenceAttendance(Closed):
    session_id: str
    participant_id: str
    title: str
    date: str
    attended_seconds: float


class WeekAttendance(Closed):
    week: str
    attended_seconds: float
    target_seconds: int
    met: bool


class PersonTotals(Closed):
    person: str = Field(description="m:<member id>, or p:<session id>:<participant id>")
    member_id: str | None
    household_id: str | None
    name: str
    role: str
    occurrences: list[OccurrenceAttendance]
    weeks: list[WeekAttendance]
    total_seconds: float
    weekly_target_seconds: int


class RangeAttendance(Closed):
    from_: str = Field(alias="from")
    to: str
    tz: str
    people: list[PersonTotals]


class Target(Closed):
    household_id: str
    hours: float


class ConsentDocument(closed_model(consent.Document)):  # type: ignore[misc]
    """A published version of a consent document."""


class DocumentVersion(Closed):
    version: int
    hash: str
    published_at: float


class DocumentHistory(Closed):
    kind: str
    default_title: str
    current: ConsentDocument | None
    versions: list[DocumentVersion]


class Standing(closed_model(consent.Standing)):  # type: ignore[misc]
    """Where a person stands on one document: their latest entry for it."""


class LedgerEntry(closed_model(consent.Entry)):  # type: ignore[misc]
    """One line of the consent ledger."""


class PersonConsent(Closed):
    participant_id: str
    name: str
    role: str
    needs_consent: bool
    guardians: list[str]
    documents: list[Standing]
    hold: str | None = Field(description="why this person is held in the lobby, if they are")


class SessionConsent(Closed):
    session_id: str
    people: list[PersonConsent]


class Ledger(Closed):
    entries: list[LedgerEntry]
    unreadable: int = Field(description="entries that could not be unsealed")


class DocumentWithStanding(ConsentDocument):
    standing: Standing


class ChildConsent(Closed):
    participant_id: str
    name: str
    documents: list[Standing]


class MyConsent(Closed):
    participant_id: str
    role: str
    needs_consent: bool
    documents: list[DocumentWithStanding]
    children: list[ChildConsent]
    hold: str | None


class Accepted(Closed):
    id: str
    kind: str
    version: int
    at: float


class Withdrawn(Closed):
    id: str
    kind: str
    at: float


# --- clinical tools ----------------------------------------------------------------------
class ClinicalNote(Closed):
    id: str
    session_id: str
    author: str
    author_name: str
    room: str = Field(description="`main` or the breakout where the author was")
    room_name: str
    phase: str | None = Field(description="The plan phase the note was started in")
    text: str
    created: float
    updated: float
    shared: bool = Field(description="Shared by its author with the co-therapist")
    mine: bool


class NoteDeleted(Closed):
    deleted: str


class ProgressNote(Closed):
    markdown: str


class RegionalCrisisLine(Closed):
    region: str
    label: str
    phone: str


class ConfirmedLocation(Closed):
    place: str
    region: str
    at: float


class SafetyPerson(Closed):
    participant_id: str
    name: str
    role: str
    status: str
    location: ConfirmedLocation | None
    emergency_contact: str | None
    safety_plan_url: str | None
    crisis_lines: list[RegionalCrisisLine]


class SafetyPanel(Closed):
    session_id: str
    location_at_join: bool
    people: list[SafetyPerson]


class SafetySettingsView(Closed):
    location_at_join: bool
    crisis_lines: list[RegionalCrisisLine]


class MyLocation(Closed):
    asked: bool
    location: ConfirmedLocation | None


class LocationSaved(Closed):
    at: float

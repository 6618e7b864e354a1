"""What each REST route answers on success, as pydantic models.

server/openapi.py documents every route's ``{"ok": ...}`` body from these models, and
a test calls every route and validates the real body against them with unknown
fields refused, so the document and the handlers cannot drift apart.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Phase = Literal["scheduled", "open", "live", "ended", "unknown"]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


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

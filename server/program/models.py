"""Stored records of the program, each with a schema version ``v``.

Pure pydantic models: they validate what is read back from a store as strictly as
what arrives over REST, and ``upgrade`` turns any older stored shape into the
current one before validation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

StaffRole = Literal["admin", "therapist", "co_therapist"]
MemberRole = Literal["client", "partner", "parent", "child", "other_family"]

# Household member role → the role their personal link carries in a session.
SESSION_ROLE: dict[str, str] = {
    "client": "client", "partner": "partner", "parent": "parent", "child": "child",
    "other_family": "family",
}


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: int = SCHEMA_VERSION


class StaffRecord(Record):
    account_id: str
    role: StaffRole
    active: bool = True
    since: float


class CrisisLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    label: str = Field(min_length=1, max_length=80)
    phone: str = Field(min_length=1, max_length=40)


class ClinicSettings(Record):
    name: str = "Hearth clinic"
    timezone: str = "UTC"
    default_duration_minutes: int = 60
    crisis_lines: list[CrisisLine] = Field(default_factory=list)


class Member(BaseModel):
    """One person of a household. Lives only inside the sealed household body."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    name: str
    role: MemberRole
    minor: bool = False
    date_of_birth: str | None = None
    email: str | None = None
    emergency_contact: str | None = None
    safety_plan_url: str | None = None
    guardian_of: list[str] = Field(default_factory=list)
    timezone: str | None = None


class HouseholdBody(BaseModel):
    """The identifying part of a household, stored only AES-GCM sealed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str
    members: list[Member]


class HouseholdRecord(Record):
    id: str
    owner: str
    created: float
    sealed: str  # base64 of the sealed HouseholdBody


class SeriesRecord(Record):
    id: str
    household_id: str
    owner: str
    co_therapist: str | None = None
    timezone: str
    weekdays: list[int]
    start_time: str  # "HH:MM" local
    duration_minutes: int
    first_date: str  # ISO date, local
    count: int | None = None
    until: str | None = None  # ISO date, local, inclusive
    cancelled: list[int] = Field(default_factory=list)
    moved: dict[str, float] = Field(default_factory=dict)  # index → new unix start
    absent: dict[str, list[str]] = Field(default_factory=dict)  # index → member ids
    created: float


class OccurrenceRecord(Record):
    """An occurrence that has become a live session, and who in it is which member."""

    series_id: str
    index: int
    session_id: str
    members: dict[str, str]  # participant id → member id


class LinkRecord(Record):
    series_id: str
    member_id: str
    jti: str
    expires: float
    sealed_url: str  # base64 of the sealed link, so it can be shown again


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored record to SCHEMA_VERSION (version 1 is the first; unversioned → 1)."""
    out = dict(raw)
    out.setdefault("v", SCHEMA_VERSION)
    return out

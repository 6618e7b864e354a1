"""Session state: small enums and frozen dataclasses, rebuilt (never mutated) on change.

A participant's breakout room is *derived* from the breakout assignment while
breakouts are open, so there is one source of truth for "who is where".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter


class Role(StrEnum):
    THERAPIST = "therapist"
    CO_THERAPIST = "co_therapist"
    CLIENT = "client"
    PARTNER = "partner"
    PARENT = "parent"
    FAMILY = "family"
    CHILD = "child"
    OBSERVER = "observer"


CLINICIANS = frozenset({Role.THERAPIST, Role.CO_THERAPIST})
RELATIVES = frozenset({Role.CLIENT, Role.PARTNER, Role.PARENT, Role.FAMILY})


class SessionPhase(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    LIVE = "live"
    ENDED = "ended"


class ParticipantStatus(StrEnum):
    INVITED = "invited"
    WAITING = "waiting"
    ADMITTED = "admitted"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DENIED = "denied"
    LEFT = "left"
    REMOVED = "removed"


# In the session (in a room, may see and be seen), as opposed to lobby or gone.
PRESENT = frozenset(
    {ParticipantStatus.ADMITTED, ParticipantStatus.CONNECTED, ParticipantStatus.RECONNECTING}
)


class BreakoutPhase(StrEnum):
    NONE = "none"
    DRAFT = "draft"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True)
class Participant:
    id: str
    role: Role
    display_name: str
    status: ParticipantStatus = ParticipantStatus.INVITED
    guardian_of: tuple[str, ...] = ()
    mic_on: bool = False
    camera_on: bool = False
    hand_raised: bool = False
    visiting: str | None = None
    consent_version: str | None = None
    knocked_at: float | None = None
    disconnected_at: float | None = None
    # Child-safe mode: chat only with clinicians, no screen share, no renaming. None
    # means the role's default (on for every child, off otherwise), so records written
    # before the mode existed read with it on for their children; a clinician may
    # switch it for any non-clinician.
    child_safe: bool | None = None

    @property
    def is_child_safe(self) -> bool:
        return self.role is Role.CHILD if self.child_safe is None else self.child_safe

    @property
    def clinician(self) -> bool:
        return self.role in CLINICIANS

    @property
    def present(self) -> bool:
        return self.status in PRESENT


@dataclass(frozen=True)
class BreakoutRoom:
    id: str
    name: str


@dataclass(frozen=True)
class Breakouts:
    phase: BreakoutPhase = BreakoutPhase.NONE
    rooms: tuple[BreakoutRoom, ...] = ()
    assignment: Mapping[str, str] = field(default_factory=dict)
    deadline: float | None = None
    closing_deadline: float | None = None
    require_clinician: bool = False
    next_room: int = 1

    @property
    def active(self) -> bool:
        """Open or closing: people are in their rooms."""
        return self.phase in (BreakoutPhase.OPEN, BreakoutPhase.CLOSING)

    def room(self, room_id: str) -> BreakoutRoom | None:
        return next((r for r in self.rooms if r.id == room_id), None)


@dataclass(frozen=True)
class Limits:
    max_participants: int = 50
    max_breakouts: int = 20
    reconnect_grace: float = 60.0
    close_grace: float = 60.0


@dataclass(frozen=True)
class Session:
    id: str
    owner: str
    title: str
    phase: SessionPhase
    participants: Mapping[str, Participant]
    breakouts: Breakouts = field(default_factory=Breakouts)
    locked: bool = False
    auto_admit: frozenset[Role] = frozenset({Role.CO_THERAPIST})
    screen_share_relatives: bool = True
    limits: Limits = field(default_factory=Limits)
    created: float = 0.0
    version: int = 0

    def participant(self, pid: str) -> Participant | None:
        return self.participants.get(pid)

    def room_of(self, pid: str) -> str | None:
        """The breakout a present participant is in (visiting counts), None for main."""
        p = self.participants.get(pid)
        if p is None or not self.breakouts.active:
            return None
        if p.visiting is not None:
            return p.visiting
        return self.breakouts.assignment.get(pid)

    def with_participant(self, p: Participant) -> Session:
        return replace(self, participants={**self.participants, p.id: p})


# --- the stored record ------------------------------------------------------------------
# A session is stored as its fields plus ``schema``, the record format's version. Reading
# upgrades older records step by step, then pydantic validates the whole tree (enums,
# tuples, nested dataclasses) against the dataclasses above: one definition, no
# hand-written parser. Add a field with a default, and old records still read; rename or
# reshape one, and add an upgrade step.
SCHEMA = 1
_SESSION: TypeAdapter[Session] = TypeAdapter(Session)


def _from_unversioned(d: dict[str, Any]) -> dict[str, Any]:
    """Records written before the format carried a version have the same fields."""
    return d


UPGRADES: tuple[Callable[[dict[str, Any]], dict[str, Any]], ...] = (_from_unversioned,)
assert len(UPGRADES) == SCHEMA  # step i reads schema i and writes schema i + 1


def to_json(session: Session) -> bytes:
    data: dict[str, Any] = _SESSION.dump_python(session, mode="json")
    data["auto_admit"] = sorted(data["auto_admit"])  # a set: stored in a stable order
    # Insertion order of participants is meaningful (who was added first pairs with the
    # therapist); dicts keep it through JSON and validation.
    return json.dumps({"schema": SCHEMA, **data}, separators=(",", ":")).encode()


class RecordError(ValueError):
    """A stored session record this version cannot read."""


def from_json(raw: bytes) -> Session:
    d: dict[str, Any] = json.loads(raw)
    schema = d.pop("schema", 0)
    if not isinstance(schema, int) or not 0 <= schema <= SCHEMA:
        raise RecordError(f"unknown session record schema {schema!r}")
    for upgrade in UPGRADES[schema:]:
        d = upgrade(d)
    return _SESSION.validate_python(d)

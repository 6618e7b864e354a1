"""Session state: small enums and frozen dataclasses, rebuilt (never mutated) on change.

A participant's breakout room is *derived* from the breakout assignment while
breakouts are open, so there is one source of truth for "who is where".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any


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


def to_json(session: Session) -> bytes:
    data = asdict(session)
    data["auto_admit"] = sorted(session.auto_admit)
    data["breakouts"]["assignment"] = dict(session.breakouts.assignment)
    # Insertion order is meaningful (who was added first pairs with the therapist).
    return json.dumps(data, separators=(",", ":")).encode()


def from_json(raw: bytes) -> Session:
    d: dict[str, Any] = json.loads(raw)
    participants = {
        pid: Participant(
            **{**p, "role": Role(p["role"]), "status": ParticipantStatus(p["status"]),
               "guardian_of": tuple(p["guardian_of"])}
        )
        for pid, p in d["participants"].items()
    }
    b = d["breakouts"]
    breakouts = Breakouts(
        phase=BreakoutPhase(b["phase"]),
        rooms=tuple(BreakoutRoom(**r) for r in b["rooms"]),
        assignment=dict(b["assignment"]),
        deadline=b["deadline"],
        closing_deadline=b["closing_deadline"],
        require_clinician=b["require_clinician"],
        next_room=b["next_room"],
    )
    return Session(
        id=d["id"], owner=d["owner"], title=d["title"], phase=SessionPhase(d["phase"]),
        participants=participants, breakouts=breakouts, locked=d["locked"],
        auto_admit=frozenset(Role(r) for r in d["auto_admit"]),
        screen_share_relatives=d["screen_share_relatives"], limits=Limits(**d["limits"]),
        created=d["created"], version=d["version"],
    )

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
    household: str | None = None  # opaque household id (groups: "each household alone")
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


class PlanLayout(StrEnum):
    """Who is where during a plan phase, by role."""

    TOGETHER = "together"
    EACH_CLIENT_WITH_CLINICIAN = "each_client_with_clinician"
    PARENTS_AND_CHILDREN = "parents_and_children"
    HOUSEHOLDS = "households"
    CUSTOM = "custom"


@dataclass(frozen=True)
class RoomRule:
    """A custom room: its name and the roles that go there (first matching rule wins)."""

    name: str
    roles: tuple[Role, ...]


@dataclass(frozen=True)
class PlanPhase:
    name: str
    minutes: int
    layout: PlanLayout = PlanLayout.TOGETHER
    rooms: tuple[RoomRule, ...] = ()


class PlanStatus(StrEnum):
    NONE = "none"  # no plan attached
    READY = "ready"  # attached, not started
    RUNNING = "running"  # a phase is current
    FINISHED = "finished"


@dataclass(frozen=True)
class PlanRun:
    """The session's plan and its current phase (``index`` -1 before the first)."""

    status: PlanStatus = PlanStatus.NONE
    plan_id: str = ""
    name: str = ""
    phases: tuple[PlanPhase, ...] = ()
    index: int = -1
    started_at: float | None = None
    #: the phase whose rooms form when the open rooms' closing countdown ends (moving
    #: from one split phase to another); None when nothing waits
    pending: int | None = None
    #: the clinician who moved the plan on (its rooms form in their name)
    pending_by: str = ""

    @property
    def current(self) -> PlanPhase | None:
        if self.status is PlanStatus.RUNNING and 0 <= self.index < len(self.phases):
            return self.phases[self.index]
        return None


@dataclass(frozen=True)
class Aside:
    """A clinician and one person in a private room, apart from every other room.
    ``announce``: the others are told who stepped out with whom."""

    clinician: str
    guest: str
    announce: bool = False
    started_at: float = 0.0

    @property
    def room_id(self) -> str:
        """Unique per private room, so no later one reads an earlier one's chat."""
        return f"{ASIDE_PREFIX}{self.clinician}-{int(self.started_at * 1000)}"


ASIDE_PREFIX = "aside-"


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
    plan: PlanRun = field(default_factory=PlanRun)
    asides: tuple[Aside, ...] = ()

    def participant(self, pid: str) -> Participant | None:
        return self.participants.get(pid)

    def aside_of(self, pid: str) -> Aside | None:
        """The private room ``pid`` is in, as its clinician or its guest."""
        return next((a for a in self.asides if pid in (a.clinician, a.guest)), None)

    def room_of(self, pid: str) -> str | None:
        """The room a present participant is in: a private room (``aside-<clinician>``),
        else the breakout (visiting counts), None for main."""
        p = self.participants.get(pid)
        if p is None:
            return None
        aside = self.aside_of(pid)
        if aside is not None:
            return aside.room_id
        if not self.breakouts.active:
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

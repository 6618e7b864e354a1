"""Events: what changed, for whom. Signaling resolves an audience to sockets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Scope(StrEnum):
    SESSION = "session"  # everyone connected to the session
    ROOM = "room"  # everyone present in one room (target: breakout id, or None = main)
    PARTICIPANT = "participant"  # one person (target: participant id)
    CLINICIANS = "clinicians"  # therapist and co-therapists only


@dataclass(frozen=True)
class Audience:
    scope: Scope
    target: str | None = None


EVERYONE = Audience(Scope.SESSION)
CLINICIANS = Audience(Scope.CLINICIANS)


def to(participant_id: str) -> Audience:
    return Audience(Scope.PARTICIPANT, participant_id)


class EventKind(StrEnum):
    """What happened. The values are the stable names clients and other nodes see."""

    STATE_CHANGED = "state_changed"
    KNOCK = "knock"
    ADMITTED = "admitted"
    DENIED = "denied"
    LOBBY_MESSAGE = "lobby_message"
    SENT_BACK = "sent_back"
    REMOVED = "removed"
    SESSION_ENDED = "session_ended"
    LINK_REVOKED = "link_revoked"
    MUTE_REQUESTED = "mute_requested"
    CAMERA_OFF_REQUESTED = "camera_off_requested"
    UNMUTE_REQUESTED = "unmute_requested"
    SETTINGS_CHANGED = "settings_changed"
    PARTICIPANT_MOVED = "participant_moved"
    BREAKOUTS_OPENED = "breakouts_opened"
    BROADCAST = "broadcast"
    HELP_REQUESTED = "help_requested"
    CLOSE_ALL_STARTED = "close_all_started"
    BREAKOUTS_CLOSED = "breakouts_closed"
    CHILD_RETURNED = "child_returned"
    VISIBILITY_CHANGED = "visibility_changed"
    PLAN_SET = "plan_set"
    PHASE_STARTED = "phase_started"
    PHASE_REFUSED = "phase_refused"
    ASIDE_STARTED = "aside_started"
    ASIDE_ENDED = "aside_ended"
    HOST_HANDED_OVER = "host_handed_over"


@dataclass(frozen=True)
class Event:
    """``version`` is the state version the event's change produced; ``actor`` is the
    verified id behind the command (``system`` for timers)."""

    kind: EventKind
    audience: Audience
    data: Mapping[str, Any] = field(default_factory=dict)
    session_id: str = ""
    version: int = 0
    actor: str = ""  # who issued the command (for the audit log)


K = EventKind
KINDS: dict[EventKind, str] = {
    K.STATE_CHANGED: "the session's state changed; clients get a fresh snapshot",
    K.KNOCK: "someone is waiting in the lobby (clinicians)",
    K.ADMITTED: "a person was let in",
    K.DENIED: "a waiting person was not let in",
    K.LOBBY_MESSAGE: "a clinician's one-to-one message to a waiting person",
    K.SENT_BACK: "a person was sent back to the lobby",
    K.REMOVED: "a person was removed from the session",
    K.SESSION_ENDED: "the session ended: revoke links, close sockets",
    K.LINK_REVOKED: "a person's link was revoked or re-issued: close sockets holding the old one",
    K.MUTE_REQUESTED: "a clinician muted this person's microphone",
    K.CAMERA_OFF_REQUESTED: "a clinician turned this person's camera off",
    K.UNMUTE_REQUESTED: "a clinician asks this person to unmute (they decide)",
    K.SETTINGS_CHANGED: "a clinician changed a session setting (lock, auto-admit, screen "
    "share; for the audit log)",
    K.PARTICIPANT_MOVED: "a clinician moved a person to another breakout room (for the audit log)",
    K.BREAKOUTS_OPENED: "everyone moved to their breakout room",
    K.BROADCAST: "a clinician's message to every room",
    K.HELP_REQUESTED: "someone in a breakout asked for a clinician",
    K.CLOSE_ALL_STARTED: "breakouts close after a countdown",
    K.BREAKOUTS_CLOSED: "everyone is back in the main room",
    K.CHILD_RETURNED: "a child was moved to the main room because no clinician or "
    "guardian remained with them",
    K.VISIBILITY_CHANGED: "who sees and hears whom changed; media must reconcile",
    K.PLAN_SET: "a clinician attached a session plan (for the audit log)",
    K.PHASE_STARTED: "the session plan moved to its next phase (clinicians; attendance "
    "and the audit log)",
    K.PHASE_REFUSED: "a plan phase's rooms could not form when the countdown before them "
    "ended; everyone stays together (clinicians)",
    K.ASIDE_STARTED: "a clinician took one person into a private room (clinicians)",
    K.ASIDE_ENDED: "a private room ended; both are back where they belong (clinicians)",
    K.HOST_HANDED_OVER: "the therapist handed the host role to a co-therapist (for the "
    "audit log)",
}
# Events that end someone's (or everyone's) presence: their sockets are closed.
ENDINGS = frozenset({K.DENIED, K.REMOVED, K.SESSION_ENDED})
